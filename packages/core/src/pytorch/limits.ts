/** What the checkpoint reader accepts at most; every size in a file is checked against these before allocation. */
export interface CheckpointLimits {
  /** Largest file read, in bytes. Default 2 GiB. */
  maxFileBytes?: number;
  /** Largest pickle (data.pkl, or one pickle of the legacy format). Default 64 MiB. */
  maxPickleBytes?: number;
  /** Most entries in a zip container. Default 100,000. */
  maxZipEntries?: number;
  /** Largest uncompressed zip entry. Default 2 GiB. */
  maxEntryBytes?: number;
  /** Largest sum of the uncompressed sizes of all zip entries. Default 4 GiB. */
  maxTotalBytes?: number;
  /** Largest uncompressed / compressed ratio of a deflated entry over 64 KiB (zip bombs). Default 100. */
  maxCompressionRatio?: number;
  /** Most tensors materialised. Default 1,000,000. */
  maxTensors?: number;
  /** Most elements in one tensor or storage. Default 2^30. */
  maxTensorElements?: number;
  /** Most dimensions of a tensor. Default 16. */
  maxRank?: number;
}

export const DEFAULT_CHECKPOINT_LIMITS: Readonly<Required<CheckpointLimits>> = Object.freeze({
  maxFileBytes: 2 * 1024 ** 3,
  maxPickleBytes: 64 * 1024 ** 2,
  maxZipEntries: 100_000,
  maxEntryBytes: 2 * 1024 ** 3,
  maxTotalBytes: 4 * 1024 ** 3,
  maxCompressionRatio: 100,
  maxTensors: 1_000_000,
  maxTensorElements: 2 ** 30,
  maxRank: 16,
});

export function resolveLimits(limits?: CheckpointLimits): Required<CheckpointLimits> {
  return { ...DEFAULT_CHECKPOINT_LIMITS, ...limits };
}
