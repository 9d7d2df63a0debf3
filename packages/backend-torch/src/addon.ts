/**
 * Loads the optional native addon (native/build/Release/psic_torch.node). Loading
 * can fail in several ordinary ways — never built, libtorch not installed
 * (dlopen error), built for another Node ABI — and each becomes a reason
 * string instead of an exception, so callers can fall back to plain tfjs.
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** What the C++ side exports (native/addon.cc). Buffers are caller-allocated. */
export interface TorchAddon {
  readonly torchVersion: string;
  conv2d(geometry: Int32Array, x: Float32Array, filter: Float32Array, bias: Float32Array | null, activation: number, y: Float32Array): void;
  conv2dBackpropInput(geometry: Int32Array, dy: Float32Array, filter: Float32Array, dx: Float32Array): void;
  conv2dBackpropFilter(geometry: Int32Array, x: Float32Array, dy: Float32Array, dw: Float32Array): void;
  /** y = op(x); op codes in elementwise-kernels.ts. */
  unary(op: number, x: Float32Array, y: Float32Array): void;
  /** out = op(a, b), numpy broadcasting. */
  binary(op: number, a: Float32Array, aShape: Int32Array, b: Float32Array, bShape: Int32Array, out: Float32Array, outShape: Int32Array): void;
  /** out = x summed over axes (which are dropped from the shape). */
  sum(x: Float32Array, xShape: Int32Array, axes: Int32Array, out: Float32Array): void;
  setNumThreads(threads: number): number;
  setChannelsLast(on: boolean): void;
  convBackend(geometry: Int32Array): string;
}

export type AddonLoad = { addon: TorchAddon; path: string } | { addon: null; reason: string };

/** Where the addon is looked for: $PSIC_TORCH_ADDON, else the node-gyp output of this package. */
export function addonPath(): string {
  // src/ and dist/ sit at the same depth, so this resolves from both.
  return process.env.PSIC_TORCH_ADDON ?? fileURLToPath(new URL('../native/build/Release/psic_torch.node', import.meta.url));
}

export function loadAddon(): AddonLoad {
  if (process.env.PSIC_TORCH === '0') return { addon: null, reason: 'disabled by PSIC_TORCH=0' };
  const path = addonPath();
  if (!existsSync(path)) return { addon: null, reason: `addon not built (${path}); run npm run build:native in @psic/backend-torch` };
  // An idle OpenMP worker that spin-waits would steal a core from tfjs
  // between our kernels; libgomp reads this when libtorch is loaded.
  process.env.OMP_WAIT_POLICY ??= 'PASSIVE';
  try {
    const addon = createRequire(import.meta.url)(path) as TorchAddon;
    return { addon, path };
  } catch (error) {
    const message = error instanceof Error ? error.message.split('\n')[0] : String(error);
    return { addon: null, reason: `addon failed to load (${message})` };
  }
}
