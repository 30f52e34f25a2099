/** Input checks shared by pca and tsne: shape and finiteness, as CbirErrors that say what to do. */
import { CbirError } from '../errors.js';

/**
 * Check that x is a Float32Array of n × d finite values (n, d positive integers). The first
 * non-finite value is reported with its 1-based row (and the `source` it came from, if given).
 */
export function checkMatrix(x: unknown, n: number, d: number, source: string | undefined, what: string): void {
  if (!(x instanceof Float32Array)) {
    throw new CbirError(`${what}: expected a Float32Array (n × d, row-major)`, {
      file: source,
      hint: 'pass the vectors as one Float32Array, e.g. from openEmbeddings(dir).readAll()',
      code: 'tsne/bad-input',
    });
  }
  if (!Number.isInteger(n) || n < 1 || !Number.isInteger(d) || d < 1) {
    throw new CbirError(`${what}: n = ${n} rows and d = ${d} dimensions must be positive integers`, {
      file: source,
      hint: 'pass the row count and the dimension of the vectors',
      code: 'tsne/bad-input',
    });
  }
  if (x.length !== n * d) {
    throw new CbirError(`${what}: ${x.length} values is not n × d = ${n} × ${d}`, {
      file: source,
      hint: 'check n and d against the array (row-major, one row per point)',
      code: 'tsne/bad-input',
    });
  }
  for (let i = 0; i < x.length; i++) {
    const v = x[i];
    if (v - v !== 0) {
      const row = Math.floor(i / d);
      throw new CbirError(`${what}: row ${row + 1} (0-based ${row}), dimension ${i % d} is ${v}`, {
        file: source,
        row: row + 1,
        hint: 'remove or re-embed that row (NaN/Infinity usually means a failed image); t-SNE needs finite vectors',
        code: 'tsne/non-finite',
      });
    }
  }
}
