/**
 * Learned codecs downsample by 2^6, so images are padded to a multiple of 64.
 * We replicate the last row/column (bottom/right) rather than pad with zeros:
 * a flat continuation costs almost no bits, a black border does.
 */
export const DOWNSAMPLING = 64;

export function paddedSize(n: number, multiple = DOWNSAMPLING): number {
  return Math.ceil(n / multiple) * multiple;
}

/** Pad an interleaved HWC image to (ph, pw) by edge replication at the bottom and right. */
export function padReplicate(data: Float32Array, h: number, w: number, c: number, ph: number, pw: number): Float32Array {
  if (ph === h && pw === w) return data;
  const out = new Float32Array(ph * pw * c);
  for (let y = 0; y < ph; y++) {
    const sy = Math.min(y, h - 1);
    for (let x = 0; x < pw; x++) {
      const sx = Math.min(x, w - 1);
      const s = (sy * w + sx) * c;
      const o = (y * pw + x) * c;
      for (let k = 0; k < c; k++) out[o + k] = data[s + k];
    }
  }
  return out;
}

/** Keep the top-left h x w of an interleaved HWC image of width pw. */
export function crop(data: Float32Array | Uint8Array, pw: number, c: number, h: number, w: number): Float32Array {
  const out = new Float32Array(h * w * c);
  for (let y = 0; y < h; y++) out.set(data.subarray(y * pw * c, y * pw * c + w * c), y * w * c);
  return out;
}
