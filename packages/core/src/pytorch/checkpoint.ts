/**
 * Read the state dict out of a PyTorch checkpoint without running it:
 * torch's zip container (PyTorch >= 1.6), the legacy pickle-stream format,
 * or a .safetensors file. The state dict is the pickled object itself or the
 * dict under one of the usual wrapper keys ({"state_dict": ...} as
 * CompressAI's examples/train.py saves, "model_state_dict", "network", ...).
 */
import { readFile, stat } from 'node:fs/promises';
import { readSafetensors } from '../safetensors-format.js';
import { CheckpointError, badCheckpoint, tooLarge } from './errors.js';
import { resolveLimits, type CheckpointLimits } from './limits.js';
import { looksLegacy, readLegacy } from './legacy.js';
import { PyDict, TensorRef, describe, unpickle, type PyValue } from './pickle.js';
import { checkTensorView, materializeTensor, storageFromPersistentId, type CheckpointTensor, type StorageRef } from './storage.js';
import { ZipArchive } from './zip.js';
import { DTYPE_BYTES } from '../safetensors-dtypes.js';

export type CheckpointFormat = 'torch-zip' | 'torch-legacy' | 'safetensors';

export interface Checkpoint {
  format: CheckpointFormat;
  /** The state dict's tensors by name, in file order; floats as F32. */
  tensors: Map<string, CheckpointTensor>;
  /** Where the state dict was: '' for a bare one, else its key in the outer dict. */
  stateDictKey: string;
  /** State-dict entries that are not tensors (left out). */
  skippedKeys: string[];
  /** safetensors `__metadata__` ({} for torch files). */
  metadata: Record<string, string>;
}

export interface ReadCheckpointOptions {
  limits?: CheckpointLimits;
  /** Take the state dict from this key of the outer dict instead of guessing. */
  stateDictKey?: string;
}

/** How many times over a state dict's tensors may view its storages (tied weights, float16 widened to float32). */
const MAX_VIEW_EXPANSION = 4;
const MAX_VIEW_SLACK_BYTES = 1 << 20;

/** Outer-dict keys that hold the state dict in common training checkpoints, tried in this order. */
export const STATE_DICT_KEYS = ['state_dict', 'model_state_dict', 'network', 'model', 'net'] as const;

export async function readCheckpointFile(path: string, opts: ReadCheckpointOptions = {}): Promise<Checkpoint> {
  const limits = resolveLimits(opts.limits);
  let size: number;
  try {
    const s = await stat(path);
    if (!s.isFile()) badCheckpoint(`${path} is not a file`);
    size = s.size;
  } catch (err) {
    if (err instanceof CheckpointError) throw err;
    return badCheckpoint(`cannot read checkpoint ${path}: ${(err as Error).message}`, err);
  }
  if (size > limits.maxFileBytes) tooLarge(`checkpoint ${path} is ${size} bytes, more than the limit of ${limits.maxFileBytes}`);
  return readCheckpoint(new Uint8Array(await readFile(path)), opts);
}

export async function readCheckpoint(bytes: Uint8Array, opts: ReadCheckpointOptions = {}): Promise<Checkpoint> {
  const limits = resolveLimits(opts.limits);
  if (bytes.length > limits.maxFileBytes) tooLarge(`checkpoint is ${bytes.length} bytes, more than the limit of ${limits.maxFileBytes}`);
  if (bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b) return readZipCheckpoint(bytes, limits, opts.stateDictKey);
  if (looksLegacy(bytes)) return readLegacyCheckpoint(bytes, limits, opts.stateDictKey);
  if (looksSafetensors(bytes)) return readSafetensorsCheckpoint(bytes, limits);
  if (bytes.length >= 512 && String.fromCharCode(...bytes.subarray(257, 262)) === 'ustar') {
    badCheckpoint('this is a tar checkpoint of PyTorch < 0.4, which is not supported; re-save it with a newer torch.save');
  }
  return badCheckpoint('not a PyTorch checkpoint (zip or legacy) nor a safetensors file');
}

// ---------------------------------------------------------------- formats

async function readZipCheckpoint(bytes: Uint8Array, limits: Required<CheckpointLimits>, stateDictKey?: string): Promise<Checkpoint> {
  const zip = await ZipArchive.open(bytes, limits);
  try {
    const pickles = zip.names().filter((n) => /^[^/]+\/data\.pkl$/.test(n));
    if (pickles.length !== 1) badCheckpoint(`zip holds ${pickles.length} top-level data.pkl entries; a torch checkpoint has exactly one`);
    const prefix = pickles[0]!.slice(0, -'data.pkl'.length);
    if (zip.has(`${prefix}byteorder`)) {
      const order = new TextDecoder().decode(await zip.read(`${prefix}byteorder`)).trim();
      if (order !== 'little') badCheckpoint(`checkpoint was written ${order}-endian; only little-endian is supported`);
    }
    if (zip.size(pickles[0]!) > limits.maxPickleBytes) tooLarge(`data.pkl is ${zip.size(pickles[0]!)} bytes, more than the limit of ${limits.maxPickleBytes}`);
    const pickle = await zip.read(pickles[0]!);
    const { value } = unpickle(pickle, 0, { persistentLoad: (pid, at) => storageFromPersistentId(pid, at, limits, false) });
    const found = findStateDict(value, stateDictKey);
    const cache = new Map<string, Uint8Array>();
    const tensors = await materializeAll(found.refs, limits, async (storage) => {
      let data = cache.get(storage.key);
      if (!data) {
        const name = `${prefix}data/${storage.key}`;
        if (!zip.has(name)) badCheckpoint(`storage "${storage.key}" has no entry ${name}`);
        const expected = storage.rootNumel * DTYPE_BYTES[storage.dtype];
        if (zip.size(name) !== expected) badCheckpoint(`storage "${storage.key}" is ${zip.size(name)} bytes, its id declares ${expected}`);
        data = await zip.read(name);
        cache.set(storage.key, data);
      }
      return data;
    });
    return { format: 'torch-zip', tensors, stateDictKey: found.key, skippedKeys: found.skipped, metadata: {} };
  } finally {
    zip.close();
  }
}

async function readLegacyCheckpoint(bytes: Uint8Array, limits: Required<CheckpointLimits>, stateDictKey?: string): Promise<Checkpoint> {
  const legacy = readLegacy(bytes, limits);
  const found = findStateDict(legacy.root, stateDictKey);
  const tensors = await materializeAll(found.refs, limits, async (storage) => legacy.storages.get(storage.key)!);
  return { format: 'torch-legacy', tensors, stateDictKey: found.key, skippedKeys: found.skipped, metadata: {} };
}

function looksSafetensors(bytes: Uint8Array): boolean {
  return bytes.length >= 10 && bytes[8] === 0x7b && bytes[4] === 0 && bytes[5] === 0 && bytes[6] === 0 && bytes[7] === 0;
}

function readSafetensorsCheckpoint(bytes: Uint8Array, limits: Required<CheckpointLimits>): Checkpoint {
  let file;
  try {
    file = readSafetensors(bytes, { maxDataBytes: limits.maxTotalBytes, maxTensors: limits.maxTensors, maxRank: limits.maxRank });
  } catch (err) {
    return badCheckpoint((err as Error).message, err);
  }
  const tensors = new Map<string, CheckpointTensor>();
  for (const [name, t] of file.tensors) {
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (count > limits.maxTensorElements) tooLarge(`tensor "${name}" has ${count} elements, more than the limit of ${limits.maxTensorElements}`);
    if (t.dtype === 'F64') tensors.set(name, { dtype: 'F32', shape: t.shape, data: Float32Array.from(t.data as Float64Array), sourceDtype: 'F64' });
    else if (t.dtype === 'F16' || t.dtype === 'BF16') tensors.set(name, { dtype: 'F32', shape: t.shape, data: t.data, sourceDtype: t.dtype });
    else tensors.set(name, { ...t, sourceDtype: t.dtype });
  }
  return { format: 'safetensors', tensors, stateDictKey: '', skippedKeys: [], metadata: file.metadata };
}

// ---------------------------------------------------------------- state dict

interface FoundStateDict {
  key: string;
  refs: [string, TensorRef][];
  skipped: string[];
}

function findStateDict(root: PyValue, requested?: string): FoundStateDict {
  if (!(root instanceof PyDict)) badCheckpoint(`checkpoint holds a ${describe(root)}, not a state dict`);
  if (requested !== undefined) {
    const inner = root.entries.get(requested);
    if (!(inner instanceof PyDict)) badCheckpoint(`checkpoint has no dict under "${requested}" (keys: ${keyList(root)})`);
    const found = tensorsOf(inner, requested);
    if (found.refs.length === 0) badCheckpoint(`the dict under "${requested}" holds no tensors`);
    return found;
  }
  if ([...root.entries.values()].some((v) => v instanceof TensorRef)) return tensorsOf(root, '');
  for (const key of STATE_DICT_KEYS) {
    const inner = root.entries.get(key);
    if (inner instanceof PyDict && [...inner.entries.values()].some((v) => v instanceof TensorRef)) return tensorsOf(inner, key);
  }
  return badCheckpoint(`no state dict found: the checkpoint is a dict without tensors under ${STATE_DICT_KEYS.join(', ')} (keys: ${keyList(root)})`);
}

function tensorsOf(dict: PyDict, key: string): FoundStateDict {
  const refs: [string, TensorRef][] = [];
  const skipped: string[] = [];
  for (const [k, v] of dict.entries) {
    if (typeof k === 'string' && v instanceof TensorRef) refs.push([k, v]);
    else skipped.push(String(k));
  }
  for (const [k] of dict.otherEntries) skipped.push(describe(k));
  return { key, refs, skipped };
}

function keyList(dict: PyDict): string {
  const keys = [...dict.entries.keys()].map(String);
  return keys.length ? keys.slice(0, 10).join(', ') + (keys.length > 10 ? ', ...' : '') : '(none)';
}

/** Validate every view first, then copy: a bad tensor late in the dict costs no allocation. */
async function materializeAll(
  refs: [string, TensorRef][],
  limits: Required<CheckpointLimits>,
  bytesOf: (storage: StorageRef) => Promise<Uint8Array>,
): Promise<Map<string, CheckpointTensor>> {
  if (refs.length > limits.maxTensors) tooLarge(`state dict has ${refs.length} tensors, more than the limit of ${limits.maxTensors}`);
  const checked = refs.map(([name, ref]) => ({ name, ref, ...checkTensorView(ref, `tensor "${name}"`, limits) }));
  // Views may overlap (zero strides, many tensors on one storage): bound what the copies add up to,
  // in absolute terms and relative to the storage bytes actually in the file.
  const storageBytes = new Map(checked.map(({ storage }) => [storage.key, storage.rootNumel * DTYPE_BYTES[storage.dtype]]));
  const stored = [...storageBytes.values()].reduce((a, b) => a + b, 0);
  const dense = checked.reduce((sum, { storage, count }) => sum + count * Math.max(4, DTYPE_BYTES[storage.dtype]), 0);
  if (dense > limits.maxTotalBytes) tooLarge(`the state dict's tensors add up to ${dense} bytes, more than the limit of ${limits.maxTotalBytes}`);
  if (dense > MAX_VIEW_EXPANSION * stored + MAX_VIEW_SLACK_BYTES) {
    tooLarge(`the state dict's tensors (${dense} bytes) view their ${stored} bytes of storage more than ${MAX_VIEW_EXPANSION} times over`);
  }
  const tensors = new Map<string, CheckpointTensor>();
  for (const { name, ref, storage, count } of checked) {
    tensors.set(name, materializeTensor(ref, storage, count, await bytesOf(storage), `tensor "${name}"`));
  }
  return tensors;
}
