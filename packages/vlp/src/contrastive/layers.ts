/**
 * The few layers the in-house towers need beyond @psic/core's convolutions:
 * BatchNorm2d (train / eval), Linear and LayerNorm with PyTorch's names,
 * shapes and default initialisation, so the weight file reads like a
 * PyTorch state dict.
 */
import * as tf from '@tensorflow/tfjs-core';
import { joinName } from '@psic/core';

/** Deterministic initial values: every variable gets its own seed from one counter. */
export class SeedSequence {
  constructor(private next: number) {}
  take(): number {
    return this.next++;
  }
}

export function uniformVariable(shape: number[], bound: number, seeds: SeedSequence, trainable = true): tf.Variable {
  return tf.tidy(() => tf.variable(tf.randomUniform(shape, -bound, bound, 'float32', seeds.take()), trainable));
}

export function constantVariable(shape: number[], value: number, trainable = true): tf.Variable {
  return tf.tidy(() => tf.variable(tf.fill(shape, value), trainable));
}

const BN_EPS = 1e-5;

/**
 * Batch normalisation over N, H, W with one fused gradient: tfjs's
 * `moments` + broadcasting ops record ~10 kernels per layer, this records
 * the textbook backward in 5 (about half the time per BN on wasm). Also
 * hands back the batch mean and biased variance for the running averages,
 * so they are not computed twice.
 */
function normaliseBatch(x: tf.Tensor4D): { xhat: tf.Tensor4D; mean: tf.Tensor; variance: tf.Tensor } {
  let mean: tf.Tensor | undefined;
  let variance: tf.Tensor | undefined;
  const [n, h, w] = x.shape;
  const count = n * h * w;
  const normalise = tf.customGrad(((input: tf.Tensor, save: tf.GradSaveFunc) => {
    const m = tf.div(tf.sum(input, [0, 1, 2]), count);
    const centred = tf.sub(input, m);
    const v = tf.div(tf.sum(tf.square(centred), [0, 1, 2]), count);
    // The forward runs in a tidy of its own: keep the statistics for the caller, who disposes them.
    mean = tf.keep(m);
    variance = tf.keep(v);
    const rstd = tf.rsqrt(tf.add(v, BN_EPS));
    const xhat = tf.mul(centred, rstd);
    save([xhat, rstd]);
    return {
      value: xhat,
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const g = dy as tf.Tensor;
        const [xh, r] = saved as [tf.Tensor, tf.Tensor];
        const meanDy = tf.div(tf.sum(g, [0, 1, 2]), count);
        const meanDyX = tf.div(tf.sum(tf.mul(g, xh), [0, 1, 2]), count);
        return [tf.mul(tf.sub(tf.sub(g, meanDy), tf.mul(xh, meanDyX)), r)];
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  const xhat = normalise(x) as tf.Tensor4D;
  return { xhat, mean: mean!, variance: variance! };
}

/** nn.BatchNorm2d(channels): batch statistics in training (updating the running ones), running ones otherwise. */
export class BatchNorm2d {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable;
  readonly runningMean: tf.Variable;
  readonly runningVar: tf.Variable;

  constructor(
    readonly channels: number,
    /** PyTorch's momentum: weight of the new batch in the running averages. */
    readonly momentum = 0.1,
    zeroInit = false,
  ) {
    this.weight = constantVariable([channels], zeroInit ? 0 : 1);
    this.bias = constantVariable([channels], 0);
    this.runningMean = constantVariable([channels], 0, false);
    this.runningVar = constantVariable([channels], 1, false);
  }

  apply(x: tf.Tensor4D, training: boolean): tf.Tensor4D {
    if (!training) {
      return tf.tidy(() => {
        const scale = tf.mul(this.weight, tf.rsqrt(tf.add(this.runningVar, BN_EPS)));
        return tf.add(tf.mul(x, scale), tf.sub(this.bias, tf.mul(this.runningMean, scale)));
      });
    }
    const { xhat, mean, variance } = normaliseBatch(x);
    try {
      this.updateRunningStatistics(mean, variance, x.shape[0] * x.shape[1] * x.shape[2]);
    } finally {
      tf.dispose([mean, variance]);
    }
    return tf.add(tf.mul(xhat, this.weight), this.bias);
  }

  /** PyTorch's update: running = (1 - m)·running + m·batch, with the unbiased batch variance. */
  private updateRunningStatistics(mean: tf.Tensor, variance: tf.Tensor, count: number): void {
    tf.tidy(() => {
      const unbiased = count > 1 ? tf.mul(variance, count / (count - 1)) : variance;
      this.runningMean.assign(tf.add(tf.mul(this.runningMean, 1 - this.momentum), tf.mul(mean, this.momentum)));
      this.runningVar.assign(tf.add(tf.mul(this.runningVar, 1 - this.momentum), tf.mul(unbiased, this.momentum)));
    });
  }

  namedVariables(prefix: string): Record<string, tf.Variable> {
    return {
      [joinName(prefix, 'weight')]: this.weight,
      [joinName(prefix, 'bias')]: this.bias,
      [joinName(prefix, 'running_mean')]: this.runningMean,
      [joinName(prefix, 'running_var')]: this.runningVar,
    };
  }
}

/**
 * a [m, k] · b [k, n] as a 1x1 convolution. tfjs-wasm's BatchMatMul runs
 * these shapes 10-20x slower (forward + backward) than its convolution or
 * the libtorch one @psic/backend-torch routes convolutions to.
 */
export function matMulAsConv(a: tf.Tensor2D, b: tf.Tensor2D, bias?: tf.Tensor1D): tf.Tensor2D {
  const [m, k] = a.shape;
  const n = b.shape[1];
  if (b.shape[0] !== k) throw new RangeError(`cannot multiply [${a.shape}] by [${b.shape}]`);
  return tf.tidy(() => {
    const x = tf.reshape(a, [1, 1, m, k]) as tf.Tensor4D;
    const filter = tf.reshape(b, [1, 1, k, n]) as tf.Tensor4D;
    const y = bias ? tf.fused.conv2d({ x, filter, strides: 1, pad: 'valid', bias }) : tf.conv2d(x, filter, 1, 'valid');
    return tf.reshape(y, [m, n]) as tf.Tensor2D;
  });
}

/** nn.Linear(in, out): weight [out, in] (PyTorch layout), bias [out], uniform ±1/sqrt(in). */
export class Linear {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable;

  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    seeds: SeedSequence,
  ) {
    const bound = 1 / Math.sqrt(inFeatures);
    this.weight = uniformVariable([outFeatures, inFeatures], bound, seeds);
    this.bias = uniformVariable([outFeatures], bound, seeds);
  }

  /** x [rows, in] -> [rows, out] */
  apply(x: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => matMulAsConv(x, tf.transpose(this.weight) as tf.Tensor2D, this.bias as tf.Tensor1D));
  }

  namedVariables(prefix: string): Record<string, tf.Variable> {
    return { [joinName(prefix, 'weight')]: this.weight, [joinName(prefix, 'bias')]: this.bias };
  }
}

/** nn.LayerNorm(width) over the last axis. */
export class LayerNorm {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable;

  constructor(readonly width: number) {
    this.weight = constantVariable([width], 1);
    this.bias = constantVariable([width], 0);
  }

  apply<T extends tf.Tensor>(x: T): T {
    return tf.tidy(() => {
      const mean = tf.mean(x, -1, true);
      const centred = tf.sub(x, mean);
      const variance = tf.mean(tf.square(centred), -1, true);
      return tf.add(tf.mul(tf.mul(centred, tf.rsqrt(tf.add(variance, 1e-5))), this.weight), this.bias) as T;
    });
  }

  namedVariables(prefix: string): Record<string, tf.Variable> {
    return { [joinName(prefix, 'weight')]: this.weight, [joinName(prefix, 'bias')]: this.bias };
  }
}
