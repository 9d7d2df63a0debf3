/**
 * One image, several decodes: the uncompressed original, a codec's plain
 * decode, each mode of a conditional model (PSIC protected / full, UG-ICM
 * human / machine) and post-processed copies of them (JPEG re-encoding, a
 * resize). Decode variants that share a codec share ONE bitstream: the image
 * is encoded once per codec and every variant decodes those bytes, so their
 * bpp is the same real file size (header included).
 *
 * Every decoded picture is rounded to 8 bits first, as the PNG a user would
 * save holds it; PSNR is measured on that.
 */
import sharp from 'sharp';
import { encodeImage, floatToBytes, bytesToFloat, decodeImage, type CodecModel, type RgbImage } from '@psic/core';
import { decodeWithCondition, type ConditionalSynthesis, type Condition } from '@psic/cltg';
import { PsicError } from '@psic/entropy';
import { bitsPerPixel } from './bpp.js';
import { as8bit } from './codec-eval.js';
import { psnr } from './psnr.js';

/** Post-processing applied to a decode before a model sees it (robustness checks). */
export interface ImageTransform {
  /** appended to the variant's name: `protected+jpeg85` */
  name: string;
  apply(img: RgbImage): Promise<RgbImage>;
  /** the original under the same geometry, for PSNR (a resize changes the size; a JPEG does not) */
  reference(original: RgbImage): Promise<RgbImage>;
}

export type Variant =
  | { kind: 'original'; name: string }
  /** `decode` defaults to the codec's own synthesis; variants with the same `codec` object share one encode */
  | { kind: 'decode'; name: string; codec: CodecModel; decode?: (bytes: Uint8Array) => Promise<RgbImage> }
  /** `transform` applied to the variant named `source` (listed before it) */
  | { kind: 'transform'; name: string; source: string; transform: ImageTransform };

export interface Decoded {
  variant: string;
  /** 8-bit-rounded picture, [0, 1] */
  image: RgbImage;
  /** size of the bitstream this picture was decoded from */
  bytes?: number;
  bpp?: number;
  /** vs the original (under the transform's geometry); absent for the original itself */
  psnr?: number;
}

function rgb8(img: RgbImage) {
  return sharp(floatToBytes(img.data), { raw: { width: img.width, height: img.height, channels: 3 } });
}

async function fromSharp(s: sharp.Sharp): Promise<RgbImage> {
  const { data, info } = await s.removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { height: info.height, width: info.width, data: bytesToFloat(new Uint8Array(data.buffer, data.byteOffset, data.byteLength)) };
}

/** Re-encode as baseline JPEG at `quality` (sharp / libjpeg-turbo defaults: 4:2:0 chroma) and decode again. */
export function jpegTransform(quality: number): ImageTransform {
  if (!Number.isInteger(quality) || quality < 1 || quality > 100) throw new PsicError('USAGE', `JPEG quality must be an integer in 1..100 (got ${quality})`);
  return {
    name: `jpeg${quality}`,
    apply: async (img) => fromSharp(sharp(await rgb8(img).jpeg({ quality }).toBuffer())),
    reference: async (img) => img,
  };
}

/** Resize by `factor` (each side rounded, at least 1 px) with sharp's default Lanczos-3 kernel. */
export function resizeTransform(factor: number): ImageTransform {
  if (!(factor > 0 && factor <= 4)) throw new PsicError('USAGE', `resize factor must be in (0, 4] (got ${factor})`);
  const resize = (img: RgbImage) =>
    fromSharp(rgb8(img).resize(Math.max(1, Math.round(img.width * factor)), Math.max(1, Math.round(img.height * factor)), { fit: 'fill' }));
  return { name: `x${factor}`, apply: resize, reference: resize };
}

/**
 * Decode variants for each mode of a conditional model: `modes` maps a
 * variant name to a condition. β is derived once per mode here (a keyed
 * mode's scrypt costs ~0.2 s), not once per image.
 */
export function conditionalVariants(codec: CodecModel, adapter: ConditionalSynthesis, modes: { name: string; condition: Condition }[]): Variant[] {
  return modes.map(({ name, condition }) => {
    const beta = adapter.conditionVector(condition);
    return { kind: 'decode', name, codec, decode: (bytes: Uint8Array) => decodeWithCondition(codec, adapter, bytes, beta) };
  });
}

/** Check names are unique and every transform's source comes before it. */
export function checkVariants(variants: Variant[]): void {
  const seen = new Set<string>();
  for (const v of variants) {
    if (seen.has(v.name)) throw new Error(`variant "${v.name}" is listed twice`);
    if (v.kind === 'transform' && !seen.has(v.source)) throw new Error(`variant "${v.name}" transforms "${v.source}", which is not listed before it`);
    seen.add(v.name);
  }
}

/** Every variant of one original picture, in the order given. */
export async function decodeVariants(original: RgbImage, variants: Variant[]): Promise<Map<string, Decoded>> {
  const orig8 = as8bit(original);
  const streams = new Map<CodecModel, Uint8Array>();
  const out = new Map<string, Decoded>();
  for (const v of variants) {
    if (v.kind === 'original') {
      out.set(v.name, { variant: v.name, image: orig8 });
    } else if (v.kind === 'decode') {
      let bytes = streams.get(v.codec);
      if (!bytes) {
        bytes = await encodeImage(v.codec, original);
        streams.set(v.codec, bytes);
      }
      const image = as8bit(v.decode ? await v.decode(bytes) : await decodeImage(v.codec, bytes));
      out.set(v.name, { variant: v.name, image, bytes: bytes.length, bpp: bitsPerPixel(bytes.length, original.height, original.width), psnr: psnr(orig8.data, image.data) });
    } else {
      const source = out.get(v.source);
      if (!source) throw new Error(`variant "${v.name}" transforms "${v.source}", which is not listed before it`);
      const image = as8bit(await v.transform.apply(source.image));
      const reference = as8bit(await v.transform.reference(orig8));
      out.set(v.name, { variant: v.name, image, bytes: source.bytes, bpp: source.bpp, psnr: psnr(reference.data, image.data) });
    }
  }
  return out;
}

export interface VariantFigures {
  variant: string;
  images: number;
  /** mean over images; absent for the uncompressed original */
  bpp?: number;
  psnr?: number;
}

/** Running means of bpp and PSNR per variant (each only when the variant has it). */
export class FigureTotals {
  private readonly sums = new Map<string, { n: number; bpp: number; psnr: number; coded: boolean; measured: boolean }>();

  add(decoded: Map<string, Decoded>): void {
    for (const d of decoded.values()) {
      const s = this.sums.get(d.variant) ?? { n: 0, bpp: 0, psnr: 0, coded: d.bpp !== undefined, measured: d.psnr !== undefined };
      s.n++;
      s.bpp += d.bpp ?? 0;
      s.psnr += d.psnr ?? 0;
      this.sums.set(d.variant, s);
    }
  }

  figures(): VariantFigures[] {
    return [...this.sums].map(([variant, s]) => ({
      variant,
      images: s.n,
      ...(s.coded ? { bpp: s.bpp / s.n } : {}),
      ...(s.measured ? { psnr: s.psnr / s.n } : {}),
    }));
  }
}

/**
 * Decode every sample of a set under every variant and hand each sample's
 * decodes to `visit` (pictures are dropped afterwards, so memory stays at one
 * image's worth). Returns the mean bpp / PSNR per variant.
 */
export async function forEachDecoded(
  samples: { name: string; load(): Promise<RgbImage> }[],
  variants: Variant[],
  visit: (index: number, decoded: Map<string, Decoded>, original: RgbImage) => Promise<void> | void,
  onProgress?: (done: number, total: number, name: string) => void,
): Promise<VariantFigures[]> {
  checkVariants(variants);
  const totals = new FigureTotals();
  for (const [i, sample] of samples.entries()) {
    const original = await sample.load();
    const decoded = await decodeVariants(original, variants);
    totals.add(decoded);
    await visit(i, decoded, original);
    onProgress?.(i + 1, samples.length, sample.name);
  }
  return totals.figures();
}
