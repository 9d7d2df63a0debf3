import { selectBackend, type CodecModel } from '@psic/core';
import { PsicError } from '@psic/entropy';
import { OnnxRunner, withOnnxRuntime } from '@psic/onnx';
import { DEFAULT_MODEL, loadModel, modelForQuality, type LoadedModel } from '@psic/zoo';
import { intOption, type Options } from './args.js';

/** The --runtime / --threads options, shared with commands that load models their own way (eval). */
export const RUNTIME_OPTIONS: Options = { runtime: { type: 'string' }, threads: { type: 'string' } };

export const RUNTIME_HELP = `  --runtime NAME      where the float transforms run: onnx (onnxruntime, default) or tfjs
                      (or PSIC_RUNTIME); streams decode the same with either
  --threads N         onnxruntime threads (default: all cores)`;

export const MODEL_OPTIONS: Options = {
  model: { type: 'string', short: 'm' },
  quality: { type: 'string', short: 'q' },
  backend: { type: 'string' },
  ...RUNTIME_OPTIONS,
};

export const MODEL_HELP = `  -m, --model NAME    shipped model name or path to a .safetensors file (default ${DEFAULT_MODEL}; see psic models)
  -q, --quality Q     rate point of the default backbone, 1 = smallest files (instead of --model)
  --backend NAME      tensor backend: auto, tensorflow, wasm, cpu (default auto; or PSIC_BACKEND)
${RUNTIME_HELP}`;

export type Runtime = 'onnx' | 'tfjs';
export const RUNTIME_ENV_VAR = 'PSIC_RUNTIME';

/** --runtime, else PSIC_RUNTIME, else onnx. */
export function runtimeOption(values: Record<string, unknown>, env: Record<string, string | undefined> = process.env): Runtime {
  const raw = (values.runtime as string | undefined) ?? (env[RUNTIME_ENV_VAR] || 'onnx');
  const v = raw.trim().toLowerCase();
  if (v !== 'onnx' && v !== 'tfjs') throw new PsicError('USAGE', `--runtime takes onnx or tfjs, not "${raw}"`);
  return v;
}

let runner: OnnxRunner | undefined;

/** `model` with its float transforms on the runtime the options ask for (sessions shared by every model of the process). */
export function withCliRuntime<T extends CodecModel>(model: T, values: Record<string, unknown>): T {
  if (runtimeOption(values) === 'tfjs') return model;
  runner ??= new OnnxRunner({ threads: values.threads !== undefined ? intOption(values, 'threads', 1) : undefined });
  return withOnnxRuntime(model, { runner });
}

/**
 * Start the tfjs backend for `runtime`. On onnx, tfjs only carries the
 * entropy path's small tensors, so the optional libtorch kernels (~150 MB
 * resident, slow to load) stay off unless PSIC_TORCH asks for them.
 */
export async function selectCliBackend(values: Record<string, unknown>, runtime: Runtime = runtimeOption(values)): Promise<void> {
  const env = runtime === 'onnx' ? { ...process.env, PSIC_TORCH: process.env.PSIC_TORCH || '0' } : process.env;
  await selectBackend((values.backend as string | undefined) ?? 'auto', { env });
}

export async function loadCliModel(values: Record<string, unknown>): Promise<LoadedModel> {
  await selectCliBackend(values); // a bad --runtime fails here, before any loading
  const name = values.model !== undefined ? String(values.model) : values.quality !== undefined ? modelForQuality(intOption(values, 'quality', 1)) : DEFAULT_MODEL;
  return withCliRuntime(await loadModel(name), values);
}
