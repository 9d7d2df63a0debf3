/**
 * The text tower: CLIP's text transformer in miniature (pre-LayerNorm
 * residual blocks, causal self-attention, QuickGELU MLPs, the features at
 * the end-of-text token, a final LayerNorm and a projection), over CLIP's
 * BPE tokens.
 *
 * The token table is compact: CLIP has 49,408 ids, the captions use a few
 * dozen, and a full table would be 25 MB of mostly untrained rows. Row 0 is
 * "unknown" and stands for every id the training captions never contained
 * (training drops some words to it, so it means "some word"); the other
 * rows belong to the CLIP ids listed in the `token_ids` tensor, saved with
 * the weights so the file and its vocabulary cannot drift apart.
 */
import * as tf from '@tensorflow/tfjs-core';
import { joinName } from '@psic/core';
import { PsicError } from '@psic/entropy';
import type { TextTowerConfig } from './config.js';
import { LayerNorm, Linear, matMulAsConv, uniformVariable, type SeedSequence } from './layers.js';

/** Compact row of ids that the training captions never contained. */
export const UNKNOWN_ROW = 0;

/** Token rows for the text tower: compact ids [n, contextLength] and each row's end-of-text position. */
export interface EncodedTexts {
  rows: Int32Array;
  endPositions: Int32Array;
  count: number;
}

/** CLIP id <-> compact row. */
export class TokenVocabulary {
  private readonly rowOf = new Map<number, number>();

  /** `clipIds[k]` owns row k + 1 (row 0 is "unknown"). */
  constructor(readonly clipIds: readonly number[]) {
    clipIds.forEach((id, k) => {
      if (!Number.isInteger(id) || id < 0) throw new PsicError('BAD_WEIGHTS', `token id ${id} is not a CLIP id`);
      if (this.rowOf.has(id)) throw new PsicError('BAD_WEIGHTS', `token id ${id} appears twice in the vocabulary`);
      this.rowOf.set(id, k + 1);
    });
  }

  /** Rows of the table: the known ids plus "unknown". */
  get size(): number {
    return this.clipIds.length + 1;
  }

  row(clipId: number): number {
    return this.rowOf.get(clipId) ?? UNKNOWN_ROW;
  }

  /** The sorted distinct CLIP ids of tokenized rows (what a training set's captions use). */
  static fromTokenRows(rows: Int32Array, endTokenId: number, contextLength: number): TokenVocabulary {
    const ids = new Set<number>();
    for (let r = 0; r < rows.length; r += contextLength) {
      for (let t = 0; t < contextLength; t++) {
        const id = rows[r + t]!;
        ids.add(id);
        if (id === endTokenId) break; // what follows is padding
      }
    }
    return new TokenVocabulary([...ids].sort((a, b) => a - b));
  }

  /** Map CLIP token rows (clip.tokenize output) to compact rows and find each end-of-text position. */
  encode(clipRows: Int32Array, endTokenId: number, contextLength: number): EncodedTexts {
    const count = clipRows.length / contextLength;
    const rows = new Int32Array(clipRows.length);
    const endPositions = new Int32Array(count);
    for (let r = 0; r < count; r++) {
      let end = contextLength - 1;
      for (let t = 0; t < contextLength; t++) {
        const id = clipRows[r * contextLength + t]!;
        rows[r * contextLength + t] = this.row(id);
        if (id === endTokenId) {
          end = t;
          break; // padding after the end stays row 0; the causal mask hides it anyway
        }
      }
      endPositions[r] = end;
    }
    return { rows, endPositions, count };
  }
}

/**
 * Float one-hot rows built on the host. tf.oneHot(..., 'float32') is not an
 * option: tfjs-wasm 4.22's OneHot kernel writes int32 ones into the float
 * output (1.4e-45 as a float), silently zeroing every embedding.
 */
function oneHotRows(indices: Int32Array, depth: number): tf.Tensor2D {
  const out = new Float32Array(indices.length * depth);
  indices.forEach((k, r) => {
    if (k < 0 || k >= depth) throw new RangeError(`index ${k} outside 0..${depth - 1}`);
    out[r * depth + k] = 1;
  });
  return tf.tensor2d(out, [indices.length, depth]);
}

class ResidualAttentionBlock {
  readonly ln1: LayerNorm;
  readonly inProj: Linear;
  readonly outProj: Linear;
  readonly ln2: LayerNorm;
  readonly fc: Linear;
  readonly proj: Linear;

  constructor(
    readonly width: number,
    readonly heads: number,
    mlpRatio: number,
    seeds: SeedSequence,
  ) {
    this.ln1 = new LayerNorm(width);
    this.inProj = new Linear(width, 3 * width, seeds);
    this.outProj = new Linear(width, width, seeds);
    this.ln2 = new LayerNorm(width);
    this.fc = new Linear(width, mlpRatio * width, seeds);
    this.proj = new Linear(mlpRatio * width, width, seeds);
  }

  /** x [n, L, width]; `mask` [L, L] additive causal mask. */
  apply(x: tf.Tensor3D, mask: tf.Tensor2D): tf.Tensor3D {
    return tf.tidy(() => {
      const [n, L, D] = x.shape;
      const H = this.heads;
      const dh = D / H;
      const qkv = this.inProj.apply(tf.reshape(this.ln1.apply(x), [n * L, D]));
      // [n·L, 3D] -> three [n·H, L, dh]
      const split = tf.transpose(tf.reshape(qkv, [n, L, 3, H, dh]), [2, 0, 3, 1, 4]);
      const [q, k, v] = tf.unstack(split, 0).map((t) => tf.reshape(t, [n * H, L, dh]) as tf.Tensor3D);
      const scores = tf.add(tf.mul(tf.matMul(q!, k!, false, true), 1 / Math.sqrt(dh)), mask);
      const attended = tf.matMul(tf.softmax(scores), v!);
      const merged = tf.reshape(tf.transpose(tf.reshape(attended, [n, H, L, dh]), [0, 2, 1, 3]), [n * L, D]) as tf.Tensor2D;
      const h = tf.add(x, tf.reshape(this.outProj.apply(merged), [n, L, D]));
      const hidden = this.fc.apply(tf.reshape(this.ln2.apply(h), [n * L, D]) as tf.Tensor2D);
      const gelu = tf.mul(hidden, tf.sigmoid(tf.mul(hidden, 1.702))) as tf.Tensor2D; // CLIP's QuickGELU
      return tf.add(h, tf.reshape(this.proj.apply(gelu), [n, L, D])) as tf.Tensor3D;
    });
  }

  namedVariables(prefix: string): Record<string, tf.Variable> {
    return {
      ...this.ln1.namedVariables(joinName(prefix, 'ln_1')),
      ...this.inProj.namedVariables(joinName(prefix, 'attn.in_proj')),
      ...this.outProj.namedVariables(joinName(prefix, 'attn.out_proj')),
      ...this.ln2.namedVariables(joinName(prefix, 'ln_2')),
      ...this.fc.namedVariables(joinName(prefix, 'mlp.c_fc')),
      ...this.proj.namedVariables(joinName(prefix, 'mlp.c_proj')),
    };
  }
}

export class TextTower {
  /** [vocabSize, width] */
  readonly tokenEmbedding: tf.Variable;
  /** [contextLength, width] */
  readonly positionalEmbedding: tf.Variable;
  readonly blocks: ResidualAttentionBlock[];
  readonly lnFinal: LayerNorm;
  /** [width, embedDim], applied as x·P like CLIP's text_projection. */
  readonly projection: tf.Variable;
  /** CLIP id of each compact row but the first, as floats (exact below 2^24); not trained. */
  readonly tokenIds: tf.Variable;
  private readonly mask: tf.Tensor2D;

  constructor(
    readonly config: TextTowerConfig,
    readonly embedDim: number,
    seeds: SeedSequence,
  ) {
    const { width, contextLength: L } = config;
    this.tokenEmbedding = tf.tidy(() => tf.variable(tf.mul(tf.randomNormal([config.vocabSize, width], 0, 1, 'float32', seeds.take()), 0.02)));
    this.positionalEmbedding = tf.tidy(() => tf.variable(tf.mul(tf.randomNormal([L, width], 0, 1, 'float32', seeds.take()), 0.01)));
    this.blocks = Array.from({ length: config.layers }, () => new ResidualAttentionBlock(width, config.heads, config.mlpRatio, seeds));
    this.lnFinal = new LayerNorm(width);
    this.projection = uniformVariable([width, embedDim], 1 / Math.sqrt(width), seeds);
    this.tokenIds = tf.variable(tf.fill([config.vocabSize - 1], -1), false);
    const mask = new Float32Array(L * L);
    for (let i = 0; i < L; i++) for (let j = i + 1; j < L; j++) mask[i * L + j] = -1e9;
    this.mask = tf.tensor2d(mask, [L, L]);
  }

  /** The vocabulary stored in `tokenIds` (after training set it, or loading filled it). */
  vocabulary(): TokenVocabulary {
    return new TokenVocabulary(Array.from(this.tokenIds.dataSync(), (v) => Math.round(v)));
  }

  setVocabulary(vocab: TokenVocabulary): void {
    if (vocab.size !== this.config.vocabSize) {
      throw new PsicError('BAD_CONFIG', `vocabulary has ${vocab.size} rows, the text tower ${this.config.vocabSize}`);
    }
    tf.tidy(() => this.tokenIds.assign(tf.tensor1d(Float32Array.from(vocab.clipIds))));
  }

  /** Encoded rows -> unnormalised embeddings [n, embedDim]. */
  apply(texts: EncodedTexts): tf.Tensor2D {
    const { contextLength, width: D, vocabSize: V } = this.config;
    const n = texts.count;
    if (texts.rows.length !== n * contextLength) throw new RangeError(`expected ${n}x${contextLength} token rows, got ${texts.rows.length} ids`);
    if (n === 0) return tf.zeros([0, this.embedDim]);
    // Causal attention: the end-of-text features depend on nothing after them, so the
    // sequence is cut after the last end token of the batch (11 of 32 positions for CIFAR).
    const L = Math.max(...texts.endPositions) + 1;
    const ids = new Int32Array(n * L);
    for (let r = 0; r < n; r++) ids.set(texts.rows.subarray(r * contextLength, r * contextLength + L), r * L);
    return tf.tidy(() => {
      // One-hot x table rather than gather: gather's gradient needs UnsortedSegmentSum, which tfjs-wasm lacks.
      const tokens = tf.reshape(matMulAsConv(oneHotRows(ids, V), this.tokenEmbedding as tf.Tensor2D), [n, L, D]);
      let x = tf.add(tokens, tf.slice(this.positionalEmbedding, [0, 0], [L, D])) as tf.Tensor3D;
      const mask = tf.slice(this.mask, [0, 0], [L, L]) as tf.Tensor2D;
      for (const block of this.blocks) x = block.apply(x, mask);
      const select = tf.reshape(oneHotRows(texts.endPositions, L), [n, L, 1]);
      const pooled = tf.sum(tf.mul(x, select), 1) as tf.Tensor2D;
      return matMulAsConv(this.lnFinal.apply(pooled), this.projection as tf.Tensor2D);
    });
  }

  namedVariables(prefix: string): Record<string, tf.Variable> {
    let out: Record<string, tf.Variable> = {
      [joinName(prefix, 'token_embedding.weight')]: this.tokenEmbedding,
      [joinName(prefix, 'token_ids')]: this.tokenIds,
      [joinName(prefix, 'positional_embedding')]: this.positionalEmbedding,
    };
    this.blocks.forEach((block, i) => {
      out = { ...out, ...block.namedVariables(joinName(prefix, `transformer.resblocks.${i}`)) };
    });
    return {
      ...out,
      ...this.lnFinal.namedVariables(joinName(prefix, 'ln_final')),
      [joinName(prefix, 'text_projection')]: this.projection,
    };
  }

  dispose(): void {
    for (const v of Object.values(this.namedVariables(''))) v.dispose();
    this.mask.dispose();
  }
}
