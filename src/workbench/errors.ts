/**
 * One error type for everything a user can get wrong. The message always says
 * where (file, row) and what to do (hint), so a CLI can print it as is.
 */
export interface CbirErrorDetails {
  /** File the problem is in (path as the user gave it). */
  file?: string;
  /** 1-based row or line number in that file, counting the header as line 1. */
  row?: number;
  /** What the user should do about it. */
  hint?: string;
  /** Machine-readable code, e.g. 'manifest/missing-column'. */
  code?: string;
  cause?: unknown;
}

export class CbirError extends Error {
  readonly file?: string;
  readonly row?: number;
  readonly hint?: string;
  readonly code?: string;

  constructor(message: string, details: CbirErrorDetails = {}) {
    const where = details.file ? `${details.file}${details.row !== undefined ? `:${details.row}` : ''}: ` : '';
    const hint = details.hint ? `\n  → ${details.hint}` : '';
    super(`${where}${message}${hint}`, details.cause !== undefined ? { cause: details.cause } : undefined);
    this.name = 'CbirError';
    this.file = details.file;
    this.row = details.row;
    this.hint = details.hint;
    this.code = details.code;
  }
}

export function isCbirError(e: unknown): e is CbirError {
  return e instanceof CbirError;
}

/** The message of anything thrown: an Error's message, else its string form. */
export function errorMessage(e: unknown): string {
  if (e instanceof Error) return e.message;
  if (typeof e === 'object' && e !== null && typeof (e as { message?: unknown }).message === 'string') {
    return (e as { message: string }).message;
  }
  return String(e);
}

/** The errno-style code of a thrown value (`'ENOENT'`, `'ERR_PARSE_ARGS_UNKNOWN_OPTION'`, …), or undefined. */
export function errorCode(e: unknown): string | undefined {
  const c = typeof e === 'object' && e !== null ? (e as { code?: unknown }).code : undefined;
  return typeof c === 'string' ? c : undefined;
}
