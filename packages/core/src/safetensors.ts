/**
 * Weights: the safetensors format (reader / writer), its element types, and
 * weight files on disk (module <-> file, JSON sidecar, fingerprint).
 */
export * from './safetensors-format.js';
export * from './safetensors-dtypes.js';
export * from './weights-file.js';
