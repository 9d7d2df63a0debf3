/**
 * Typed errors. Every failure caused by outside input (files, streams, keys,
 * weights, HTTP bodies) is a PsicError with a stable machine-readable code, so
 * callers (CLI, server) can map it to an exit status or an HTTP 4xx without
 * parsing messages.
 */
export class PsicError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PsicError';
    this.code = code;
  }
}

export type BitstreamErrorCode =
  | 'BAD_MAGIC'
  | 'UNSUPPORTED_VERSION'
  | 'TRUNCATED'
  | 'CHECKSUM'
  | 'TOO_LARGE'
  | 'MALFORMED'
  | 'CORRUPT_STREAM'
  | 'WRONG_MODEL';

/** A `.psic` container or an rANS stream that cannot be read. */
export class BitstreamError extends PsicError {
  declare readonly code: BitstreamErrorCode;
  constructor(code: BitstreamErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'BitstreamError';
  }
}
