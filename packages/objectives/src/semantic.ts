/**
 * UG-ICM's semantic supervision (AAAI 2025): the machine decode should embed
 * like the original under a vision-language model, globally and region by
 * region. The reference takes regions from a segmentation model; here any
 * list of boxes works, and `gridBoxes` gives a multi-scale grid that needs
 * no task model at all (a detector's boxes can be passed instead).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { SemanticTarget } from '@psic/core';
import { cosineRows } from './similarity.js';

/** A region in pixels of the (padded) image batch. */
export interface CropBox {
  top: number;
  left: number;
  height: number;
  width: number;
}

/** 1 − cos(target(x), target(x̂_machine)), mean over the batch. */
export function semanticGlobal(targetEmbOrig: tf.Tensor2D, targetEmbMachine: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => tf.mean(tf.sub(1, cosineRows(targetEmbOrig, targetEmbMachine))) as tf.Scalar);
}

/**
 * A multi-scale grid: for each level L the image is cut into L×L equal cells
 * (level 1 = the whole image). Default levels 2 and 3: 4 + 9 = 13 regions.
 * Cells are at least `minSide` pixels (levels that would be smaller are skipped).
 */
export function gridBoxes(height: number, width: number, opts: { levels?: number[]; minSide?: number } = {}): CropBox[] {
  const levels = opts.levels ?? [2, 3];
  const minSide = opts.minSide ?? 8;
  const boxes: CropBox[] = [];
  for (const level of levels) {
    if (!Number.isInteger(level) || level < 1) throw new RangeError(`grid level must be a positive integer, got ${level}`);
    const h = Math.floor(height / level);
    const w = Math.floor(width / level);
    if (h < minSide || w < minSide) continue;
    for (let r = 0; r < level; r++) for (let c = 0; c < level; c++) boxes.push({ top: r * h, left: c * w, height: h, width: w });
  }
  return boxes;
}

/**
 * Each box of each image, resized to size×size (bilinear, differentiable):
 * [boxes × batch, size, size, C], box-major (all images' box 0 first).
 */
export function cropAndResize(x: tf.Tensor4D, boxes: CropBox[], size: number): tf.Tensor4D {
  const [, h, w] = x.shape;
  for (const b of boxes) {
    if (!(b.top >= 0 && b.left >= 0 && b.height >= 1 && b.width >= 1 && b.top + b.height <= h && b.left + b.width <= w)) {
      throw new RangeError(`box ${JSON.stringify(b)} is outside the ${h}x${w} image`);
    }
  }
  return tf.tidy(() =>
    tf.concat(
      boxes.map((b) => tf.image.resizeBilinear(tf.slice(x, [0, b.top, b.left, 0], [-1, b.height, b.width, -1]) as tf.Tensor4D, [size, size])),
      0,
    ),
  );
}

export interface SemanticInstancesOptions {
  /** side the crops are resized to; default the target's `inputSize` when it has one, else 224 */
  size?: number;
}

/**
 * Instance-wise term: every box is cropped from the original and from the
 * machine decode, resized to the target's input, embedded, and the mean of
 * 1 − cos over boxes and images is returned.
 */
export function semanticInstances(target: SemanticTarget, x: tf.Tensor4D, xHat: tf.Tensor4D, boxes: CropBox[], opts: SemanticInstancesOptions = {}): tf.Scalar {
  if (boxes.length === 0) throw new RangeError('semanticInstances needs at least one box');
  const size = opts.size ?? (target as { inputSize?: number }).inputSize ?? 224;
  return tf.tidy(() => {
    const original = target.embedImages(cropAndResize(x, boxes, size));
    const decoded = target.embedImages(cropAndResize(xHat, boxes, size));
    return semanticGlobal(original, decoded);
  });
}
