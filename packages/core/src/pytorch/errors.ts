/**
 * Typed failures of the PyTorch checkpoint reader. Every problem with a file
 * is one of three codes, so a caller can tell "this file is broken" from
 * "this file tries to run code" from "this file is too big for the limits".
 */
import { PsicError } from '@psic/entropy';

export type CheckpointErrorCode =
  /** malformed, truncated or of a form the reader does not understand */
  | 'BAD_CHECKPOINT'
  /** the pickle names a global or an opcode outside the state-dict allow-list */
  | 'UNSAFE_CHECKPOINT'
  /** a size, count or compression ratio beyond the reader's limits */
  | 'CHECKPOINT_TOO_LARGE';

export class CheckpointError extends PsicError {
  declare readonly code: CheckpointErrorCode;
  constructor(code: CheckpointErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'CheckpointError';
  }
}

export function badCheckpoint(message: string, cause?: unknown): never {
  throw new CheckpointError('BAD_CHECKPOINT', message, cause === undefined ? undefined : { cause });
}

export function unsafeCheckpoint(message: string): never {
  throw new CheckpointError('UNSAFE_CHECKPOINT', message);
}

export function tooLarge(message: string): never {
  throw new CheckpointError('CHECKPOINT_TOO_LARGE', message);
}
