/**
 * Picks the fastest tensor backend present and makes it ready for training.
 *
 * Order for 'auto': TensorFlow with a GPU (@tensorflow/tfjs-node-gpu),
 * TensorFlow on the CPU (@tensorflow/tfjs-node), WebAssembly, plain JS cpu.
 * The tfjs-node packages are optional dependencies (their install downloads
 * libtensorflow, which fails on offline machines), so they are imported
 * dynamically and skipped when absent. A name can be forced by the caller
 * (e.g. the CLI's --backend) or by the PSIC_BACKEND environment variable.
 *
 * tfjs-core registers no gradients by itself; selectBackend registers them,
 * and on wasm also the gradient kernels that backend lacks (wasm-kernels.ts).
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { existsSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { PsicError } from '@psic/entropy';
import { registerFastConv2dBackpropFilter } from './kernels/conv2d-backprop-filter.js';
import { registerFastConv2dBackpropInput } from './kernels/conv2d-backprop-input.js';
import { registerWasmGradientKernels } from './wasm-kernels.js';

export { CPU_BRIDGED_WASM_KERNELS, registerWasmGradientKernels } from './wasm-kernels.js';

export type BackendName = 'tensorflow' | 'wasm' | 'cpu';
export type BackendPreference = BackendName | 'auto';

export const BACKEND_ENV_VAR = 'PSIC_BACKEND';
const KNOWN: readonly BackendPreference[] = ['auto', 'tensorflow', 'wasm', 'cpu'];

export interface SelectBackendOptions {
  /** Where the "backend: <name>" line goes; default stderr. */
  log?: (msg: string) => void;
  /** Environment to read PSIC_BACKEND from; default process.env. */
  env?: Record<string, string | undefined>;
}

let lastAnnounced: string | undefined;

/**
 * Select, initialise and return the tfjs backend name ('tensorflow', 'wasm' or 'cpu').
 * A concrete `preferred` wins; 'auto' or nothing defers to PSIC_BACKEND, then
 * to the auto order. A forced backend that cannot start is an error
 * (PsicError 'BACKEND_UNAVAILABLE'); an unknown name is PsicError 'BAD_BACKEND'.
 * Logs "backend: <name>" once per change of backend.
 */
export async function selectBackend(preferred?: BackendPreference | string, opts: SelectBackendOptions = {}): Promise<BackendName> {
  const env = opts.env ?? process.env;
  const log = opts.log ?? ((msg: string) => process.stderr.write(`${msg}\n`));
  const wanted = resolvePreference(preferred, env[BACKEND_ENV_VAR]);
  // Inference works without gradients, so a failed registration only warns.
  await registerGradients().catch((err: Error) => {
    log(`warning: tfjs gradients could not be registered, training will fail (${err.message})`);
  });

  let chosen: { name: BackendName; detail: string } | undefined;
  if (wanted === 'auto') {
    chosen = (await tryTensorflow()) ?? (await tryWasm()) ?? (await tryCpu());
  } else {
    const attempt = wanted === 'tensorflow' ? tryTensorflow : wanted === 'wasm' ? tryWasm : tryCpu;
    chosen = await attempt();
  }
  if (!chosen) {
    const hint = wanted === 'tensorflow' ? ' (install @tensorflow/tfjs-node or @tensorflow/tfjs-node-gpu)' : '';
    throw new PsicError('BACKEND_UNAVAILABLE', `backend "${wanted}" could not be started${hint}`);
  }

  const torch = chosen.name === 'tensorflow' ? undefined : await enableTorch(chosen.name, env, log);
  const details = [chosen.detail, torch].filter(Boolean).join(', ');
  const line = `backend: ${chosen.name}${details ? ` (${details})` : ''}`;
  if (line !== lastAnnounced) {
    log(line);
    lastAnnounced = line;
  }
  return chosen.name;
}

/**
 * Route the convolutions (and large element-wise ops) to libtorch through the
 * optional @psic/backend-torch addon when it is built: ~10x faster training
 * on wasm. Registered after our own kernels so it takes precedence; the
 * entropy path is fixed-point, so streams stay bit-exact either way.
 * PSIC_TORCH=0 turns it off.
 */
async function enableTorch(backend: 'wasm' | 'cpu', env: Record<string, string | undefined>, log: (msg: string) => void): Promise<string | undefined> {
  if (env.PSIC_TORCH === '0') return undefined;
  try {
    const torch = await import('@psic/backend-torch');
    const quiet = env.PSIC_TORCH !== '1'; // a missing addon is normal; say so only when asked for explicitly
    const ok = torch.enableTorchKernels({ backends: [backend], log: quiet ? () => {} : log });
    return ok ? 'torch kernels' : undefined;
  } catch (err) {
    if (env.PSIC_TORCH === '1') log(`torch kernels unavailable: ${(err as Error).message}`);
    return undefined;
  }
}

/** The explicit choice if concrete, else the environment's, else 'auto'. */
export function resolvePreference(preferred: string | undefined, fromEnv: string | undefined): BackendPreference {
  const explicit = normalise(preferred, 'backend');
  if (explicit && explicit !== 'auto') return explicit;
  return normalise(fromEnv, BACKEND_ENV_VAR) ?? 'auto';
}

function normalise(value: string | undefined, source: string): BackendPreference | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const v = value.trim().toLowerCase();
  if (!(KNOWN as readonly string[]).includes(v)) {
    throw new PsicError('BAD_BACKEND', `unknown ${source} "${value}"; choose one of ${KNOWN.join(', ')}`);
  }
  return v as BackendPreference;
}

let gradientsLoaded: Promise<void> | undefined;

/**
 * Register tfjs's gradient functions. tfjs-core ships them in a separate ESM
 * module whose extensionless imports Node cannot load; the @tensorflow/tfjs
 * union package's Node (CommonJS) bundle registers them against the shared
 * tfjs-core, so importing it is the reliable way.
 */
export function registerGradients(): Promise<void> {
  gradientsLoaded ??= (async () => {
    if (tf.getGradient('Conv2D')) return; // someone (e.g. @tensorflow/tfjs or tfjs-node) already did
    await import('@tensorflow/tfjs');
  })();
  return gradientsLoaded;
}

type Attempt = () => Promise<{ name: BackendName; detail: string } | undefined>;

/** Whether a tfjs-node package is installed together with its native binding (its `lib` folder). */
export function hasNativeBinding(pkg: string): boolean {
  try {
    const dir = dirname(createRequire(import.meta.url).resolve(`${pkg}/package.json`));
    return existsSync(join(dir, 'lib'));
  } catch {
    return false;
  }
}

const tryTensorflow: Attempt = async () => {
  for (const [pkg, detail] of [
    ['@tensorflow/tfjs-node-gpu', 'GPU'],
    ['@tensorflow/tfjs-node', 'CPU'],
  ] as const) {
    // An install whose download of libtensorflow failed leaves the JS without its native binding;
    // importing that half-package registers every kernel and then throws, so look before importing.
    if (!hasNativeBinding(pkg)) continue;
    if (!(await importOptional(pkg))) continue;
    if (await activate('tensorflow')) return { name: 'tensorflow', detail: `${pkg}, ${detail}` };
  }
  return undefined;
};

const tryWasm: Attempt = async () => {
  await import('@tensorflow/tfjs-backend-cpu'); // the bridged gradient kernels run on it
  const wasm = await import('@tensorflow/tfjs-backend-wasm');
  // Load the .wasm binaries from the installed package (works offline under Node).
  wasm.setWasmPaths(`${dirname(createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm'))}/`);
  registerWasmGradientKernels();
  registerFastConv2dBackpropFilter(['wasm']);
  registerFastConv2dBackpropInput(['wasm']);
  if (!(await activate('wasm'))) return undefined;
  silenceCpuBanner(); // bridged kernels use the cpu backend
  const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
  return { name: 'wasm', detail: simd ? 'SIMD' : 'no SIMD' };
};

const tryCpu: Attempt = async () => {
  await import('@tensorflow/tfjs-backend-cpu');
  registerFastConv2dBackpropFilter(['cpu']);
  silenceCpuBanner();
  return (await activate('cpu')) ? { name: 'cpu', detail: '' } : undefined;
};

/**
 * tfjs's cpu backend prints a multi-line "install tfjs-node" banner on first
 * use, into the CLI's stderr; we already chose and announced the backend.
 */
function silenceCpuBanner(): void {
  const cpu = tf.engine().findBackend('cpu') as { firstUse?: boolean } | null;
  if (cpu) cpu.firstUse = false;
}

/** setBackend resolves false (and logs) rather than throwing when a backend fails to initialise. */
async function activate(name: string): Promise<boolean> {
  try {
    if (!(await tf.setBackend(name))) return false;
    await tf.ready();
    return tf.getBackend() === name;
  } catch {
    return false;
  }
}

/** Import an optional package; undefined when it is not installed or fails to load (missing native library). */
async function importOptional(pkg: string): Promise<unknown> {
  try {
    return await import(/* @vite-ignore */ pkg);
  } catch {
    return undefined;
  }
}
