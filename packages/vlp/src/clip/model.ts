/**
 * OpenAI's CLIP (ViT image tower + causal text transformer) in tfjs, from
 * OpenAI state-dict tensors: `clip/model.py` op for op, on NHWC images that
 * are already preprocessed (see preprocess.ts). Weights are constants, so
 * gradients flow to the inputs only (what a semantic target needs).
 */
import * as tf from '@tensorflow/tfjs-core';
import { PsicError } from '@psic/entropy';
import { visionHeads, type ClipConfig } from './config.js';
import type { ClipStateDict } from './weights.js';

const LN_EPS = 1e-5;
const TEXT_CHUNK_ROWS = 256;

/** LayerNorm over the last axis, biased variance (torch.nn.LayerNorm). */
function layerNorm(x: tf.Tensor, weight: tf.Tensor, bias: tf.Tensor): tf.Tensor {
  const mean = tf.mean(x, -1, true);
  const centred = tf.sub(x, mean);
  const variance = tf.mean(tf.square(centred), -1, true);
  return tf.add(tf.mul(tf.mul(centred, tf.rsqrt(tf.add(variance, LN_EPS))), weight), bias);
}

/** torch.nn.Linear on [rows, in]: x·Wᵀ + b, with Wᵀ ([in, out]) transposed once at load. */
function linear(x: tf.Tensor2D, weightT: tf.Tensor, bias: tf.Tensor): tf.Tensor2D {
  return tf.add(tf.matMul(x, weightT as tf.Tensor2D), bias);
}

/** Linear-layer weights, kept transposed: a plain matMul is faster than transposeB on the wasm backend. */
const LINEAR_WEIGHT = /(in_proj_weight|out_proj\.weight|c_fc\.weight|c_proj\.weight)$/;

/** CLIP's QuickGELU: x·σ(1.702x). */
function quickGelu(x: tf.Tensor): tf.Tensor {
  return tf.mul(x, tf.sigmoid(tf.mul(x, 1.702)));
}

export class ClipModel {
  readonly config: ClipConfig;
  /** exp(logit_scale), the factor on cosine similarities. */
  readonly logitScale: number;
  private readonly weights = new Map<string, tf.Tensor>();
  /** Additive causal mask (−∞ above the diagonal), built once for the full context. */
  private readonly causalMask: tf.Tensor2D;
  private disposed = false;

  constructor(stateDict: ClipStateDict) {
    this.config = stateDict.config;
    for (const [name, t] of stateDict.tensors) {
      const tensor = tf.tensor(t.data, t.shape.length === 0 ? [] : t.shape, 'float32');
      if (LINEAR_WEIGHT.test(name)) {
        this.weights.set(name, tf.transpose(tensor));
        tensor.dispose();
      } else if (name === 'visual.conv1.weight') {
        // PyTorch OIHW -> tfjs HWIO for the patchify convolution.
        this.weights.set(name, tf.transpose(tensor, [2, 3, 1, 0]));
        tensor.dispose();
      } else {
        this.weights.set(name, tensor);
      }
    }
    const L = this.config.context_length;
    const mask = new Float32Array(L * L);
    for (let i = 0; i < L; i++) for (let j = i + 1; j < L; j++) mask[i * L + j] = -Infinity;
    this.causalMask = tf.tensor2d(mask, [L, L]);
    this.logitScale = Math.exp(stateDict.tensors.get('logit_scale')!.data[0]!);
  }

  private w(name: string): tf.Tensor {
    if (this.disposed) throw new PsicError('DISPOSED', 'this CLIP model has been disposed');
    const t = this.weights.get(name);
    if (!t) throw new Error(`internal: CLIP weight ${name} missing`);
    return t;
  }

  /** nn.MultiheadAttention(x, x, x) with OpenAI's stacked in_proj, on [b, L, D]. */
  private attention(x: tf.Tensor3D, prefix: string, heads: number, mask?: tf.Tensor2D): tf.Tensor3D {
    const [b, L, D] = x.shape;
    const hd = D / heads;
    const qkv = linear(tf.reshape(x, [b * L, D]), this.w(`${prefix}.in_proj_weight`), this.w(`${prefix}.in_proj_bias`));
    const [q, k, v] = tf.split(qkv, 3, 1) as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D];
    // Head h owns columns [h·hd, (h+1)·hd) of q, k and v.
    const toHeads = (t: tf.Tensor2D): tf.Tensor4D => tf.transpose(tf.reshape(t, [b, L, heads, hd]), [0, 2, 1, 3]);
    const kT = tf.transpose(tf.reshape(k, [b, L, heads, hd]), [0, 2, 3, 1]);
    let scores: tf.Tensor = tf.matMul(tf.mul(toHeads(q), 1 / Math.sqrt(hd)), kT);
    if (mask) scores = tf.add(scores, mask);
    const attended = tf.matMul(tf.softmax(scores), toHeads(v));
    const merged = tf.reshape(tf.transpose(attended, [0, 2, 1, 3]), [b * L, D]) as tf.Tensor2D;
    return tf.reshape(linear(merged, this.w(`${prefix}.out_proj.weight`), this.w(`${prefix}.out_proj.bias`)), [b, L, D]);
  }

  /** OpenAI's ResidualAttentionBlock: pre-LN attention and QuickGELU MLP, each added back. */
  private block(x: tf.Tensor3D, prefix: string, heads: number, mask?: tf.Tensor2D): tf.Tensor3D {
    const [b, L, D] = x.shape;
    const normed1 = layerNorm(x, this.w(`${prefix}.ln_1.weight`), this.w(`${prefix}.ln_1.bias`)) as tf.Tensor3D;
    const h = tf.add(x, this.attention(normed1, `${prefix}.attn`, heads, mask)) as tf.Tensor3D;
    const normed2 = tf.reshape(layerNorm(h, this.w(`${prefix}.ln_2.weight`), this.w(`${prefix}.ln_2.bias`)), [b * L, D]) as tf.Tensor2D;
    const hidden = quickGelu(linear(normed2, this.w(`${prefix}.mlp.c_fc.weight`), this.w(`${prefix}.mlp.c_fc.bias`))) as tf.Tensor2D;
    return tf.add(h, tf.reshape(linear(hidden, this.w(`${prefix}.mlp.c_proj.weight`), this.w(`${prefix}.mlp.c_proj.bias`)), [b, L, D]));
  }

  /**
   * `encode_image` on preprocessed images, NHWC [b, R, R, 3] with R the
   * config's image_resolution (normalised with CLIP's mean/std). Returns the
   * unnormalised embeddings [b, embed_dim]. Differentiable in `x`.
   */
  encodeImage(x: tf.Tensor4D): tf.Tensor2D {
    const { image_resolution: R, vision_patch_size: p, vision_width: width, vision_layers: layers } = this.config;
    const [b, H, W, C] = x.shape;
    if (H !== R || W !== R || C !== 3) {
      throw new PsicError('BAD_SHAPE', `CLIP image tower needs [b, ${R}, ${R}, 3] preprocessed input, got [${x.shape}]`);
    }
    return tf.tidy(() => {
      const g = R / p;
      // conv1: stride = kernel = p, no bias; patches in row-major order.
      const embedded = tf.reshape(tf.conv2d(x, this.w('visual.conv1.weight') as tf.Tensor4D, p, 'valid'), [b, g * g, width]);
      const cls = tf.tile(tf.reshape(this.w('visual.class_embedding'), [1, 1, width]), [b, 1, 1]);
      let h = tf.add(tf.concat([cls, embedded], 1), this.w('visual.positional_embedding')) as tf.Tensor3D;
      h = layerNorm(h, this.w('visual.ln_pre.weight'), this.w('visual.ln_pre.bias')) as tf.Tensor3D;
      const heads = visionHeads(this.config);
      for (let i = 0; i < layers; i++) h = this.block(h, `visual.transformer.resblocks.${i}`, heads);
      const cls0 = tf.reshape(tf.slice(h, [0, 0, 0], [b, 1, width]), [b, width]);
      const pooled = layerNorm(cls0, this.w('visual.ln_post.weight'), this.w('visual.ln_post.bias')) as tf.Tensor2D;
      return tf.matMul(pooled, this.w('visual.proj') as tf.Tensor2D);
    });
  }

  /**
   * `encode_text` on rows of `context_length` token ids (clip.tokenize's
   * output, row-major). Pools each row at its first maximum id (the first end
   * token, as torch.argmax). Because attention is causal, positions after the
   * last pooled one cannot change the result, so they are not computed.
   */
  encodeText(tokens: Int32Array | number[]): tf.Tensor2D {
    const { context_length: L, transformer_width: width, transformer_layers: layers, transformer_heads: heads, vocab_size } = this.config;
    if (tokens.length % L !== 0) {
      throw new PsicError('BAD_SHAPE', `CLIP text tower needs rows of ${L} token ids, got ${tokens.length} ids`);
    }
    const b = tokens.length / L;
    const pooledAt: number[] = [];
    for (let r = 0; r < b; r++) {
      let best = 0;
      for (let i = 0; i < L; i++) {
        const id = tokens[r * L + i]!;
        if (!Number.isInteger(id) || id < 0 || id >= vocab_size) throw new PsicError('BAD_TOKEN', `token id ${id} is outside the vocabulary (0..${vocab_size - 1})`);
        if (id > tokens[r * L + best]!) best = i;
      }
      pooledAt.push(best);
    }
    if (b === 0) return tf.zeros([0, this.config.embed_dim]);
    // Long candidate lists (e.g. classes x prompt templates) go in chunks to bound activation memory.
    if (b > TEXT_CHUNK_ROWS) {
      const parts: tf.Tensor2D[] = [];
      for (let r = 0; r < b; r += TEXT_CHUNK_ROWS) parts.push(this.encodeText(tokens.slice(r * L, Math.min(b, r + TEXT_CHUNK_ROWS) * L)));
      const all = tf.concat(parts, 0);
      tf.dispose(parts);
      return all;
    }
    const used = Math.max(...pooledAt) + 1;
    const ids = new Int32Array(b * used);
    for (let r = 0; r < b; r++) for (let i = 0; i < used; i++) ids[r * used + i] = tokens[r * L + i]!;
    return tf.tidy(() => {
      const embedded = tf.reshape(tf.gather(this.w('token_embedding.weight'), tf.tensor1d(ids, 'int32')), [b, used, width]);
      let h = tf.add(embedded, tf.slice(this.w('positional_embedding'), [0, 0], [used, width])) as tf.Tensor3D;
      const mask = tf.slice(this.causalMask, [0, 0], [used, used]);
      for (let i = 0; i < layers; i++) h = this.block(h, `transformer.resblocks.${i}`, heads, mask);
      const rows = tf.tensor1d(pooledAt.map((p, r) => r * used + p), 'int32');
      const pooled = tf.gather(tf.reshape(h, [b * used, width]), rows);
      const normed = layerNorm(pooled, this.w('ln_final.weight'), this.w('ln_final.bias')) as tf.Tensor2D;
      return tf.matMul(normed, this.w('text_projection') as tf.Tensor2D);
    });
  }

  /** Frees the weight tensors. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const t of this.weights.values()) t.dispose();
    this.weights.clear();
    this.causalMask.dispose();
  }
}

/**
 * A randomly initialised state dict in OpenAI's layout and init scales
 * (`CLIP.initialize_parameters`), deterministic for a seed. For timing and
 * tests; real use loads trained weights.
 */
export function randomClipStateDict(config: ClipConfig, seed = 0): ClipStateDict {
  let state = seed >>> 0 || 1;
  // xorshift32 + Box-Muller: reproducible without tfjs' global RNG.
  const uniform = (): number => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return ((state >>> 0) + 0.5) / 4294967296;
  };
  const normal = (shape: number[], std: number): { shape: number[]; data: Float32Array } => {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) data[i] = std * Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
    return { shape, data };
  };
  const fill = (shape: number[], value: number): { shape: number[]; data: Float32Array } => ({ shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(value) });
  const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
  const tower = (prefix: string, d: number, layers: number): void => {
    const projStd = d ** -0.5 * (2 * layers) ** -0.5;
    for (let i = 0; i < layers; i++) {
      const p = `${prefix}.resblocks.${i}`;
      tensors.set(`${p}.attn.in_proj_weight`, normal([3 * d, d], d ** -0.5));
      tensors.set(`${p}.attn.in_proj_bias`, fill([3 * d], 0));
      tensors.set(`${p}.attn.out_proj.weight`, normal([d, d], projStd));
      tensors.set(`${p}.attn.out_proj.bias`, fill([d], 0));
      tensors.set(`${p}.mlp.c_fc.weight`, normal([4 * d, d], (2 * d) ** -0.5));
      tensors.set(`${p}.mlp.c_fc.bias`, fill([4 * d], 0));
      tensors.set(`${p}.mlp.c_proj.weight`, normal([d, 4 * d], projStd));
      tensors.set(`${p}.mlp.c_proj.bias`, fill([d], 0));
      for (const ln of ['ln_1', 'ln_2']) {
        tensors.set(`${p}.${ln}.weight`, fill([d], 1));
        tensors.set(`${p}.${ln}.bias`, fill([d], 0));
      }
    }
  };
  const vw = config.vision_width;
  const tw = config.transformer_width;
  const grid = config.image_resolution / config.vision_patch_size;
  tensors.set('visual.conv1.weight', normal([vw, 3, config.vision_patch_size, config.vision_patch_size], (3 * config.vision_patch_size ** 2) ** -0.5));
  tensors.set('visual.class_embedding', normal([vw], vw ** -0.5));
  tensors.set('visual.positional_embedding', normal([grid * grid + 1, vw], vw ** -0.5));
  tensors.set('visual.proj', normal([vw, config.embed_dim], vw ** -0.5));
  for (const ln of ['ln_pre', 'ln_post']) {
    tensors.set(`visual.${ln}.weight`, fill([vw], 1));
    tensors.set(`visual.${ln}.bias`, fill([vw], 0));
  }
  tower('visual.transformer', vw, config.vision_layers);
  tower('transformer', tw, config.transformer_layers);
  tensors.set('token_embedding.weight', normal([config.vocab_size, tw], 0.02));
  tensors.set('positional_embedding', normal([config.context_length, tw], 0.01));
  tensors.set('ln_final.weight', fill([tw], 1));
  tensors.set('ln_final.bias', fill([tw], 0));
  tensors.set('text_projection', normal([tw, config.embed_dim], tw ** -0.5));
  tensors.set('logit_scale', fill([], Math.log(1 / 0.07)));
  return { config, tensors };
}
