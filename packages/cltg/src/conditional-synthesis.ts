/**
 * CLTG (conditional latent trigger generation), wrapping ANY LicBackbone
 * through its synthesis hook; the backbone is not edited and its bitstream is
 * unchanged. One condition β per decode:
 *
 *   f_β = ReLU(W₂ · ReLU(W₁ · fourier(β) + b₁) + b₂)        (512-d by default)
 *   block b:  out_b = f_dec,b + f_β · W_d,bᵀ                  (PSIC eq. 4)
 *
 * W_d,b is a bias-free linear map to block b's channel count, its result
 * added to every pixel of the block's output (broadcast over H×W). The
 * projections start at zero, so an adapter put on a trained codec decodes
 * exactly like it until training moves them.
 */
import * as tf from '@tensorflow/tfjs-core';
import { PsicError } from '@psic/entropy';
import type { BlockHook, LicBackbone, VariableGroup } from '@psic/core';
import { DEFAULT_KDF, keyCondition, modeCondition, newSalt, SALT_BYTES, validateKdf, type KdfParams } from './condition.js';
import { fourierEmbedding, fourierWidth } from './fourier.js';
import { Linear } from './linear.js';
import { defaultMode, findMode, validateModes, type Condition, type ModeSpec } from './modes.js';

export const ADAPTER_NAME = 'cltg';
/** Prefix of the adapter's variables in a model file; the backbone keeps its own names. */
export const ADAPTER_PREFIX = 'cltg';

export interface ConditionalSynthesisOptions {
  modes: readonly ModeSpec[];
  /** size D of β (default 16) */
  conditionDim?: number;
  /** width of the condition MLP (default 512, as the reference) */
  hidden?: number;
  /** Fourier octaves 2^0 .. 2^(F−1) (default 10, as the reference) */
  frequencies?: number;
  /** per-model salt of the key derivation (default: 16 fresh random bytes) */
  salt?: Uint8Array;
  kdf?: KdfParams;
  /** seed of the MLP's initial weights */
  seed?: number;
}

/** Variable groups of a conditional model: the backbone's, plus the adapter's. */
export type ConditionalGroup = VariableGroup | 'adapter';

/** What a model file's sidecar records under `adapter` (never the key). */
export interface AdapterDescription {
  name: typeof ADAPTER_NAME;
  version: 1;
  modes: ModeSpec[];
  conditionDim: number;
  hidden: number;
  frequencies: number;
  /** hex */
  salt: string;
  kdf: KdfParams;
  /** how β is derived, for people reading the sidecar */
  derivation: string;
}

type NamedBackbone = LicBackbone & {
  namedVariables(): Record<string, tf.Variable>;
  auxVariables?(): tf.Variable[];
  auxLoss?(): tf.Scalar;
};

/** A condition given as a mode (+ key), a ready β vector, or a β tensor [1 or B, D]. */
export type ConditionInput = Condition | Float32Array | tf.Tensor2D;

export class ConditionalSynthesis {
  readonly backbone: NamedBackbone;
  readonly modes: ModeSpec[];
  readonly conditionDim: number;
  readonly hidden: number;
  readonly frequencies: number;
  readonly salt: Uint8Array;
  readonly kdf: KdfParams;
  private readonly mlp: [Linear, Linear];
  private readonly projections: Linear[];

  constructor(backbone: LicBackbone, opts: ConditionalSynthesisOptions) {
    if (typeof (backbone as NamedBackbone).namedVariables !== 'function') {
      throw new PsicError('BAD_CONFIG', `backbone ${backbone.name} does not report its variables by name (namedVariables), so its weights can't be saved with an adapter`);
    }
    this.backbone = backbone as NamedBackbone;
    this.modes = validateModes(opts.modes);
    this.conditionDim = checkInt('conditionDim', opts.conditionDim ?? 16, 1, 256);
    this.hidden = checkInt('hidden', opts.hidden ?? 512, 1, 4096);
    this.frequencies = checkInt('frequencies', opts.frequencies ?? 10, 0, 16);
    this.salt = opts.salt ?? newSalt();
    if (this.salt.length !== SALT_BYTES) throw new PsicError('BAD_CONFIG', `the salt must be ${SALT_BYTES} bytes`);
    this.kdf = validateKdf(opts.kdf ?? DEFAULT_KDF);
    const seed = opts.seed;
    const width = fourierWidth(this.conditionDim, this.frequencies);
    this.mlp = [new Linear(width, this.hidden, { seed }), new Linear(this.hidden, this.hidden, { seed: seed === undefined ? undefined : seed + 2 })];
    this.projections = backbone.synthesisBlocks.map(({ channels }) => new Linear(this.hidden, channels, { bias: false, zero: true }));
  }

  get name(): string {
    return this.backbone.name;
  }

  get defaultMode(): ModeSpec {
    return defaultMode(this.modes);
  }

  /** β for a mode: the KDF of the key for a keyed mode, the salt-fixed vector otherwise. */
  conditionVector(condition: Condition): Float32Array {
    const mode = findMode(this.modes, condition.mode);
    if (mode.keyed) {
      if (condition.key === undefined) throw new PsicError('KEY_REQUIRED', `mode "${mode.name}" needs the owner's key`);
      return keyCondition(condition.key, this.salt, mode.name, this.conditionDim, this.kdf);
    }
    if (condition.key !== undefined) throw new PsicError('BAD_CONDITION', `mode "${mode.name}" takes no key`);
    return modeCondition(this.salt, mode.name, this.conditionDim);
  }

  /** β of a mode without a key (throws for a keyed one). */
  modeVector(mode: string): Float32Array {
    return this.conditionVector({ mode });
  }

  /** β as a [rows, D] tensor from any accepted form. The caller disposes it. */
  conditionTensor(condition: ConditionInput): tf.Tensor2D {
    if (condition instanceof tf.Tensor) {
      if (condition.rank !== 2 || condition.shape[1] !== this.conditionDim) {
        throw new RangeError(`condition tensor must be [rows, ${this.conditionDim}], got [${condition.shape}]`);
      }
      return tf.clone(condition);
    }
    const beta = condition instanceof Float32Array ? condition : this.conditionVector(condition);
    if (beta.length !== this.conditionDim) throw new RangeError(`condition has ${beta.length} values, the model takes ${this.conditionDim}`);
    return tf.tensor2d(beta, [1, this.conditionDim]);
  }

  /** f_β: the condition MLP's output [rows, hidden]. */
  embed(beta: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => tf.relu(this.mlp[1].apply(tf.relu(this.mlp[0].apply(fourierEmbedding(beta, this.frequencies))))));
  }

  /** Per synthesis block, the bias f_β·W_dᵀ [rows, channels_b]. */
  blockBiases(beta: tf.Tensor2D): tf.Tensor2D[] {
    return tf.tidy(() => {
      const f = this.embed(beta);
      return this.projections.map((p) => p.apply(f));
    });
  }

  /** Per-block bias vectors of one condition as plain arrays (an inference runtime feeds them to its g_s graph). */
  blockBiasValues(condition: ConditionInput): Float32Array[] {
    const beta = this.conditionTensor(condition);
    const biases = this.blockBiases(beta);
    const out = biases.map((b) => Float32Array.from(b.dataSync().subarray(0, b.shape[1])));
    tf.dispose([beta, ...biases]);
    return out;
  }

  /**
   * The block hook that adds β's biases. `copies` > 1 decodes the same y-hat
   * under several conditions in one pass: at block 0 the features are tiled
   * `copies` times along the batch, and `beta` holds one row per tiled sample
   * (copy-major). The biases are recomputed in each call so the hook holds no
   * tensor across a backbone's tidy scopes.
   */
  hook(beta: tf.Tensor2D, copies = 1): BlockHook {
    const blocks = this.projections.length;
    return (index, features) => {
      if (index < 0 || index >= blocks) throw new Error(`backbone ${this.backbone.name} called the hook for block ${index}; it declares ${blocks}`);
      const x = index === 0 && copies > 1 ? tf.tile(features, [copies, 1, 1, 1]) : features;
      const bias = this.projections[index].apply(this.embed(beta));
      return tf.add(x, tf.reshape(bias, [bias.shape[0], 1, 1, bias.shape[1]]));
    };
  }

  /** y-hat -> image (unclamped) under a condition: the decoder side of every mode. */
  decode(yHat: tf.Tensor4D, condition: ConditionInput): tf.Tensor4D {
    const beta = this.conditionTensor(condition);
    try {
      return this.backbone.synthesis(yHat, this.hook(beta));
    } finally {
      beta.dispose();
    }
  }

  /** Training / evaluation forward under one condition (default: the default mode). */
  forward(x: tf.Tensor4D, opts: { training: boolean; condition?: ConditionInput }): { xHat: tf.Tensor4D; likelihoods: tf.Tensor[] } {
    const beta = this.conditionTensor(opts.condition ?? { mode: this.defaultMode.name });
    try {
      return this.backbone.forward(x, { training: opts.training, hook: this.hook(beta) });
    } finally {
      beta.dispose();
    }
  }

  /**
   * One analysis and one quantised y-hat, decoded under each of `conditions`
   * (each [1 or batch, D]): the rate terms are shared and every mode sees the
   * same y-hat, as a decoder reading one stream would.
   */
  forwardModes(x: tf.Tensor4D, opts: { training: boolean; conditions: tf.Tensor2D[] }): { xHats: tf.Tensor4D[]; likelihoods: tf.Tensor[] } {
    const batch = x.shape[0];
    const k = opts.conditions.length;
    if (k === 0) throw new RangeError('forwardModes needs at least one condition');
    const beta = tf.tidy(() =>
      tf.concat(
        opts.conditions.map((c) => {
          if (c.shape[1] !== this.conditionDim || (c.shape[0] !== 1 && c.shape[0] !== batch)) {
            throw new RangeError(`condition tensor must be [1 or ${batch}, ${this.conditionDim}], got [${c.shape}]`);
          }
          return c.shape[0] === batch ? c : tf.tile(c, [batch, 1]);
        }),
        0,
      ),
    );
    try {
      const out = this.backbone.forward(x, { training: opts.training, hook: this.hook(beta, k) });
      const xHats = k === 1 ? [out.xHat] : (tf.split(out.xHat, k, 0) as tf.Tensor4D[]);
      if (k > 1) out.xHat.dispose();
      return { xHats, likelihoods: out.likelihoods };
    } finally {
      beta.dispose();
    }
  }

  /** The adapter's own variables, under `cltg.mlp.0`, `cltg.mlp.2`, `cltg.proj.<block>` (a torch Sequential / ModuleList's keys). */
  adapterVariables(): Record<string, tf.Variable> {
    return {
      ...this.mlp[0].namedVariables(`${ADAPTER_PREFIX}.mlp.0`),
      ...this.mlp[1].namedVariables(`${ADAPTER_PREFIX}.mlp.2`),
      ...Object.assign({}, ...this.projections.map((p, i) => p.namedVariables(`${ADAPTER_PREFIX}.proj.${i}`))),
    };
  }

  namedVariables(): Record<string, tf.Variable> {
    return { ...this.backbone.namedVariables(), ...this.adapterVariables() };
  }

  /** Trainable variables of a group ('adapter' or one of the backbone's), or all of them. */
  variables(group?: ConditionalGroup): tf.Variable[] {
    if (group === 'adapter') return Object.values(this.adapterVariables());
    if (group) return this.backbone.variables(group);
    return [...this.backbone.variables(), ...Object.values(this.adapterVariables())];
  }

  /** The backbone's auxiliary (entropy-model quantile) variables, when it has them. */
  auxVariables(): tf.Variable[] {
    return this.backbone.auxVariables?.() ?? [];
  }

  auxLoss(): tf.Scalar {
    return this.backbone.auxLoss?.() ?? tf.scalar(0);
  }

  describe(): AdapterDescription {
    return {
      name: ADAPTER_NAME,
      version: 1,
      modes: this.modes.map((m) => ({ ...m })),
      conditionDim: this.conditionDim,
      hidden: this.hidden,
      frequencies: this.frequencies,
      salt: Buffer.from(this.salt).toString('hex'),
      kdf: { ...this.kdf },
      derivation:
        'keyed mode m: beta = u16be->[-1,1](scrypt(key, salt || "psic-cltg/v1/key/" || m, 2*conditionDim)); ' +
        'other mode m: beta = u16be->[-1,1](HKDF-SHA256(ikm=salt, info="psic-cltg/v1/mode/" || m, 2*conditionDim))',
    };
  }

  /** Dispose the adapter's variables (and the backbone's, with `backbone: true`). */
  dispose(opts: { backbone?: boolean } = {}): void {
    this.mlp.forEach((l) => l.dispose());
    this.projections.forEach((l) => l.dispose());
    if (opts.backbone) for (const v of Object.values(this.backbone.namedVariables())) v.dispose();
  }
}

function checkInt(what: string, v: number, min: number, max: number): number {
  if (!Number.isInteger(v) || v < min || v > max) throw new PsicError('BAD_CONFIG', `${what} must be an integer in ${min}..${max} (got ${v})`);
  return v;
}
