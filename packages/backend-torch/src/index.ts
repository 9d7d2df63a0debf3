/**
 * @psic/backend-torch — runs tfjs's convolution kernels (Conv2D, FusedConv2D
 * and both convolution gradients, so conv2dTranspose too) in libtorch
 * through a native addon, as kernel overrides on the wasm and/or cpu
 * backends; optionally also the element-wise ops and Sum on large tensors
 * (the GDN and bias gradients). Everything else keeps running on tfjs.
 *
 * The addon is optional: when it is missing or libtorch can't be loaded,
 * enableTorchKernels() logs one line and returns false; tfjs is untouched.
 */
import * as tf from '@tensorflow/tfjs-core';
import { availableParallelism } from 'node:os';
import { loadAddon, type AddonLoad, type TorchAddon } from './addon.js';
import { ELEMENTWISE_KERNELS } from './elementwise-kernels.js';
import { CONV_KERNELS } from './kernels.js';
import type { SupportedBackend } from './tensor-data.js';

export type { TorchAddon } from './addon.js';
export type { SupportedBackend } from './tensor-data.js';

export interface TorchKernelOptions {
  /** Backends to override; default both. A backend whose kernels aren't registered yet is skipped. */
  backends?: SupportedBackend[];
  /** Kernels to override; default all of TORCH_KERNEL_NAMES (CONV_KERNEL_NAMES when `elementwise` is false). */
  kernels?: string[];
  /** Also override element-wise ops and Sum (ELEMENTWISE_KERNEL_NAMES); default true. */
  elementwise?: boolean;
  /** Element-wise ops on fewer elements than this stay on tfjs; default 32768. */
  minElementwiseSize?: number;
  /** libtorch intra-op threads; default $PSIC_TORCH_THREADS or the machine's available parallelism. */
  threads?: number;
  /** Hand activations to torch as channels_last views (default, zero copy) or as NCHW copies. */
  channelsLast?: boolean;
  /** Where the one-line notices go (addon missing, first fallback of a kernel); default console.warn. */
  log?: (line: string) => void;
}

export interface TorchKernelStatus {
  enabled: boolean;
  /** Why the kernels are off, when they are. */
  reason?: string;
  torchVersion?: string;
  threads?: number;
  /** `${backend}/${kernel}` for every override in place. */
  overrides: string[];
}

const TORCH_KERNELS = { ...CONV_KERNELS, ...ELEMENTWISE_KERNELS };
export const CONV_KERNEL_NAMES: readonly string[] = Object.freeze(Object.keys(CONV_KERNELS));
export const ELEMENTWISE_KERNEL_NAMES: readonly string[] = Object.freeze(Object.keys(ELEMENTWISE_KERNELS));
export const TORCH_KERNEL_NAMES: readonly string[] = Object.freeze(Object.keys(TORCH_KERNELS));
const DEFAULT_MIN_ELEMENTWISE_SIZE = 32768;

const OURS = Symbol('psic-backend-torch');
type TaggedKernel = tf.KernelFunc & { [OURS]?: true };

interface Override {
  backendName: SupportedBackend;
  kernelName: string;
  original?: tf.KernelConfig;
}

let addonLoad: AddonLoad | undefined;
let threadsInUse: number | undefined;
const overrides = new Map<string, Override>();
const reportedFallbacks = new Set<string>();

function addon(log: (line: string) => void): TorchAddon | null {
  if (!addonLoad) {
    addonLoad = loadAddon();
    if (!addonLoad.addon) log(`@psic/backend-torch: torch kernels off: ${addonLoad.reason}`);
  }
  return addonLoad.addon;
}

/**
 * Registers the torch kernels. Returns true when at least one override is in
 * place, false (after one log line) when the addon is unavailable.
 * Call it after the tfjs backends have been imported. Idempotent.
 */
export function enableTorchKernels(options: TorchKernelOptions = {}): boolean {
  const log = options.log ?? ((line: string) => console.warn(line));
  const native = addon(log);
  if (!native) return false;
  const threads = options.threads ?? (Number(process.env.PSIC_TORCH_THREADS) || availableParallelism());
  threadsInUse = native.setNumThreads(threads);
  native.setChannelsLast(options.channelsLast ?? true);

  for (const backendName of options.backends ?? (['wasm', 'cpu'] as const)) {
    // Registering before the backend's own kernels would be undone when they load.
    if (tf.getKernelsForBackend(backendName).length === 0) continue;
    const kernelNames = options.kernels ?? (options.elementwise === false ? CONV_KERNEL_NAMES : TORCH_KERNEL_NAMES);
    for (const kernelName of kernelNames) {
      const factory = (TORCH_KERNELS as Record<string, (typeof TORCH_KERNELS)[keyof typeof TORCH_KERNELS]>)[kernelName];
      if (!factory) throw new RangeError(`@psic/backend-torch has no ${kernelName} kernel (it has ${TORCH_KERNEL_NAMES.join(', ')})`);
      const key = `${backendName}/${kernelName}`;
      if (overrides.has(key)) continue;
      const original = tf.getKernel(kernelName, backendName);
      if ((original?.kernelFunc as TaggedKernel | undefined)?.[OURS]) continue;
      const made = factory({
        addon: native,
        backendName,
        minElementwiseSize: options.minElementwiseSize ?? DEFAULT_MIN_ELEMENTWISE_SIZE,
        original: original?.kernelFunc,
        onFallback(name, reason) {
          const once = `${backendName}/${name}: ${reason}`;
          if (reportedFallbacks.has(once)) return;
          reportedFallbacks.add(once);
          log(`@psic/backend-torch: ${once}; using the tfjs kernel`);
        },
      });
      if (!made) continue; // this kernel doesn't apply to this backend
      const kernelFunc: TaggedKernel = made;
      kernelFunc[OURS] = true;
      if (original) tf.unregisterKernel(kernelName, backendName);
      // Keep the original's setupFunc: wasm kernels bind their wasm function there, and the fallback needs it.
      tf.registerKernel({ ...original, kernelName, backendName, kernelFunc });
      overrides.set(key, { backendName, kernelName, original });
    }
  }
  return overrides.size > 0;
}

/** Puts back the kernels enableTorchKernels replaced (and removes ones the backend never had). */
export function disableTorchKernels(): void {
  for (const [key, { backendName, kernelName, original }] of overrides) {
    tf.unregisterKernel(kernelName, backendName);
    if (original) tf.registerKernel(original);
    overrides.delete(key);
  }
}

export function torchKernelsStatus(): TorchKernelStatus {
  const native = addonLoad?.addon;
  return {
    enabled: overrides.size > 0,
    reason: addonLoad && !addonLoad.addon ? addonLoad.reason : undefined,
    torchVersion: native?.torchVersion,
    threads: threadsInUse,
    overrides: [...overrides.keys()],
  };
}

/** The loaded addon (for diagnostics and benchmarks), or null. Loads it if needed, silently. */
export function torchAddon(): TorchAddon | null {
  return addon(() => {});
}
