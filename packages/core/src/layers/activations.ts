/** Pointwise activations with PyTorch's defaults. */
import * as tf from '@tensorflow/tfjs-core';
import { Stateless } from './module.js';

export class ReLU extends Stateless {
  apply(x: tf.Tensor4D): tf.Tensor4D {
    return tf.relu(x);
  }
}

export class LeakyReLU extends Stateless {
  /** PyTorch's nn.LeakyReLU default negative slope. */
  constructor(readonly negativeSlope = 0.01) {
    super();
  }

  apply(x: tf.Tensor4D): tf.Tensor4D {
    return tf.leakyRelu(x, this.negativeSlope);
  }
}
