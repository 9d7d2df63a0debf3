/**
 * torch.save's format before PyTorch 1.6 (and with
 * `_use_new_zipfile_serialization=False`): five pickles back to back, then
 * the raw storages.
 *
 *   pickle  magic number 0x1950a86a20f9469cfc6c
 *   pickle  protocol version 1001
 *   pickle  sys_info {'protocol_version', 'little_endian', 'type_sizes'}
 *   pickle  the object; storages are persistent ids
 *           ('storage', type, root_key, location, numel, view_metadata)
 *   pickle  sorted list of the root keys
 *   per key: int64 little-endian element count, then count * element size bytes
 */
import { DTYPE_BYTES } from '../safetensors-dtypes.js';
import { badCheckpoint, tooLarge } from './errors.js';
import type { CheckpointLimits } from './limits.js';
import { PyDict, unpickle, type PyValue } from './pickle.js';
import { storageFromPersistentId, StorageRef } from './storage.js';

const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;
const LEGACY_PROTOCOL = 1001;

export interface LegacyCheckpoint {
  root: PyValue;
  /** root key -> its bytes (a view of the file) */
  storages: Map<string, Uint8Array>;
}

/** Does the file start like a legacy checkpoint (a pickle of the magic number)? */
export function looksLegacy(bytes: Uint8Array): boolean {
  // PROTO 2, LONG1 10 bytes
  return bytes.length > 4 && bytes[0] === 0x80 && bytes[2] === 0x8a && bytes[3] === 0x0a;
}

export function readLegacy(bytes: Uint8Array, limits: Required<CheckpointLimits>): LegacyCheckpoint {
  const pickleAt = (start: number, what: string, persistentLoad?: (pid: PyValue, at: string) => PyValue) => {
    const window = bytes.subarray(0, Math.min(bytes.length, start + limits.maxPickleBytes));
    try {
      return unpickle(window, start, { persistentLoad });
    } catch (err) {
      if (window.length < bytes.length && err instanceof Error && /truncated/.test(err.message)) {
        tooLarge(`legacy checkpoint: the ${what} pickle is longer than the limit of ${limits.maxPickleBytes} bytes`);
      }
      throw err;
    }
  };
  const magic = pickleAt(0, 'magic number');
  if (magic.value !== LEGACY_MAGIC) badCheckpoint('legacy checkpoint: wrong magic number (not a torch.save file)');
  const protocol = pickleAt(magic.end, 'protocol');
  if (protocol.value !== LEGACY_PROTOCOL) badCheckpoint(`legacy checkpoint: protocol ${String(protocol.value)}, only ${LEGACY_PROTOCOL} is known`);
  const sysInfo = pickleAt(protocol.end, 'sys_info');
  if (!(sysInfo.value instanceof PyDict) || sysInfo.value.entries.get('little_endian') !== true) {
    badCheckpoint('legacy checkpoint: written on a big-endian machine or without sys_info; not supported');
  }

  const roots = new Map<string, StorageRef>();
  const main = pickleAt(sysInfo.end, 'object', (pid, at) => {
    const ref = storageFromPersistentId(pid, at, limits, true);
    const known = roots.get(ref.key);
    if (known && (known.dtype !== ref.dtype || known.numel !== ref.rootNumel)) badCheckpoint(`${at}: storage "${ref.key}" is declared twice differently`);
    if (!known) roots.set(ref.key, new StorageRef(ref.dtype, ref.key, ref.rootNumel));
    return ref;
  });

  const keys = pickleAt(main.end, 'storage keys');
  if (!Array.isArray(keys.value) || !keys.value.every((k) => typeof k === 'string')) badCheckpoint('legacy checkpoint: storage key list is not a list of strings');
  const storages = new Map<string, Uint8Array>();
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = keys.end;
  for (const key of keys.value as string[]) {
    const root = roots.get(key);
    if (!root) badCheckpoint(`legacy checkpoint: storage "${key}" is listed but no tensor uses it`);
    if (storages.has(key)) badCheckpoint(`legacy checkpoint: storage "${key}" is listed twice`);
    if (pos + 8 > bytes.length) badCheckpoint(`legacy checkpoint: truncated before storage "${key}"`);
    const count = view.getBigInt64(pos, true);
    pos += 8;
    if (count !== BigInt(root.numel)) badCheckpoint(`legacy checkpoint: storage "${key}" holds ${count} elements, its id says ${root.numel}`);
    const length = root.numel * DTYPE_BYTES[root.dtype];
    if (length > bytes.length - pos) badCheckpoint(`legacy checkpoint: storage "${key}" needs ${length} bytes, ${bytes.length - pos} are left (truncated)`);
    storages.set(key, bytes.subarray(pos, pos + length));
    pos += length;
  }
  for (const key of roots.keys()) if (!storages.has(key)) badCheckpoint(`legacy checkpoint: storage "${key}" is used but not stored`);
  return { root: main.value, storages };
}
