/**
 * Image <-> .psic bytes for any LicBackbone: pad to a multiple of 64, run the
 * backbone's compress, wrap the sections in the container (backbone name,
 * weight fingerprint, real image size); and back. The synthesis step takes an
 * optional hook so a conditional adapter can decode the same y-hat in
 * another mode.
 */
import * as tf from '@tensorflow/tfjs-core';
import { assertModel, PsicError, readContainer, writeContainer, type ContainerLimits } from '@psic/entropy';
import type { BlockHook, LicBackbone } from './backbone.js';
import type { RgbImage } from './image.js';
import { crop, padReplicate, paddedSize } from './padding.js';

/**
 * Largest image the codec takes by default, both ways: 16.7 megapixels.
 * The float transforms hold N channels at half resolution, so memory grows
 * ~N x 4 bytes / 4 per pixel per layer; a stream's header can't be allowed to
 * ask for more than the machine holds. Callers with room can pass more.
 */
export const DEFAULT_CODEC_LIMITS = { maxDimension: 1 << 15, maxPixels: 1 << 24 } as const;

export interface CodecModel {
  backbone: LicBackbone;
  /** 8-byte fingerprint of the weights, written into and checked against every stream */
  fingerprint: Uint8Array;
  /**
   * Where the float transforms run when not on tfjs (e.g. onnxruntime, from
   * @psic/onnx). The entropy path is the backbone's either way, so a stream
   * made with one runtime decodes to the same y-hat with the other.
   */
  runtime?: TransformRuntime;
}

/** Float transforms served by another runtime; the codec keeps the backbone's integer entropy path. */
export interface TransformRuntime {
  /**
   * A stand-in for the backbone whose `compress(x)` (the backbone's own
   * entropy coding) takes its float transforms from the runtime, computed for
   * this padded image `x` (whose values `data` holds, NHWC, when given: saves
   * reading them back from the tensor).
   */
  encoder(x: tf.Tensor4D, data?: Float32Array): Promise<LicBackbone>;
  /** g_s on y-hat (hook after each block, as `LicBackbone.synthesis`): the unclipped padded image, NHWC, batch 1. */
  synthesize(yHat: tf.Tensor4D, hook?: BlockHook): Promise<{ data: Float32Array; height: number; width: number }>;
}

export async function encodeImage(model: CodecModel, img: RgbImage, limits: ContainerLimits = DEFAULT_CODEC_LIMITS): Promise<Uint8Array> {
  const { maxDimension = DEFAULT_CODEC_LIMITS.maxDimension, maxPixels = DEFAULT_CODEC_LIMITS.maxPixels } = limits;
  if (img.height > maxDimension || img.width > maxDimension || img.height * img.width > maxPixels) {
    throw new PsicError('IMAGE_TOO_LARGE', `image is ${img.width}x${img.height}; the codec takes at most ${maxDimension} per side and ${maxPixels} pixels`);
  }
  const ph = paddedSize(img.height);
  const pw = paddedSize(img.width);
  const padded = padReplicate(img.data, img.height, img.width, 3, ph, pw);
  const x = tf.tensor4d(padded, [1, ph, pw, 3]);
  try {
    const coder = model.runtime ? await model.runtime.encoder(x, padded) : model.backbone;
    const sections = await coder.compress(x);
    return writeContainer({
      backbone: model.backbone.name,
      fingerprint: model.fingerprint,
      height: img.height,
      width: img.width,
      sections,
    });
  } finally {
    x.dispose();
  }
}

/** Read and validate a .psic stream and return y-hat for its padded size (one image). */
export async function decodeLatent(model: CodecModel, bytes: Uint8Array, limits: ContainerLimits = DEFAULT_CODEC_LIMITS): Promise<{ yHat: tf.Tensor4D; height: number; width: number }> {
  const c = readContainer(bytes, limits);
  assertModel(c, model.backbone.name, model.fingerprint);
  const yHat = await model.backbone.decompress(c.sections, { height: paddedSize(c.height), width: paddedSize(c.width) });
  return { yHat, height: c.height, width: c.width };
}

/** y-hat -> image cropped back to the original size, clamped to [0, 1]. */
export function synthesizeImage(model: CodecModel, yHat: tf.Tensor4D, height: number, width: number, hook?: BlockHook): RgbImage {
  const xHat = tf.tidy(() => tf.clipByValue(model.backbone.synthesis(yHat, hook), 0, 1));
  const [, ph, pw] = xHat.shape;
  if (ph < height || pw < width) {
    xHat.dispose();
    throw new Error(`synthesis gave ${ph}x${pw}, smaller than the ${height}x${width} image`);
  }
  const data = crop(xHat.dataSync() as Float32Array, pw, 3, height, width);
  xHat.dispose();
  return { height, width, data };
}

/** As `synthesizeImage`, on the model's runtime when it has one (else tfjs). */
export async function synthesizeImageAsync(model: CodecModel, yHat: tf.Tensor4D, height: number, width: number, hook?: BlockHook): Promise<RgbImage> {
  if (!model.runtime) return synthesizeImage(model, yHat, height, width, hook);
  const out = await model.runtime.synthesize(yHat, hook);
  if (out.height < height || out.width < width) throw new Error(`synthesis gave ${out.height}x${out.width}, smaller than the ${height}x${width} image`);
  const data = crop(out.data, out.width, 3, height, width);
  for (let i = 0; i < data.length; i++) data[i] = Math.min(1, Math.max(0, data[i])); // as tf.clipByValue (NaN stays NaN)
  return { height, width, data };
}

export async function decodeImage(model: CodecModel, bytes: Uint8Array, opts: { hook?: BlockHook; limits?: ContainerLimits } = {}): Promise<RgbImage> {
  const { yHat, height, width } = await decodeLatent(model, bytes, opts.limits);
  try {
    return await synthesizeImageAsync(model, yHat, height, width, opts.hook);
  } finally {
    yHat.dispose();
  }
}
