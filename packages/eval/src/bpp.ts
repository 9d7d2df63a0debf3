/** Bits per pixel of a coded file: its real size in bytes (header included) x 8 over the pixel count. */
export function bitsPerPixel(fileBytes: number, height: number, width: number): number {
  return (fileBytes * 8) / (height * width);
}
