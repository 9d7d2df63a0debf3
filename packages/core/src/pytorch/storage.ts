/**
 * From the pickle's description of a tensor (a storage, an offset, a shape
 * and strides) to a dense row-major typed array. The storage's bytes come
 * from the container; every index the view can reach is checked to lie
 * inside them before anything is allocated. Float tensors of every precision
 * come out as Float32Array (float64 rounded, float16 / bfloat16 widened).
 */
import { decodeElements, DTYPE_BYTES, type SafeDtype } from '../safetensors-dtypes.js';
import type { SafeTensor } from '../safetensors-format.js';
import { badCheckpoint, tooLarge } from './errors.js';
import type { CheckpointLimits } from './limits.js';
import { PyGlobal, PyTuple, TensorRef, describe, type PersistentRef, type PyValue } from './pickle.js';

/** torch storage class -> element type (safetensors names). */
export const STORAGE_DTYPES: Readonly<Record<string, SafeDtype>> = Object.freeze({
  'torch.FloatStorage': 'F32',
  'torch.DoubleStorage': 'F64',
  'torch.HalfStorage': 'F16',
  'torch.BFloat16Storage': 'BF16',
  'torch.LongStorage': 'I64',
  'torch.IntStorage': 'I32',
  'torch.ShortStorage': 'I16',
  'torch.CharStorage': 'I8',
  'torch.ByteStorage': 'U8',
  'torch.BoolStorage': 'BOOL',
});

/** A tensor read from a checkpoint: float data always as F32; `sourceDtype` says what the file held. */
export interface CheckpointTensor extends SafeTensor {
  sourceDtype: SafeDtype;
}

/** One storage named by a persistent id: its element type, size and where its bytes are. */
export class StorageRef implements PersistentRef {
  readonly persistent = true as const;
  constructor(
    readonly dtype: SafeDtype,
    /** the container's key for the bytes (zip entry data/<key>, legacy root key) */
    readonly key: string,
    /** elements in the storage (the view, for a legacy view) */
    readonly numel: number,
    /** first element of this storage inside the keyed bytes (legacy views), else 0 */
    readonly elementOffset = 0,
    /** elements of the keyed root storage (differs from numel for a legacy view) */
    readonly rootNumel = numel,
  ) {}
}

/**
 * Parse a persistent id ('storage', storage_type, key, location, numel[, view_metadata]).
 * `allowView` accepts the legacy format's view_metadata (view_key, offset, size).
 */
export function storageFromPersistentId(pid: PyValue, at: string, limits: Required<CheckpointLimits>, allowView: boolean): StorageRef {
  if (!(pid instanceof PyTuple)) badCheckpoint(`${at}: persistent id is a ${describe(pid)}, not a tuple`);
  const [tag, type, key, location, numel, view] = pid.items;
  if (tag !== 'storage') badCheckpoint(`${at}: persistent id of kind ${JSON.stringify(tag)}, only 'storage' is known`);
  if (pid.items.length !== 5 && !(allowView && pid.items.length === 6)) badCheckpoint(`${at}: storage id has ${pid.items.length} fields`);
  if (!(type instanceof PyGlobal) || !(type.qualifiedName in STORAGE_DTYPES)) badCheckpoint(`${at}: storage type ${describe(type)} is not a known storage`);
  if (typeof key !== 'string' || !/^[A-Za-z0-9_.-]{1,200}$/.test(key)) badCheckpoint(`${at}: storage key ${JSON.stringify(key)} is not a plain name`);
  if (typeof location !== 'string') badCheckpoint(`${at}: storage location is not a string`);
  if (typeof numel !== 'number' || !Number.isSafeInteger(numel) || numel < 0) badCheckpoint(`${at}: storage size ${String(numel)} is not a count`);
  if (numel > limits.maxTensorElements) tooLarge(`${at}: storage of ${numel} elements exceeds the limit of ${limits.maxTensorElements}`);
  const dtype = STORAGE_DTYPES[type.qualifiedName]!;
  if (view === undefined || view === null) return new StorageRef(dtype, key, numel);
  // legacy view: (view_key, offset, view_size) into the root storage `key`
  if (!(view instanceof PyTuple) || view.items.length !== 3) badCheckpoint(`${at}: storage view metadata is not (key, offset, size)`);
  const [, offset, size] = view.items;
  if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0) badCheckpoint(`${at}: storage view offset ${String(offset)}`);
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0 || offset + size > numel) {
    badCheckpoint(`${at}: storage view [${offset}, ${offset}+${String(size)}) lies outside its ${numel}-element root`);
  }
  return new StorageRef(dtype, key, size, offset, numel);
}

/** Bytes the view of `ref` can touch, validated; the element count of the result. */
export function checkTensorView(ref: TensorRef, where: string, limits: Required<CheckpointLimits>): { storage: StorageRef; count: number } {
  const storage = ref.storage;
  if (!(storage instanceof StorageRef)) badCheckpoint(`${where}: tensor storage is a ${describe(storage)}`);
  if (ref.shape.length > limits.maxRank) badCheckpoint(`${where}: ${ref.shape.length} dimensions, more than ${limits.maxRank}`);
  // Multiply in floating point: a hostile shape may overflow, but then it exceeds the limit anyway.
  const count = ref.shape.reduce((a, b) => a * b, 1);
  if (count > limits.maxTensorElements) tooLarge(`${where}: tensor of ${count} elements exceeds the limit of ${limits.maxTensorElements}`);
  if (count > 0) {
    let last = ref.offset;
    ref.shape.forEach((d, i) => (last += (d - 1) * ref.stride[i]!));
    if (!(last < storage.numel)) {
      badCheckpoint(`${where}: shape [${ref.shape}] with stride [${ref.stride}] at offset ${ref.offset} reaches element ${last} of a ${storage.numel}-element storage`);
    }
  }
  return { storage, count };
}

/**
 * Dense copy of a validated view. `bytes` holds the storage's root (its
 * elements from `storage.elementOffset` on). Floats become Float32Array.
 */
export function materializeTensor(ref: TensorRef, storage: StorageRef, count: number, bytes: Uint8Array, where: string): CheckpointTensor {
  const size = DTYPE_BYTES[storage.dtype];
  const base = storage.elementOffset + ref.offset;
  if (storage.rootNumel * size > bytes.length) {
    badCheckpoint(`${where}: storage "${storage.key}" has ${bytes.length} bytes, its id declares ${storage.rootNumel * size}`);
  }
  const dense = new Uint8Array(count * size);
  if (isContiguous(ref.shape, ref.stride)) {
    dense.set(bytes.subarray(base * size, (base + count) * size));
  } else {
    const index = new Array<number>(ref.shape.length).fill(0);
    for (let i = 0; i < count; i++) {
      let element = base;
      for (let d = 0; d < index.length; d++) element += index[d]! * ref.stride[d]!;
      dense.set(bytes.subarray(element * size, (element + 1) * size), i * size);
      for (let d = index.length - 1; d >= 0; d--) {
        if (++index[d]! < ref.shape[d]!) break;
        index[d] = 0;
      }
    }
  }
  const data = decodeElements(storage.dtype, dense);
  const shape = [...ref.shape];
  if (storage.dtype === 'F64') return { dtype: 'F32', shape, data: Float32Array.from(data as Float64Array), sourceDtype: 'F64' };
  if (storage.dtype === 'F16' || storage.dtype === 'BF16') return { dtype: 'F32', shape, data, sourceDtype: storage.dtype };
  return { dtype: storage.dtype, shape, data, sourceDtype: storage.dtype };
}

/** Row-major strides for the shape (size-1 dimensions may have any stride). */
function isContiguous(shape: readonly number[], stride: readonly number[]): boolean {
  let expected = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    if (shape[d] !== 1 && stride[d] !== expected) return false;
    expected *= shape[d]!;
  }
  return true;
}
