import type { ErrorCode } from './error-codes.js';

/** A position in a source file: 1-based line and column. */
export interface SourcePosition {
  readonly line: number;
  readonly column: number;
}

export interface SourceRange {
  readonly start: SourcePosition;
  readonly end: SourcePosition;
}

export interface SourceLocation {
  readonly file: string;
  readonly range: SourceRange;
}

export interface StagecraftErrorOptions {
  /** What the user can do about it. */
  readonly hint?: string | undefined;
  readonly cause?: unknown;
  readonly location?: SourceLocation | undefined;
}

/**
 * A failure the user can cause and fix. Bugs stay plain `Error`s. The CLI renders `message`, the
 * location (with an excerpt of the file) and `hint`; it prints a stack only with `--debug`.
 */
export class StagecraftError extends Error {
  readonly code: ErrorCode;
  readonly hint: string | undefined;
  readonly location: SourceLocation | undefined;

  constructor(code: ErrorCode, message: string, options: StagecraftErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'StagecraftError';
    this.code = code;
    this.hint = options.hint;
    this.location = options.location;
  }

  /** A copy of this error that carries a source location (keeps an existing one). */
  withLocation(location: SourceLocation): StagecraftError {
    if (this.location !== undefined) return this;
    return new StagecraftError(this.code, this.message, { hint: this.hint, cause: this.cause, location });
  }
}

export function isStagecraftError(value: unknown): value is StagecraftError {
  return value instanceof StagecraftError;
}
