/**
 * CLIP weights from a `.safetensors` file: OpenAI state-dict names (as in
 * OpenAI's checkpoints and the golden fixture), F32 or F16/BF16 (widened to
 * float32 on read), or Hugging Face `CLIPModel` names, which are renamed and
 * re-stacked into OpenAI's layout. Every tensor's shape is checked against
 * the config before any is used.
 */
import { readFile } from 'node:fs/promises';
import { readSafetensors, type SafeTensor } from '@psic/core';
import { PsicError } from '@psic/entropy';
import { configFromShapes, expectedShapes, parseClipConfig, type ClipConfig } from './config.js';

export interface ClipStateDict {
  config: ClipConfig;
  /** OpenAI name -> float32 values, row-major in the PyTorch shape. */
  tensors: Map<string, { shape: number[]; data: Float32Array }>;
}

/** Integer buffers OpenAI's state dict carries but `build_model` drops; HF's position_ids likewise. */
const IGNORED = /^(input_resolution|context_length|vocab_size)$|position_ids$/;

function toFloat32(name: string, t: SafeTensor): Float32Array {
  if (t.data instanceof Float32Array) return t.data;
  if (t.data instanceof Float64Array) return Float32Array.from(t.data);
  throw new PsicError('BAD_WEIGHTS', `CLIP tensor "${name}" has dtype ${t.dtype}; expected a float type`);
}

/** Hugging Face CLIPModel names -> OpenAI's, stacking q/k/v and transposing the two projections. */
function fromHuggingFace(hf: Map<string, { shape: number[]; data: Float32Array }>): Map<string, { shape: number[]; data: Float32Array }> {
  const out = new Map<string, { shape: number[]; data: Float32Array }>();
  const take = (name: string): { shape: number[]; data: Float32Array } => {
    const t = hf.get(name);
    if (!t) throw new PsicError('BAD_WEIGHTS', `Hugging Face CLIP weights lack "${name}"`);
    return t;
  };
  const transpose = (t: { shape: number[]; data: Float32Array }): { shape: number[]; data: Float32Array } => {
    const [r, c] = t.shape as [number, number];
    const data = new Float32Array(r * c);
    for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) data[j * r + i] = t.data[i * c + j]!;
    return { shape: [c, r], data };
  };
  const stack = (parts: { shape: number[]; data: Float32Array }[]): { shape: number[]; data: Float32Array } => {
    const data = new Float32Array(parts.reduce((n, p) => n + p.data.length, 0));
    let o = 0;
    for (const p of parts) {
      data.set(p.data, o);
      o += p.data.length;
    }
    return { shape: [parts.reduce((n, p) => n + p.shape[0]!, 0), ...parts[0]!.shape.slice(1)], data };
  };
  const tower = (hfPrefix: string, oaPrefix: string): void => {
    const layers = new Set<number>();
    for (const name of hf.keys()) {
      const m = new RegExp(`^${hfPrefix.replaceAll('.', '\\.')}\\.encoder\\.layers\\.(\\d+)\\.`).exec(name);
      if (m) layers.add(Number(m[1]));
    }
    for (const i of layers) {
      const h = `${hfPrefix}.encoder.layers.${i}`;
      const o = `${oaPrefix}resblocks.${i}`;
      for (const kind of ['weight', 'bias']) {
        out.set(`${o}.attn.in_proj_${kind}`, stack(['q', 'k', 'v'].map((p) => take(`${h}.self_attn.${p}_proj.${kind}`))));
        out.set(`${o}.attn.out_proj.${kind}`, take(`${h}.self_attn.out_proj.${kind}`));
        out.set(`${o}.ln_1.${kind}`, take(`${h}.layer_norm1.${kind}`));
        out.set(`${o}.ln_2.${kind}`, take(`${h}.layer_norm2.${kind}`));
        out.set(`${o}.mlp.c_fc.${kind}`, take(`${h}.mlp.fc1.${kind}`));
        out.set(`${o}.mlp.c_proj.${kind}`, take(`${h}.mlp.fc2.${kind}`));
      }
    }
  };
  tower('vision_model', 'visual.transformer.');
  tower('text_model', 'transformer.');
  out.set('visual.class_embedding', take('vision_model.embeddings.class_embedding'));
  out.set('visual.conv1.weight', take('vision_model.embeddings.patch_embedding.weight'));
  out.set('visual.positional_embedding', take('vision_model.embeddings.position_embedding.weight'));
  for (const kind of ['weight', 'bias']) {
    out.set(`visual.ln_pre.${kind}`, take(`vision_model.pre_layrnorm.${kind}`));
    out.set(`visual.ln_post.${kind}`, take(`vision_model.post_layernorm.${kind}`));
    out.set(`ln_final.${kind}`, take(`text_model.final_layer_norm.${kind}`));
  }
  out.set('visual.proj', transpose(take('visual_projection.weight')));
  out.set('text_projection', transpose(take('text_projection.weight')));
  out.set('token_embedding.weight', take('text_model.embeddings.token_embedding.weight'));
  out.set('positional_embedding', take('text_model.embeddings.position_embedding.weight'));
  const scale = take('logit_scale');
  out.set('logit_scale', { shape: [], data: scale.data });
  return out;
}

/**
 * Parses CLIP weights. Without `config` the sizes are read off the shapes as
 * OpenAI's `build_model` does (text heads = width // 64); with one, every
 * shape must match it. PsicError('BAD_WEIGHTS') names any missing, extra or
 * misshapen tensor.
 */
export function parseClipWeights(bytes: Uint8Array, config?: ClipConfig | Record<string, unknown>): ClipStateDict {
  const file = readSafetensors(bytes);
  let tensors = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const [name, t] of file.tensors) {
    if (IGNORED.test(name)) continue;
    tensors.set(name, { shape: t.shape, data: toFloat32(name, t) });
  }
  if (!tensors.has('visual.conv1.weight') && tensors.has('vision_model.embeddings.patch_embedding.weight')) {
    tensors = fromHuggingFace(tensors);
  }
  const shapes = new Map([...tensors].map(([k, v]) => [k, v.shape]));
  const cfg = config ? parseClipConfig(config) : configFromShapes(shapes);
  const expected = expectedShapes(cfg);
  for (const [name, shape] of expected) {
    const got = shapes.get(name);
    if (!got) throw new PsicError('BAD_WEIGHTS', `CLIP weights have no "${name}" (shape [${shape}])`);
    // A 1-element logit_scale stored as [1] is accepted as the scalar it is.
    const same = got.length === shape.length && got.every((d, i) => d === shape[i]);
    if (!same && !(name === 'logit_scale' && got.length <= 1 && tensors.get(name)!.data.length === 1)) {
      throw new PsicError('BAD_WEIGHTS', `CLIP tensor "${name}" has shape [${got}], the config needs [${shape}]`);
    }
  }
  const extra = [...tensors.keys()].filter((k) => !expected.has(k));
  if (extra.length > 0) {
    throw new PsicError('BAD_WEIGHTS', `CLIP weights have ${extra.length} tensor(s) the config does not use, e.g. "${extra[0]}" (ResNet towers are not supported)`);
  }
  return { config: cfg, tensors };
}

/** Reads and parses a `.safetensors` file (see parseClipWeights). */
export async function readClipWeights(file: string, config?: ClipConfig | Record<string, unknown>): Promise<ClipStateDict> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (err) {
    throw new PsicError('NOT_FOUND', `cannot read CLIP weights ${file}: ${(err as Error).message}`, { cause: err });
  }
  return parseClipWeights(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), config);
}

/** Reads a config.json with OpenAI's CLIP(...) argument names. */
export async function readClipConfig(file: string): Promise<ClipConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new PsicError('NOT_FOUND', `cannot read CLIP config ${file}: ${(err as Error).message}`, { cause: err });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new PsicError('BAD_CONFIG', `CLIP config ${file} is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  return parseClipConfig(json);
}
