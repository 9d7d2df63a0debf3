/**
 * A small backbone made only of @psic/core layers (this package depends on no
 * backbone): the hyperprior's shapes (g_a, h_a, h_s, g_s in four blocks)
 * with GDN gammas that are not symmetric, so a transposed gamma would show.
 * Its `compress` is a toy entropy path (rounded y and z as bytes) that reads
 * g_a and h_a the way real backbones do, through `this.g_a` / `this.h_a`.
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  Conv2d,
  ConvTranspose2d,
  GDN,
  LeakyReLU,
  ReLU,
  Sequential,
  synthesizeBlocks,
  type BlockHook,
  type LicBackbone,
  type Shape,
} from '@psic/core';
import { registerTransforms, compressAiNaming } from '../src/index.js';

export const TINY = 'tiny-test-backbone';
registerTransforms(TINY, (b) => compressAiNaming(b, 'abs'));

/** Seeded values in [-1, 1). */
export function seeded(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s / 2 ** 32) * 2 - 1;
  });
}

/** A smooth test picture with some texture, values in [0, 1]. */
export function picture(h: number, w: number): Float32Array {
  const data = new Float32Array(h * w * 3);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      for (let c = 0; c < 3; c++) data[(y * w + x) * 3 + c] = 0.5 + 0.3 * Math.sin(0.21 * x + 0.13 * y + 2 * c) * Math.cos(0.07 * y - 0.17 * x) + 0.1 * Math.sin(1.3 * x * y);
  return data;
}

export class TinyBackbone implements LicBackbone {
  readonly name = TINY;
  readonly config: { N: number; M: number };
  readonly g_a: Sequential;
  readonly h_a: Sequential;
  readonly h_s: Sequential;
  readonly g_sBlocks: Sequential[];
  readonly synthesisBlocks: { channels: number }[];
  /** written by compress, to check writes through the runtime's stand-in reach this object */
  compressCalls = 0;

  constructor(N = 8, M = 12, seed = 1) {
    this.config = { N, M };
    const gdn = (inverse = false) => new GDN(N, { inverse });
    this.g_a = new Sequential('g_a', [new Conv2d(3, N, 5, 2, { seed }), gdn(), new Conv2d(N, N, 5, 2, { seed: seed + 2 }), gdn(), new Conv2d(N, N, 5, 2, { seed: seed + 4 }), gdn(), new Conv2d(N, M, 5, 2, { seed: seed + 6 })]);
    this.h_a = new Sequential('h_a', [new Conv2d(M, N, 3, 1, { seed: seed + 8 }), new ReLU(), new Conv2d(N, N, 5, 2, { seed: seed + 10 }), new LeakyReLU(0.1), new Conv2d(N, N, 5, 2, { seed: seed + 12 })]);
    this.h_s = new Sequential('h_s', [new ConvTranspose2d(N, N, 5, 2, { seed: seed + 14 }), new ReLU(), new Conv2d(N, M, 3, 1, { seed: seed + 16 })]);
    this.g_sBlocks = [
      new Sequential('g_s', [new ConvTranspose2d(M, N, 5, 2, { seed: seed + 18 }), gdn(true)], 0),
      new Sequential('g_s', [new ConvTranspose2d(N, N, 5, 2, { seed: seed + 20 }), gdn(true)], 2),
      new Sequential('g_s', [new ConvTranspose2d(N, N, 5, 2, { seed: seed + 22 }), gdn(true)], 4),
      new Sequential('g_s', [new ConvTranspose2d(N, 3, 5, 2, { seed: seed + 24 })], 6),
    ];
    this.synthesisBlocks = [{ channels: N }, { channels: N }, { channels: N }, { channels: 3 }];
    // Non-trivial GDN parameters: beta in [0.5, 1.5), gamma asymmetric with small positive entries.
    let k = 100;
    for (const [name, v] of Object.entries(this.namedVariables())) {
      if (name.endsWith('.beta')) v.assign(tf.tensor(seeded(v.size, k++).map((r) => Math.sqrt(1 + 0.5 * r)), v.shape));
      if (name.endsWith('.gamma')) v.assign(tf.tensor(seeded(v.size, k++).map((r) => Math.sqrt(0.05 + 0.05 * r)), v.shape));
    }
    // Wider latents so rounding y gives several bins.
    const last = this.g_a.layers[6] as Conv2d;
    last.weight.assign(tf.mul(last.weight, 30));
  }

  namedVariables(): Record<string, tf.Variable> {
    return Object.assign({}, this.g_a.namedVariables(), this.h_a.namedVariables(), this.h_s.namedVariables(), ...this.g_sBlocks.map((b) => b.namedVariables()));
  }

  analysis(x: tf.Tensor4D): tf.Tensor4D {
    return this.g_a.apply(x);
  }

  synthesis(yHat: tf.Tensor4D, hook?: BlockHook): tf.Tensor4D {
    return synthesizeBlocks(this.g_sBlocks, yHat, hook);
  }

  forward(): never {
    throw new Error('not used');
  }

  /** Toy entropy path: [rounded y as int8, rounded z as int8]. */
  async compress(x: tf.Tensor4D): Promise<Uint8Array[]> {
    this.compressCalls++;
    const y = this.analysis(x);
    const z = tf.tidy(() => this.h_a.apply(tf.abs(y)));
    const bytes = (t: tf.Tensor) => Uint8Array.from(t.dataSync(), (v) => Math.max(-128, Math.min(127, Math.round(v))) & 0xff);
    const out = [bytes(y), bytes(z)];
    tf.dispose([y, z]);
    return out;
  }

  async decompress(sections: Uint8Array[], shape: Shape): Promise<tf.Tensor4D> {
    const values = Float32Array.from(sections[0], (b) => (b << 24) >> 24);
    return tf.tensor4d(values, [1, shape.height / 16, shape.width / 16, this.config.M]);
  }

  variables(): tf.Variable[] {
    return Object.values(this.namedVariables());
  }

  dispose(): void {
    for (const v of this.variables()) v.dispose();
  }
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`lengths differ: ${a.length} vs ${b.length}`);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
}
