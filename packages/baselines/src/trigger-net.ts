/**
 * BAvAFT's adaptive frequency trigger (Yu et al., CVPR 2023, Fig. 2): the
 * image goes to the 8×8 block DCT domain, a small network reads the
 * coefficients and, for every block, picks the top-K of a band of middle
 * frequencies and the signed amount to add to each; the sum goes back
 * through the inverse DCT. The trigger depends on the image (adaptive), and
 * its amplitude is bounded by construction:
 *
 *   δ_f = ε · m_f · σ(s_f) · tanh(a_f)      m = top-K mask of s (no gradient)
 *   x_p = clip(x + IDCT(δ), 0, 1)
 *
 * so every coefficient moves by less than ε, at most K per block, and
 * (orthonormal DCT) the poisoned image's MSE against x is below K·ε²/(3·b²)
 * — a PSNR floor of 10·log10(3·b² / (K·ε²)) dB (`psnrFloor`).
 */
import * as tf from '@tensorflow/tfjs-core';
import { Conv2d, ReLU, Sequential } from '@psic/core';
import { PsicError } from '@psic/entropy';
import { blockDct, blockIdct, zigzagOrder } from './dct.js';

export interface TriggerNetConfig {
  /** DCT block side (JPEG's 8) */
  block: number;
  /** the candidate band: zigzag positions [bandStart, bandEnd) of every colour channel */
  bandStart: number;
  bandEnd: number;
  /** coefficients changed per block (the paper's K = 16) */
  topK: number;
  /** largest change of one coefficient, in [0, 1] pixel units */
  epsilon: number;
  /** width of the network's hidden layers */
  hidden: number;
}

export const DEFAULT_TRIGGER_CONFIG: TriggerNetConfig = { block: 8, bandStart: 16, bandEnd: 48, topK: 16, epsilon: 0.05, hidden: 64 };

const CHANNELS = 3;

/** Prefix of the trigger network's variable names (disjoint from every backbone's). */
export const TRIGGER_PREFIX = 'trigger';

export function validateTriggerConfig(config: TriggerNetConfig): void {
  const { block, bandStart, bandEnd, topK, epsilon, hidden } = config;
  const int = (v: unknown) => typeof v === 'number' && Number.isInteger(v);
  if (!int(block) || block < 2 || block > 32) throw new PsicError('BAD_CONFIG', `trigger block must be an integer in 2..32, got ${block}`);
  if (!int(bandStart) || !int(bandEnd) || bandStart < 0 || bandEnd > block * block || bandStart >= bandEnd) {
    throw new PsicError('BAD_CONFIG', `trigger band [${bandStart}, ${bandEnd}) must lie in [0, ${block * block}) and be non-empty`);
  }
  const candidates = CHANNELS * (bandEnd - bandStart);
  if (!int(topK) || topK < 1 || topK > candidates) throw new PsicError('BAD_CONFIG', `trigger topK must be an integer in 1..${candidates}, got ${topK}`);
  if (typeof epsilon !== 'number' || !(epsilon > 0 && epsilon <= 1)) throw new PsicError('BAD_CONFIG', `trigger epsilon must be in (0, 1], got ${epsilon}`);
  if (!int(hidden) || hidden < 1 || hidden > 1024) throw new PsicError('BAD_CONFIG', `trigger hidden width must be an integer in 1..1024, got ${hidden}`);
}

/** Lowest PSNR (dB, peak 1) a poisoned image can have against its clean one under this config. */
export function psnrFloor(config: TriggerNetConfig): number {
  return 10 * Math.log10((CHANNELS * config.block * config.block) / (config.topK * config.epsilon * config.epsilon));
}

/** 1 on the top-K entries of each row of `scores` (ties included), 0 elsewhere; the selection passes no gradient. */
function topKMask(scores: tf.Tensor2D, k: number): tf.Tensor2D {
  const op = tf.customGrad((...inputs) => {
    const s = inputs[0] as tf.Tensor;
    const kth = tf.slice(tf.topk(s, k).values, [0, k - 1], [-1, 1]);
    return { value: tf.cast(tf.greaterEqual(s, kth), 'float32'), gradFunc: () => tf.zerosLike(s) };
  });
  return op(scores) as tf.Tensor2D;
}

export interface TriggerOutput {
  /** the poisoned image, NHWC in [0, 1] */
  poisoned: tf.Tensor4D;
  /** the trigger's coefficients [N, H/b, W/b, 3·b²] (zero outside the chosen K per block) */
  delta: tf.Tensor4D;
}

export class TriggerNet {
  readonly config: TriggerNetConfig;
  readonly net: Sequential;
  /** channel of the block DCT each candidate frequency lives in */
  readonly candidates: number[];
  private readonly scatter: tf.Tensor2D;

  constructor(config: Partial<TriggerNetConfig> = {}, opts: { seed?: number } = {}) {
    this.config = { ...DEFAULT_TRIGGER_CONFIG, ...config };
    validateTriggerConfig(this.config);
    const { block, bandStart, bandEnd, hidden } = this.config;
    const b2 = block * block;
    const zigzag = zigzagOrder(block);
    this.candidates = [];
    for (let c = 0; c < CHANNELS; c++) for (let z = bandStart; z < bandEnd; z++) this.candidates.push(c * b2 + zigzag[z]);
    const n = this.candidates.length;
    const seed = opts.seed ?? 1;
    // reads all 3·b² coefficients of a block and its neighbours; writes a score and an amount per candidate
    this.net = new Sequential(TRIGGER_PREFIX, [
      new Conv2d(CHANNELS * b2, hidden, 3, 1, { seed }),
      new ReLU(),
      new Conv2d(hidden, hidden, 3, 1, { seed: seed + 2 }),
      new ReLU(),
      new Conv2d(hidden, 2 * n, 1, 1, { seed: seed + 4 }),
    ]);
    // one-hot [candidates, 3·b²]: puts the candidates' changes into their DCT channels
    const s = new Float32Array(n * CHANNELS * b2);
    this.candidates.forEach((ch, i) => (s[i * CHANNELS * b2 + ch] = 1));
    this.scatter = tf.tensor2d(s, [n, CHANNELS * b2]);
  }

  /** The trigger for `x` (NHWC in [0, 1], sides multiples of the block) and the poisoned image. Differentiable in the network's weights. */
  apply(x: tf.Tensor4D): TriggerOutput {
    const [batch, h, w, c] = x.shape;
    if (c !== CHANNELS) throw new RangeError(`the trigger works on RGB images, got ${c} channels`);
    const { block, topK, epsilon } = this.config;
    if (h % block !== 0 || w % block !== 0) throw new RangeError(`the trigger needs sides that are multiples of ${block}, got ${h}x${w}`);
    return tf.tidy(() => {
      const coefficients = blockDct(x, block);
      const n = this.candidates.length;
      const out = this.net.apply(coefficients);
      const [gh, gw] = [h / block, w / block];
      const flat = tf.reshape(out, [batch * gh * gw, 2 * n]) as tf.Tensor2D;
      const scores = tf.slice(flat, [0, 0], [-1, n]) as tf.Tensor2D;
      const amounts = tf.slice(flat, [0, n], [-1, n]) as tf.Tensor2D;
      const chosen = tf.mul(tf.mul(topKMask(scores, topK), tf.sigmoid(scores)), tf.tanh(amounts));
      const delta = tf.reshape(tf.matMul(tf.mul(chosen, epsilon) as tf.Tensor2D, this.scatter), [batch, gh, gw, CHANNELS * block * block]) as tf.Tensor4D;
      const poisoned = tf.clipByValue(tf.add(x, blockIdct(delta, block)), 0, 1) as tf.Tensor4D;
      return { poisoned, delta };
    });
  }

  /** Just the poisoned image. */
  poison(x: tf.Tensor4D): tf.Tensor4D {
    const { poisoned, delta } = this.apply(x);
    delta.dispose();
    return poisoned;
  }

  namedVariables(): Record<string, tf.Variable> {
    return this.net.namedVariables();
  }

  variables(): tf.Variable[] {
    return Object.values(this.namedVariables());
  }

  dispose(): void {
    this.net.dispose();
    this.scatter.dispose();
  }
}
