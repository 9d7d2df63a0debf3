/**
 * The shipped in-house model: weights at packages/vlp/models/inhouse-cifar.safetensors
 * with a JSON sidecar (config, templates, training figures, fingerprint).
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadModuleWeights, readSidecar, saveModuleWeights, sidecarPath, type SavedWeights } from '@psic/core';
import { PsicError } from '@psic/entropy';
import { ClipTokenizer } from '../clip/tokenizer.js';
import { parseInhouseConfig } from './config.js';
import { INHOUSE_TARGET_NAME, InhouseClip } from './model.js';

export const INHOUSE_WEIGHTS_FILE = `${INHOUSE_TARGET_NAME}.safetensors`;
/** Written into the sidecar's `format`; a loader refuses other files. */
export const INHOUSE_FORMAT = 'psic-inhouse-contrastive/1';

/** <package>/models/inhouse-cifar.safetensors, from src/contrastive (tests) or dist (built). */
export function defaultInhouseWeightsPath(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [join(here, '..', 'models', INHOUSE_WEIGHTS_FILE), join(here, '..', '..', 'models', INHOUSE_WEIGHTS_FILE)];
  return candidates.find((p) => existsSync(p)) ?? candidates[0]!;
}

export interface LoadInhouseOptions {
  /** CLIP vocabulary (.txt.gz); the shared OpenAI vocabulary when absent. */
  vocab?: string;
  tokenizer?: ClipTokenizer;
}

/** Load an in-house model (default: the shipped one). The sidecar is required: it holds the architecture. */
export async function loadInhouseTarget(path = defaultInhouseWeightsPath(), opts: LoadInhouseOptions = {}): Promise<InhouseClip> {
  const sidecar = await readSidecar(sidecarPath(path)).catch((err: unknown) => {
    if (err instanceof PsicError && !existsSync(sidecarPath(path))) {
      throw new PsicError('BAD_WEIGHTS', `in-house model ${path} has no sidecar ${sidecarPath(path)} (it holds the architecture)`, { cause: err });
    }
    throw err;
  });
  if (sidecar.format !== INHOUSE_FORMAT) {
    throw new PsicError('BAD_WEIGHTS', `${sidecarPath(path)} is not an in-house contrastive model sidecar (format ${JSON.stringify(sidecar.format)})`);
  }
  const config = parseInhouseConfig(sidecar.config);
  const tokenizer = opts.tokenizer ?? (opts.vocab ? await ClipTokenizer.fromVocabFile(opts.vocab) : await ClipTokenizer.default());
  const name = typeof sidecar.name === 'string' ? sidecar.name : INHOUSE_TARGET_NAME;
  const model = new InhouseClip(config, tokenizer, { name });
  try {
    await loadModuleWeights(path, model, { requireSidecar: true });
    model.refreshVocabulary();
  } catch (err) {
    model.dispose();
    throw err;
  }
  return model;
}

/** Save weights + sidecar (format, config and `extra`: templates, training figures...). */
export async function saveInhouseTarget(model: InhouseClip, path: string, extra: Record<string, unknown> = {}): Promise<SavedWeights> {
  return saveModuleWeights(path, model, {
    name: model.name,
    format: INHOUSE_FORMAT,
    config: model.config,
    parameters: model.parameterCount(),
    tokenizer: 'OpenAI CLIP BPE (bpe_simple_vocab_16e6), compact table: row 0 = unknown, rows 1.. = token_ids',
    ...extra,
  });
}
