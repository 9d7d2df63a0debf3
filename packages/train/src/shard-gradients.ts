/**
 * The rate-distortion gradient of one (part of a) batch, keyed by the model's
 * own variable names: what a data-parallel worker computes and sends back.
 */
import * as tf from '@tensorflow/tfjs-core';
import { rateDistortion } from '@psic/objectives';
import type { TrainableCodec } from './trainer.js';

export interface ShardFigures {
  loss: number;
  bpp: number;
  mse: number;
}

export function shardGradients(model: TrainableCodec, x: tf.Tensor4D, lambda: number, named: Record<string, tf.Variable>): { grads: Record<string, tf.Tensor>; figures: ShardFigures } {
  let bpp: tf.Scalar | undefined;
  let mse: tf.Scalar | undefined;
  const { value, grads } = tf.variableGrads(() => {
    const out = model.forward(x, { training: true });
    const rd = rateDistortion(x, out.xHat, out.likelihoods, lambda);
    bpp = tf.keep(rd.bpp);
    mse = tf.keep(rd.mse);
    return rd.loss;
  }, Object.values(named));
  const byName: Record<string, tf.Tensor> = {};
  // a variable the loss does not reach has no entry (Adam then leaves it alone)
  for (const [name, v] of Object.entries(named)) if (grads[v.name]) byName[name] = grads[v.name]!;
  const figures = { loss: value.dataSync()[0]!, bpp: bpp!.dataSync()[0]!, mse: mse!.dataSync()[0]! };
  tf.dispose([value, bpp!, mse!]);
  return { grads: byName, figures };
}
