/**
 * Weight layouts: our variables are stored the way tfjs computes with them
 * (NHWC activations), weight files the way PyTorch / CompressAI store them,
 * so a CompressAI state dict loads 1:1 and our files load in PyTorch.
 *
 * | module          | PyTorch (files)       | tfjs (variables)                       |
 * | --------------- | --------------------- | -------------------------------------- |
 * | Conv2d          | [out, in, kh, kw]     | [kh, kw, in, out]  (tf.conv2d filter)  |
 * | ConvTranspose2d | [in, out, kh, kw]     | [kh, kw, out, in]  (tf.conv2dTranspose)|
 * | everything else | same                  | same                                   |
 *
 * Both conversions are the same axis permutation (a, b, kh, kw) -> (kh, kw, b, a);
 * no kernel flip is needed because tf.conv2dTranspose flips like PyTorch does.
 * A variable carries its layout in a WeakMap tag set by the layer that made it,
 * so any object exposing `namedVariables()` can be saved and loaded.
 */
import type { Variable } from '@tensorflow/tfjs-core';

export type TorchLayout = 'same' | 'conv2d' | 'convTranspose2d';

export interface PlainTensor {
  data: Float32Array;
  shape: number[];
}

const layouts = new WeakMap<Variable, TorchLayout>();

/** Record how `variable` maps to PyTorch's layout (layers call this for their weights). */
export function tagTorchLayout(variable: Variable, layout: TorchLayout): Variable {
  layouts.set(variable, layout);
  return variable;
}

export function torchLayoutOf(variable: Variable): TorchLayout {
  return layouts.get(variable) ?? 'same';
}

const TORCH_TO_TF = [2, 3, 1, 0];
const TF_TO_TORCH = [3, 2, 0, 1];

/** PyTorch Conv2d weight [out, in, kh, kw] -> tf.conv2d filter [kh, kw, in, out]. */
export function convWeightFromTorch(w: PlainTensor): PlainTensor {
  return permute(check4d(w, 'conv weight'), TORCH_TO_TF);
}

/** tf.conv2d filter [kh, kw, in, out] -> PyTorch Conv2d weight [out, in, kh, kw]. */
export function convWeightToTorch(w: PlainTensor): PlainTensor {
  return permute(check4d(w, 'conv weight'), TF_TO_TORCH);
}

/** PyTorch ConvTranspose2d weight [in, out, kh, kw] -> tf.conv2dTranspose filter [kh, kw, out, in]. */
export function convTransposeWeightFromTorch(w: PlainTensor): PlainTensor {
  return permute(check4d(w, 'conv-transpose weight'), TORCH_TO_TF);
}

/** tf.conv2dTranspose filter [kh, kw, out, in] -> PyTorch ConvTranspose2d weight [in, out, kh, kw]. */
export function convTransposeWeightToTorch(w: PlainTensor): PlainTensor {
  return permute(check4d(w, 'conv-transpose weight'), TF_TO_TORCH);
}

/** Convert a tensor in `layout` from PyTorch order to tfjs order. */
export function fromTorchLayout(w: PlainTensor, layout: TorchLayout): PlainTensor {
  if (layout === 'conv2d') return convWeightFromTorch(w);
  if (layout === 'convTranspose2d') return convTransposeWeightFromTorch(w);
  return w;
}

/** Convert a tensor in `layout` from tfjs order to PyTorch order. */
export function toTorchLayout(w: PlainTensor, layout: TorchLayout): PlainTensor {
  if (layout === 'conv2d') return convWeightToTorch(w);
  if (layout === 'convTranspose2d') return convTransposeWeightToTorch(w);
  return w;
}

/** The PyTorch shape of a tfjs-layout shape. */
export function torchShapeOf(tfShape: readonly number[], layout: TorchLayout): number[] {
  if (layout === 'same') return [...tfShape];
  return TF_TO_TORCH.map((axis) => tfShape[axis]);
}

/** Row-major transpose: out axis i is input axis perm[i]. */
export function permute(w: PlainTensor, perm: readonly number[]): PlainTensor {
  const rank = w.shape.length;
  if (perm.length !== rank) throw new RangeError(`permutation of rank ${perm.length} for a tensor of rank ${rank}`);
  const inStrides = stridesOf(w.shape);
  const outShape = perm.map((axis) => w.shape[axis]);
  const stepIn = perm.map((axis) => inStrides[axis]); // input stride of each output axis
  const out = new Float32Array(w.data.length);
  const index = new Array<number>(rank).fill(0);
  let src = 0;
  for (let o = 0; o < out.length; o++) {
    out[o] = w.data[src];
    // Odometer over the output axes, moving `src` along the matching input strides.
    for (let axis = rank - 1; axis >= 0; axis--) {
      index[axis]++;
      src += stepIn[axis];
      if (index[axis] < outShape[axis]) break;
      src -= stepIn[axis] * outShape[axis];
      index[axis] = 0;
    }
  }
  return { data: out, shape: outShape };
}

function stridesOf(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = s;
    s *= shape[i];
  }
  return strides;
}

function check4d(w: PlainTensor, what: string): PlainTensor {
  if (w.shape.length !== 4) throw new RangeError(`${what} must be 4-D, got shape [${w.shape}]`);
  const n = w.shape.reduce((a, b) => a * b, 1);
  if (n !== w.data.length) throw new RangeError(`${what} of shape [${w.shape}] needs ${n} values, got ${w.data.length}`);
  return w;
}
