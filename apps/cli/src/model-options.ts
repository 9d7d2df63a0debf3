import { selectBackend } from '@psic/core';
import { DEFAULT_MODEL, loadModel, modelForQuality, type LoadedModel } from '@psic/zoo';
import { intOption, type Options } from './args.js';

export const MODEL_OPTIONS: Options = {
  model: { type: 'string', short: 'm' },
  quality: { type: 'string', short: 'q' },
  backend: { type: 'string' },
};

export const MODEL_HELP = `  -m, --model NAME    shipped model name or path to a .safetensors file (default ${DEFAULT_MODEL}; see psic models)
  -q, --quality Q     rate point of the default backbone, 1 = smallest files (instead of --model)
  --backend NAME      tensor backend: auto, tensorflow, wasm, cpu (default auto; or PSIC_BACKEND)`;

export async function loadCliModel(values: Record<string, unknown>): Promise<LoadedModel> {
  await selectBackend((values.backend as string | undefined) ?? 'auto');
  const name = values.model !== undefined ? String(values.model) : values.quality !== undefined ? modelForQuality(intOption(values, 'quality', 1)) : DEFAULT_MODEL;
  return loadModel(name);
}
