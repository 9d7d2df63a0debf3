/**
 * Weight files on disk: a safetensors file holding a module's variables in
 * PyTorch layout under their CompressAI names (so a CompressAI state dict
 * loads directly, and our files load in PyTorch), next to a JSON sidecar
 * (config, training figures, and the weights' fingerprint).
 *
 * `model.safetensors` pairs with `model.json`. Both are written to a
 * temporary file and renamed, so a crash never leaves a half-written file;
 * the sidecar's fingerprint catches a pair that got out of step.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { basename } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { PsicError } from '@psic/entropy';
import { fromTorchLayout, toTorchLayout, torchLayoutOf, torchShapeOf } from './layers/torch-layout.js';
import { DEFAULT_SAFETENSORS_LIMITS, readSafetensors, writeSafetensors, type SafeTensor, type SafetensorsLimits } from './safetensors-format.js';

/** Bytes of SHA-256 kept as the weights' identity (what the .psic container stores). */
export const FINGERPRINT_BYTES = 8;
/** Largest sidecar accepted. */
export const MAX_SIDECAR_BYTES = 16 * 1024 * 1024;

/** Anything that reports its variables by name: a layer, a Sequential, a whole backbone. */
export interface HasNamedVariables {
  namedVariables(): Record<string, tf.Variable>;
}

/** First 8 bytes of SHA-256 over the weight file's bytes. */
export function fingerprintWeights(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(bytes).digest().subarray(0, FINGERPRINT_BYTES));
}

export function fingerprintHex(fingerprint: Uint8Array): string {
  return Buffer.from(fingerprint).toString('hex');
}

/** `x.safetensors` -> `x.json`; any other name gets `.json` appended. */
export function sidecarPath(weightsPath: string): string {
  return weightsPath.endsWith('.safetensors') ? `${weightsPath.slice(0, -'.safetensors'.length)}.json` : `${weightsPath}.json`;
}

/** Write `data` to `path` through a temporary file in the same folder and a rename. */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const temp = `${path}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
  try {
    await writeFile(temp, data, { flush: true });
    await rename(temp, path);
  } catch (err) {
    await unlink(temp).catch(() => {});
    throw err;
  }
}

export async function writeSidecar(path: string, obj: Record<string, unknown>): Promise<void> {
  await writeFileAtomic(path, `${JSON.stringify(obj, null, 2)}\n`);
}

/** Read a sidecar JSON object; a missing file, an oversized or malformed one is PsicError('BAD_WEIGHTS'). */
export async function readSidecar(path: string): Promise<Record<string, unknown>> {
  const size = await fileSize(path, 'sidecar');
  if (size > MAX_SIDECAR_BYTES) throw new PsicError('BAD_WEIGHTS', `sidecar ${path} is ${size} bytes, more than ${MAX_SIDECAR_BYTES}`);
  let value: unknown;
  try {
    value = JSON.parse(await readFile(path, 'utf8'));
  } catch (err) {
    throw new PsicError('BAD_WEIGHTS', `sidecar ${path} is not valid JSON (${(err as Error).message})`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new PsicError('BAD_WEIGHTS', `sidecar ${path} must hold a JSON object`);
  }
  return value as Record<string, unknown>;
}

/** The module's variables as PyTorch-layout float32 tensors, keyed by name. */
export function collectWeights(module: HasNamedVariables): Map<string, SafeTensor> {
  const out = new Map<string, SafeTensor>();
  for (const [name, v] of Object.entries(module.namedVariables())) {
    const torch = toTorchLayout({ data: v.dataSync() as Float32Array, shape: v.shape }, torchLayoutOf(v));
    out.set(name, { dtype: 'F32', shape: torch.shape, data: torch.data });
  }
  return out;
}

/**
 * Assign PyTorch-layout tensors to the module's variables by name. Every
 * variable must find a float tensor of the right shape (else BAD_WEIGHTS
 * naming the key); nothing is assigned unless all of them do. Returns the
 * names in `tensors` the module did not use (e.g. CompressAI's buffers).
 *
 * With `partial`, variables without a tensor of the same name and shape keep
 * their values and are listed in `missing` (warm-starting one architecture
 * from another that shares layers, e.g. a checkerboard model from a hyperprior).
 */
export function assignWeights(
  module: HasNamedVariables,
  tensors: Map<string, SafeTensor>,
  opts: { partial?: boolean } = {},
): { unusedKeys: string[]; missing: string[] } {
  const variables = Object.entries(module.namedVariables());
  const staged: [tf.Variable, Float32Array][] = [];
  const missing: string[] = [];
  const used = new Set<string>();
  for (const [name, v] of variables) {
    const t = tensors.get(name);
    const layout = torchLayoutOf(v);
    const expected = torchShapeOf(v.shape, layout);
    if (opts.partial && (!t || !sameShape(t.shape, expected))) {
      missing.push(name);
      continue;
    }
    if (!t) throw new PsicError('BAD_WEIGHTS', `weights have no tensor "${name}"`);
    if (!sameShape(t.shape, expected)) {
      throw new PsicError('BAD_WEIGHTS', `tensor "${name}" has shape [${t.shape}], the model expects [${expected}]`);
    }
    used.add(name);
    const data = toFloat32(name, t);
    staged.push([v, fromTorchLayout({ data, shape: t.shape }, layout).data]);
  }
  for (const [v, data] of staged) {
    const value = tf.tensor(data, v.shape, 'float32');
    v.assign(value);
    value.dispose();
  }
  return { unusedKeys: [...tensors.keys()].filter((k) => !used.has(k)), missing };
}

export interface SavedWeights {
  fingerprint: Uint8Array;
  weightsPath: string;
  sidecarPath: string;
}

/**
 * Save `module`'s variables to `path` (safetensors, PyTorch layout) and the
 * sidecar next to it; the sidecar gets `fingerprint` (hex) and `weights`
 * (the weight file's name) added.
 */
export async function saveModuleWeights(path: string, module: HasNamedVariables, sidecar: Record<string, unknown> = {}): Promise<SavedWeights> {
  const bytes = writeSafetensors(collectWeights(module), { format: 'pt' });
  const fingerprint = fingerprintWeights(bytes);
  await writeFileAtomic(path, bytes);
  const side = sidecarPath(path);
  await writeSidecar(side, { ...sidecar, weights: basename(path), fingerprint: fingerprintHex(fingerprint) });
  return { fingerprint, weightsPath: path, sidecarPath: side };
}

export interface LoadedWeights {
  fingerprint: Uint8Array;
  /** The sidecar's content, or undefined when there is none (e.g. a CompressAI export). */
  sidecar?: Record<string, unknown>;
  metadata: Record<string, string>;
  unusedKeys: string[];
  /** With `partial`: the module's variables the file had no matching tensor for (left as they were). */
  missing: string[];
}

/**
 * Load a safetensors weight file into `module` (all-or-nothing). When a
 * sidecar exists and names a fingerprint, the file must match it.
 */
export async function loadModuleWeights(
  path: string,
  module: HasNamedVariables,
  opts: { limits?: SafetensorsLimits; requireSidecar?: boolean; partial?: boolean } = {},
): Promise<LoadedWeights> {
  const limits = { ...DEFAULT_SAFETENSORS_LIMITS, ...opts.limits };
  const size = await fileSize(path, 'weight file');
  if (size > 8 + limits.maxHeaderBytes + limits.maxDataBytes) {
    throw new PsicError('BAD_WEIGHTS', `weight file ${path} is ${size} bytes, more than the limits allow`);
  }
  const bytes = new Uint8Array(await readFile(path));
  const fingerprint = fingerprintWeights(bytes);

  const side = sidecarPath(path);
  const sidecar = (await exists(side)) ? await readSidecar(side) : undefined;
  if (!sidecar && opts.requireSidecar) throw new PsicError('BAD_WEIGHTS', `weight file ${path} has no sidecar ${side}`);
  if (sidecar && typeof sidecar.fingerprint === 'string' && sidecar.fingerprint !== fingerprintHex(fingerprint)) {
    throw new PsicError(
      'BAD_WEIGHTS',
      `weight file ${path} (fingerprint ${fingerprintHex(fingerprint)}) does not match its sidecar (fingerprint ${sidecar.fingerprint})`,
    );
  }
  const file = readSafetensors(bytes, limits);
  const { unusedKeys, missing } = assignWeights(module, file.tensors, { partial: opts.partial });
  return { fingerprint, sidecar, metadata: file.metadata, unusedKeys, missing };
}

function toFloat32(name: string, t: SafeTensor): Float32Array {
  if (t.data instanceof Float32Array) return t.data;
  if (t.data instanceof Float64Array) return Float32Array.from(t.data);
  throw new PsicError('BAD_WEIGHTS', `tensor "${name}" is ${t.dtype}, a float type is needed`);
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

async function fileSize(path: string, what: string): Promise<number> {
  try {
    const s = await stat(path);
    if (!s.isFile()) throw new PsicError('BAD_WEIGHTS', `${what} ${path} is not a file`);
    return s.size;
  } catch (err) {
    if (err instanceof PsicError) throw err;
    throw new PsicError('BAD_WEIGHTS', `cannot read ${what} ${path}: ${(err as Error).message}`, { cause: err });
  }
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}
