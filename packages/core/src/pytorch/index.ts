/**
 * Safe reading of PyTorch checkpoints (.pth / .pth.tar / .safetensors): a
 * restricted unpickler that only understands state dicts, torch's zip and
 * legacy containers under size limits, and tensors materialised as typed arrays.
 */
export { readCheckpoint, readCheckpointFile, STATE_DICT_KEYS, type Checkpoint, type CheckpointFormat, type ReadCheckpointOptions } from './checkpoint.js';
export { CheckpointError, type CheckpointErrorCode } from './errors.js';
export { DEFAULT_CHECKPOINT_LIMITS, type CheckpointLimits } from './limits.js';
export { ALLOWED_GLOBALS, unpickle, PyDict, PyGlobal, PyTuple, TensorRef, type PyValue, type UnpickleOptions } from './pickle.js';
export { STORAGE_DTYPES, type CheckpointTensor } from './storage.js';
export {
  compressaiArchitectures,
  importCompressai,
  importedModelTensors,
  installStoredCodingTables,
  ENTROPY_BOTTLENECK,
  GAUSSIAN_CONDITIONAL,
  type CodingTables,
  type CompressaiArchitecture,
  type CompressaiImport,
  type ImportableBackbone,
} from './compressai-import.js';
export { cdfTablesFromTensors, cdfTablesToTensors, compareCdfTables, type CdfTableComparison } from './compressai-tables.js';
