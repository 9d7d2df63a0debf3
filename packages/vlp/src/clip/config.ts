/**
 * CLIP model sizes in OpenAI's own argument names (`clip.model.CLIP(...)`),
 * with the ViT-B/32 numbers built in and the rule `build_model` uses to read
 * them off a state dict, so a checkpoint loads without a config file.
 */
import { PsicError } from '@psic/entropy';

export interface ClipConfig {
  embed_dim: number;
  image_resolution: number;
  /** Transformer blocks of the image tower (OpenAI's ResNet variants, a 4-tuple here, are not supported). */
  vision_layers: number;
  vision_width: number;
  vision_patch_size: number;
  context_length: number;
  vocab_size: number;
  transformer_width: number;
  transformer_heads: number;
  transformer_layers: number;
}

const KEYS: (keyof ClipConfig)[] = [
  'embed_dim', 'image_resolution', 'vision_layers', 'vision_width', 'vision_patch_size',
  'context_length', 'vocab_size', 'transformer_width', 'transformer_heads', 'transformer_layers',
];

/** OpenAI's ViT-B/32 (the `ViT-B/32` entry of `clip.available_models()`). */
export const VIT_B_32: Readonly<ClipConfig> = Object.freeze({
  embed_dim: 512,
  image_resolution: 224,
  vision_layers: 12,
  vision_width: 768,
  vision_patch_size: 32,
  context_length: 77,
  vocab_size: 49408,
  transformer_width: 512,
  transformer_heads: 8,
  transformer_layers: 12,
});

/** CLIP hard-codes 64-wide heads in the image tower. */
export function visionHeads(config: ClipConfig): number {
  return Math.floor(config.vision_width / 64);
}

/** Checks a parsed config.json (or any object) and returns it typed; PsicError('BAD_CONFIG') naming the bad field. */
export function parseClipConfig(value: unknown): ClipConfig {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new PsicError('BAD_CONFIG', 'CLIP config must be a JSON object with OpenAI\'s CLIP(...) argument names');
  }
  const obj = value as Record<string, unknown>;
  if (Array.isArray(obj['vision_layers'])) {
    throw new PsicError('BAD_CONFIG', 'CLIP config: ResNet image towers (vision_layers as a list) are not supported, only ViT');
  }
  const out = {} as ClipConfig;
  for (const key of KEYS) {
    const v = obj[key];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) {
      throw new PsicError('BAD_CONFIG', `CLIP config: "${key}" must be a positive integer, got ${JSON.stringify(v)}`);
    }
    out[key] = v;
  }
  if (out.image_resolution % out.vision_patch_size !== 0) {
    throw new PsicError('BAD_CONFIG', `CLIP config: image_resolution ${out.image_resolution} is not a multiple of vision_patch_size ${out.vision_patch_size}`);
  }
  if (out.vision_width < 64) {
    throw new PsicError('BAD_CONFIG', `CLIP config: vision_width ${out.vision_width} must be at least 64 (heads = width // 64)`);
  }
  if (out.transformer_width % out.transformer_heads !== 0) {
    throw new PsicError('BAD_CONFIG', `CLIP config: transformer_width ${out.transformer_width} is not divisible by transformer_heads ${out.transformer_heads}`);
  }
  if (out.vision_width % visionHeads(out) !== 0) {
    throw new PsicError('BAD_CONFIG', `CLIP config: vision_width ${out.vision_width} is not divisible by its ${visionHeads(out)} heads`);
  }
  return out;
}

/** `clip.model.build_model`'s reading of the sizes from OpenAI state-dict shapes (text heads = width // 64, as there). */
export function configFromShapes(shapes: Map<string, number[]>): ClipConfig {
  const need = (name: string): number[] => {
    const s = shapes.get(name);
    if (!s) throw new PsicError('BAD_WEIGHTS', `CLIP weights have no "${name}"; expected OpenAI state-dict names`);
    return s;
  };
  const countBlocks = (prefix: string): number => {
    const ids = new Set<number>();
    for (const name of shapes.keys()) {
      const m = name.startsWith(prefix) ? /^(\d+)\./.exec(name.slice(prefix.length)) : null;
      if (m) ids.add(Number(m[1]));
    }
    return ids.size;
  };
  const conv1 = need('visual.conv1.weight');
  const positions = need('visual.positional_embedding')[0]!;
  const grid = Math.round(Math.sqrt(positions - 1));
  const width = need('ln_final.weight')[0]!;
  return parseClipConfig({
    embed_dim: need('text_projection')[1],
    image_resolution: conv1[3]! * grid,
    vision_layers: countBlocks('visual.transformer.resblocks.'),
    vision_width: conv1[0],
    vision_patch_size: conv1[3],
    context_length: need('positional_embedding')[0],
    vocab_size: need('token_embedding.weight')[0],
    transformer_width: width,
    transformer_heads: Math.floor(width / 64),
    transformer_layers: countBlocks('transformer.resblocks.'),
  });
}

/** The shape every OpenAI state-dict tensor must have under `config`. */
export function expectedShapes(config: ClipConfig): Map<string, number[]> {
  const s = new Map<string, number[]>();
  const vw = config.vision_width;
  const tw = config.transformer_width;
  const grid = config.image_resolution / config.vision_patch_size;
  const block = (prefix: string, d: number): void => {
    s.set(`${prefix}.attn.in_proj_weight`, [3 * d, d]);
    s.set(`${prefix}.attn.in_proj_bias`, [3 * d]);
    s.set(`${prefix}.attn.out_proj.weight`, [d, d]);
    s.set(`${prefix}.attn.out_proj.bias`, [d]);
    s.set(`${prefix}.ln_1.weight`, [d]);
    s.set(`${prefix}.ln_1.bias`, [d]);
    s.set(`${prefix}.mlp.c_fc.weight`, [4 * d, d]);
    s.set(`${prefix}.mlp.c_fc.bias`, [4 * d]);
    s.set(`${prefix}.mlp.c_proj.weight`, [d, 4 * d]);
    s.set(`${prefix}.mlp.c_proj.bias`, [d]);
    s.set(`${prefix}.ln_2.weight`, [d]);
    s.set(`${prefix}.ln_2.bias`, [d]);
  };
  s.set('visual.class_embedding', [vw]);
  s.set('visual.positional_embedding', [grid * grid + 1, vw]);
  s.set('visual.proj', [vw, config.embed_dim]);
  s.set('visual.conv1.weight', [vw, 3, config.vision_patch_size, config.vision_patch_size]);
  s.set('visual.ln_pre.weight', [vw]);
  s.set('visual.ln_pre.bias', [vw]);
  s.set('visual.ln_post.weight', [vw]);
  s.set('visual.ln_post.bias', [vw]);
  for (let i = 0; i < config.vision_layers; i++) block(`visual.transformer.resblocks.${i}`, vw);
  s.set('positional_embedding', [config.context_length, tw]);
  s.set('text_projection', [tw, config.embed_dim]);
  s.set('logit_scale', []);
  s.set('token_embedding.weight', [config.vocab_size, tw]);
  s.set('ln_final.weight', [tw]);
  s.set('ln_final.bias', [tw]);
  for (let i = 0; i < config.transformer_layers; i++) block(`transformer.resblocks.${i}`, tw);
  return s;
}
