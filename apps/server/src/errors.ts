/**
 * One table from error code to HTTP status, so every endpoint answers the
 * same failure the same way (README "Errors"). Codes are the PsicError codes
 * the packages throw, plus the server's own (BUSY, BODY_TOO_LARGE, ...).
 */
import { PsicError } from '@psic/entropy';

/** JSON body of every error response. */
export interface ErrorBody {
  error: { code: string; message: string };
}

const STATUS: Record<string, number> = {
  // the request itself is wrong
  USAGE: 400,
  BAD_REQUEST: 400,
  BAD_KEY: 400,
  KEY_IN_URL: 400,
  KEY_REQUIRED: 400,
  UNSUPPORTED_MODE: 400,
  UNKNOWN_MODEL: 400,
  BAD_INPUT: 400,
  BAD_DATA: 400,
  // the body is not what it claims to be
  BAD_IMAGE: 400,
  BAD_MAGIC: 400,
  UNSUPPORTED_VERSION: 400,
  TRUNCATED: 400,
  CHECKSUM: 400,
  MALFORMED: 400,
  CORRUPT_STREAM: 400,
  // the key was checked and refused (only models that can check a key say so)
  WRONG_KEY: 403,
  NOT_FOUND: 404,
  REQUEST_TIMEOUT: 408,
  // too big: body bytes, image pixels, stream dimensions
  BODY_TOO_LARGE: 413,
  IMAGE_TOO_LARGE: 413,
  TOO_LARGE: 413,
  UNSUPPORTED_FORMAT: 415,
  // well-formed but not decodable here
  WRONG_MODEL: 422,
  TIME_BUDGET: 422,
  LABELS_UNAVAILABLE: 501,
  JOBS_UNAVAILABLE: 501,
  BUSY: 503,
  NOT_READY: 503,
};

export function statusForCode(code: string): number {
  return STATUS[code] ?? 500;
}

/** Every documented code with its status, for the README and the OpenAPI description. */
export function documentedCodes(): Record<string, number> {
  return { ...STATUS };
}

/** A PsicError that also says how long a client should wait before retrying (503). */
export class RetryableError extends PsicError {
  constructor(
    code: string,
    message: string,
    readonly retryAfterSeconds: number,
  ) {
    super(code, message);
    this.name = 'RetryableError';
  }
}

/** Fastify's own errors for body size, content type and timeouts, renamed into our codes. */
export function codeForFrameworkError(err: { code?: string; statusCode?: number }): string | undefined {
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return 'BODY_TOO_LARGE';
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_TYPE':
    case 'FST_ERR_CTP_INVALID_TYPE':
      return err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' ? 'UNSUPPORTED_FORMAT' : 'BAD_REQUEST';
    case 'FST_ERR_VALIDATION':
      return 'BAD_REQUEST';
    default:
      break;
  }
  if (err.statusCode === 408) return 'REQUEST_TIMEOUT';
  if (err.statusCode === 413) return 'BODY_TOO_LARGE';
  if (err.statusCode === 415) return 'UNSUPPORTED_FORMAT';
  if (err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500) return 'BAD_REQUEST';
  return undefined;
}
