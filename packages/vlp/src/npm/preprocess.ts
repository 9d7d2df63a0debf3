/**
 * Differentiable image preparation shared by the npm-model targets: check
 * the input, cut a box out of it, resize it to a model's input size. Only
 * ops with registered gradients are used (slice, resizeBilinear), so the
 * gradient reaches the caller's pixels.
 */
import * as tf from '@tensorflow/tfjs-core';
import { PsicError } from '@psic/entropy';

/** A box as fractions of the image: 0..1 from the top-left corner. */
export interface Box {
  top: number;
  left: number;
  height: number;
  width: number;
}

/**
 * The face in an aligned CelebA image (`img_align_celeba`, 178x218): the
 * 128x128 square at x 25, y 55. The face models here expect a tight face
 * crop like this one.
 */
export const CELEBA_ALIGNED_FACE_BOX: Readonly<Box> = Object.freeze({ left: 25 / 178, top: 55 / 218, width: 128 / 178, height: 128 / 218 });

/** PsicError 'BAD_INPUT' unless `x` is a non-empty NHWC batch of RGB images. */
export function checkImages(x: tf.Tensor, who: string): asserts x is tf.Tensor4D {
  if (x.rank !== 4 || x.shape[3] !== 3 || x.shape.some((d) => d === 0)) {
    throw new PsicError('BAD_INPUT', `${who}: expected NHWC RGB images [batch, height, width, 3], got [${x.shape.join(', ')}]`);
  }
}

/** PsicError 'BAD_OPTION' unless `box` lies inside the unit square and is not empty. */
export function checkBox(box: Box, who: string): void {
  const { top, left, height, width } = box;
  const ok = [top, left, height, width].every(Number.isFinite) && top >= 0 && left >= 0 && height > 0 && width > 0 && top + height <= 1 + 1e-9 && left + width <= 1 + 1e-9;
  if (!ok) throw new PsicError('BAD_OPTION', `${who}: box ${JSON.stringify(box)} must lie inside [0, 1] x [0, 1] and not be empty`);
}

/** The pixels of `box` (whole pixels, at least one) from every image of the batch. */
export function cropBox(x: tf.Tensor4D, box: Box): tf.Tensor4D {
  const [, h, w] = x.shape;
  const top = Math.min(h - 1, Math.round(box.top * h));
  const left = Math.min(w - 1, Math.round(box.left * w));
  const height = Math.max(1, Math.min(h - top, Math.round(box.height * h)));
  const width = Math.max(1, Math.min(w - left, Math.round(box.width * w)));
  if (top === 0 && left === 0 && height === h && width === w) return x;
  return tf.slice(x, [0, top, left, 0], [-1, height, width, -1]);
}

/** The largest centred square of every image (ImageNet-style centre crop before resizing). */
export function centreSquare(x: tf.Tensor4D): tf.Tensor4D {
  const [, h, w] = x.shape;
  const side = Math.min(h, w);
  if (h === w) return x;
  return tf.slice(x, [0, Math.floor((h - side) / 2), Math.floor((w - side) / 2), 0], [-1, side, side, -1]);
}

/** Bilinear resize to size x size (half-pixel centres off, as the packages' own preprocessing). */
export function resizeSquare(x: tf.Tensor4D, size: number): tf.Tensor4D {
  if (x.shape[1] === size && x.shape[2] === size) return x;
  return tf.image.resizeBilinear(x, [size, size], false);
}
