/**
 * A fully connected layer with PyTorch's layout and initialisation: weight
 * [out, in] (so a file loads in torch.nn.Linear as is), y = x·Wᵀ + b, weights
 * and bias uniform in ±1/sqrt(in) unless `zero` asks for a zero start.
 */
import * as tf from '@tensorflow/tfjs-core';

export interface LinearOptions {
  bias?: boolean;
  /** start at zero (the CLTG projections: an untrained adapter changes nothing) */
  zero?: boolean;
  seed?: number;
}

export class Linear {
  readonly weight: tf.Variable;
  readonly bias?: tf.Variable;

  constructor(readonly cin: number, readonly cout: number, opts: LinearOptions = {}) {
    for (const [what, v] of [['in features', cin], ['out features', cout]] as const) {
      if (!Number.isInteger(v) || v < 1) throw new RangeError(`${what} must be a positive integer, got ${v}`);
    }
    const bound = 1 / Math.sqrt(cin);
    const init = (shape: number[], seed?: number) =>
      tf.tidy(() => tf.variable(opts.zero ? tf.zeros(shape) : tf.randomUniform(shape, -bound, bound, 'float32', seed)));
    this.weight = init([cout, cin], opts.seed);
    if (opts.bias !== false) this.bias = init([cout], opts.seed === undefined ? undefined : opts.seed + 1);
  }

  apply(x: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy((): tf.Tensor2D => {
      const y = tf.matMul(x, this.weight as tf.Tensor2D, false, true) as tf.Tensor2D;
      return this.bias ? (tf.add(y, this.bias) as tf.Tensor2D) : y;
    });
  }

  namedVariables(prefix: string): Record<string, tf.Variable> {
    return { [`${prefix}.weight`]: this.weight, ...(this.bias ? { [`${prefix}.bias`]: this.bias } : {}) };
  }

  dispose(): void {
    this.weight.dispose();
    this.bias?.dispose();
  }
}
