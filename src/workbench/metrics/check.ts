/**
 * Input checks shared by the metrics. Metrics are pure functions on typed arrays; the arrays
 * usually come from a file (k-NN table, embeddings store, manifest), so every check can name
 * that file via `source` and the offending position (0-based array index, reported 1-based as
 * the row when a file is named, assuming one array element per data row).
 */
import { CbirError } from '../errors.js';

/** Integer class codes: one per query / index row. */
export type Codes = Uint8Array | Uint16Array | Uint32Array | Int32Array | Int16Array | Int8Array;
/** Real-valued scores or values. */
export type Reals = Float32Array | Float64Array;

function fail(message: string, code: string, hint: string, source?: string, index?: number): never {
  throw new CbirError(message, {
    file: source,
    row: source !== undefined && index !== undefined ? index + 2 : undefined, // header is line 1
    hint,
    code,
  });
}

/** Throw unless `n` is a positive integer. */
export function checkPositiveInt(name: string, n: number, source?: string): void {
  if (!Number.isInteger(n) || n <= 0) {
    fail(
      `${name} must be a positive integer, got ${n}`,
      'metrics/bad-argument',
      `pass a whole number ≥ 1 for ${name}`,
      source,
    );
  }
}

/** Throw unless `a.length === expected`. */
export function checkLength(
  name: string,
  a: { length: number },
  expected: number,
  what: string,
  source?: string,
): void {
  if (a.length !== expected) {
    fail(
      `${name} has ${a.length} entries, expected ${expected} (${what})`,
      'metrics/length-mismatch',
      `make ${name} line up with the other inputs (${what})`,
      source,
    );
  }
}

/** Throw unless every code is an integer in [0, n). */
export function checkCodes(name: string, codes: ArrayLike<number>, n: number, source?: string): void {
  for (let i = 0; i < codes.length; i++) {
    const c = codes[i];
    if (!(c >= 0 && c < n) || !Number.isInteger(c)) {
      fail(
        `${name}[${i}] = ${c} is not a class code in 0..${n - 1}`,
        'metrics/label-out-of-range',
        `check entry ${i} of ${name}: codes must index the ${n} classes (is the class table the same one the labels were coded with?)`,
        source,
        i,
      );
    }
  }
}

/** Throw unless every value is finite (no NaN / ±Infinity). */
export function checkFinite(name: string, values: ArrayLike<number>, source?: string): void {
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i])) {
      fail(
        `${name}[${i}] = ${values[i]} is not a finite number`,
        'metrics/not-finite',
        `entry ${i} of ${name} is NaN or infinite; recompute or drop that row`,
        source,
        i,
      );
    }
  }
}

/** Throw unless every entry is 0 or 1. */
export function checkBinary(name: string, values: ArrayLike<number>, source?: string): void {
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v !== 0 && v !== 1) {
      fail(
        `${name}[${i}] = ${v} is not 0 or 1`,
        'metrics/not-binary',
        `binary metrics take 0/1 truth values; for class codes use the one-vs-rest version`,
        source,
        i,
      );
    }
  }
}

/** Throw unless every count is a non-negative integer. */
export function checkCounts(name: string, counts: ArrayLike<number>, source?: string): void {
  for (let i = 0; i < counts.length; i++) {
    const v = counts[i];
    if (!(v >= 0) || !Number.isInteger(v)) {
      fail(
        `${name}[${i}] = ${v} is not a non-negative count`,
        'metrics/bad-count',
        `${name} holds how many index images each class has; recount class ${i}`,
        source,
      );
    }
  }
}

/** Rows of a row-major matrix stored in `a` with `width` columns; throws unless it divides. */
export function rowsOf(name: string, a: { length: number }, width: number, source?: string): number {
  checkPositiveInt(`width of ${name}`, width, source);
  if (a.length % width !== 0) {
    fail(
      `${name} has ${a.length} entries, not a multiple of its width ${width}`,
      'metrics/length-mismatch',
      `${name} must be a row-major matrix with ${width} columns`,
      source,
    );
  }
  return a.length / width;
}

/** Throw a CbirError with the metrics conventions (used for checks specific to one metric). */
export function metricsError(message: string, code: string, hint: string, source?: string, index?: number): never {
  fail(message, code, hint, source, index);
}
