/**
 * The two @vladmandic/face-api networks used here, written against their
 * weight files (`model/*-weights_manifest.json`, which hold weights but no
 * topology). The layer structure follows face-api's source
 * (src/xception/TinyXception.ts, src/faceFeatureExtractor/denseBlock.ts):
 * - age/gender: a tiny Xception (entry flow, 2 main blocks, exit flow) ->
 *   7x7 average pool -> fc/age (years) and fc/gender (2 logits: male, female);
 * - expression: four dense blocks of separable convs -> 7x7 average pool ->
 *   fc (7 logits, face-api's expression order).
 * Both take 112x112 RGB normalised as (x - mean RGB) / 255 with x in 0..255.
 * Written with plain tfjs ops (not face-api's runtime) so batches and input
 * gradients work on any backend; checked against face-api's own outputs in
 * test/npm-face-api.test.ts.
 */
import * as tf from '@tensorflow/tfjs-core';
import { PsicError } from '@psic/entropy';

export const FACE_API_INPUT_SIZE = 112;
/** face-api's ImageNet-style mean, in 0..1 units. */
const MEAN_RGB = [122.782 / 255, 117.001 / 255, 104.298 / 255];

type WeightMap = tf.NamedTensorMap;

/** The weight `name` from a map, checked for shape; PsicError 'BAD_MODEL_FILE' when missing or misshapen. */
function weight(map: WeightMap, name: string, rank: number): tf.Tensor {
  const t = map[name];
  if (!t) throw new PsicError('BAD_MODEL_FILE', `face-api weights lack "${name}"`);
  if (t.rank !== rank) throw new PsicError('BAD_MODEL_FILE', `face-api weight "${name}" has shape [${t.shape.join(', ')}], expected rank ${rank}`);
  return t;
}

interface Conv { filters: tf.Tensor4D; bias: tf.Tensor1D }
interface SeparableConv { depthwise: tf.Tensor4D; pointwise: tf.Tensor4D; bias: tf.Tensor1D }
interface Dense { weights: tf.Tensor2D; bias: tf.Tensor1D }

const conv = (m: WeightMap, p: string): Conv => ({ filters: weight(m, `${p}/filters`, 4) as tf.Tensor4D, bias: weight(m, `${p}/bias`, 1) as tf.Tensor1D });
const separable = (m: WeightMap, p: string): SeparableConv => ({
  depthwise: weight(m, `${p}/depthwise_filter`, 4) as tf.Tensor4D,
  pointwise: weight(m, `${p}/pointwise_filter`, 4) as tf.Tensor4D,
  bias: weight(m, `${p}/bias`, 1) as tf.Tensor1D,
});
const dense = (m: WeightMap, p: string): Dense => ({ weights: weight(m, `${p}/weights`, 2) as tf.Tensor2D, bias: weight(m, `${p}/bias`, 1) as tf.Tensor1D });

function applyConv(x: tf.Tensor4D, c: Conv, stride: 1 | 2): tf.Tensor4D {
  return tf.add(tf.conv2d(x, c.filters, stride, 'same'), c.bias);
}

/** Depthwise 3x3 then pointwise 1x1, plus bias (tf.separableConv2d, as face-api). */
function applySeparable(x: tf.Tensor4D, c: SeparableConv, stride: 1 | 2): tf.Tensor4D {
  return tf.add(tf.separableConv2d(x, c.depthwise, c.pointwise, stride, 'same'), c.bias);
}

function applyDense(x: tf.Tensor2D, d: Dense): tf.Tensor2D {
  return tf.add(tf.matMul(x, d.weights), d.bias);
}

/** 0..1 RGB faces (already 112x112) -> face-api's normalised input. */
function normalise(faces: tf.Tensor4D): tf.Tensor4D {
  return tf.sub(faces, MEAN_RGB);
}

/** 7x7 average pool of the last 7x7 map, flattened: [b, channels]. */
function pool7(x: tf.Tensor4D): tf.Tensor2D {
  const pooled = tf.avgPool(x, [7, 7], [2, 2], 'valid');
  return tf.reshape(pooled, [x.shape[0], -1]) as tf.Tensor2D;
}

interface ReductionBlock { sc0: SeparableConv; sc1: SeparableConv; expansion: Conv }

/** face-api's AgeGenderNet on its TinyXception(2) feature extractor. */
export class FaceApiAgeGenderNet {
  private readonly entry: { conv: Conv; r0: ReductionBlock; r1: ReductionBlock };
  private readonly middle: SeparableConv[][];
  private readonly exit: { r: ReductionBlock; sc: SeparableConv };
  private readonly age: Dense;
  private readonly gender: Dense;

  /** Takes ownership of the weights in `map`. */
  constructor(private readonly map: WeightMap) {
    const reduction = (p: string): ReductionBlock => ({ sc0: separable(map, `${p}/separable_conv0`), sc1: separable(map, `${p}/separable_conv1`), expansion: conv(map, `${p}/expansion_conv`) });
    this.entry = { conv: conv(map, 'entry_flow/conv_in'), r0: reduction('entry_flow/reduction_block_0'), r1: reduction('entry_flow/reduction_block_1') };
    this.middle = [0, 1].map((b) => [0, 1, 2].map((s) => separable(map, `middle_flow/main_block_${b}/separable_conv${s}`)));
    this.exit = { r: reduction('exit_flow/reduction_block'), sc: separable(map, 'exit_flow/separable_conv') };
    this.age = dense(map, 'fc/age');
    this.gender = dense(map, 'fc/gender');
  }

  private reduction(x: tf.Tensor4D, b: ReductionBlock, activateInput: boolean): tf.Tensor4D {
    let out = activateInput ? tf.relu(x) : x;
    out = applySeparable(out, b.sc0, 1);
    out = applySeparable(tf.relu(out), b.sc1, 1);
    out = tf.maxPool(out, [3, 3], [2, 2], 'same');
    return tf.add(out, applyConv(x, b.expansion, 2));
  }

  /** 112x112 RGB faces in [0, 1] -> age in years [b] and gender logits [b, 2] (male, female). */
  forward(faces: tf.Tensor4D): { age: tf.Tensor1D; genderLogits: tf.Tensor2D } {
    return tf.tidy(() => {
      let out = tf.relu(applyConv(normalise(faces), this.entry.conv, 2));
      out = this.reduction(out, this.entry.r0, false);
      out = this.reduction(out, this.entry.r1, true);
      for (const block of this.middle) {
        let y = out;
        for (const sc of block) y = applySeparable(tf.relu(y), sc, 1);
        out = tf.add(y, out);
      }
      out = this.reduction(out, this.exit.r, true);
      out = tf.relu(applySeparable(out, this.exit.sc, 1));
      const pooled = pool7(out);
      return { age: tf.reshape(applyDense(pooled, this.age), [-1]) as tf.Tensor1D, genderLogits: applyDense(pooled, this.gender) };
    });
  }

  dispose(): void {
    tf.dispose(Object.values(this.map));
  }
}

interface DenseBlock { conv0: Conv | SeparableConv; convs: SeparableConv[] }

/** face-api's FaceExpressionNet on its FaceFeatureExtractor. */
export class FaceApiExpressionNet {
  private readonly blocks: DenseBlock[];
  private readonly fc: Dense;

  /** Takes ownership of the weights in `map`. */
  constructor(private readonly map: WeightMap) {
    this.blocks = [0, 1, 2, 3].map((b) => ({
      conv0: b === 0 ? conv(map, 'dense0/conv0') : separable(map, `dense${b}/conv0`),
      convs: [1, 2, 3].map((c) => separable(map, `dense${b}/conv${c}`)),
    }));
    this.fc = dense(map, 'fc');
  }

  /** Dense block of 4: every conv sees the ReLU of the sum of all earlier outputs. */
  private denseBlock(x: tf.Tensor4D, b: DenseBlock): tf.Tensor4D {
    const first = 'filters' in b.conv0 ? applyConv(x, b.conv0, 2) : applySeparable(x, b.conv0, 2);
    const outs: tf.Tensor4D[] = [tf.relu(first)];
    let sum: tf.Tensor4D = outs[0];
    for (const sc of b.convs) {
      const input = outs.length === 1 ? outs[0] : tf.relu(sum);
      const y = applySeparable(input, sc, 1);
      outs.push(y);
      sum = tf.add(sum, y);
    }
    return tf.relu(sum);
  }

  /** 112x112 RGB faces in [0, 1] -> [b, 7] expression logits in face-api's order. */
  forward(faces: tf.Tensor4D): tf.Tensor2D {
    return tf.tidy(() => {
      let out = normalise(faces);
      for (const b of this.blocks) out = this.denseBlock(out, b);
      return applyDense(pool7(out), this.fc);
    });
  }

  dispose(): void {
    tf.dispose(Object.values(this.map));
  }
}
