/** Class-stratified subsampling of rows, for maps of large sets. */
import { CbirError } from '../errors.js';
import { Rng } from '../util/rng.js';

/** How many rows to keep: at most `maxPerClass` of each class, or `total` in all (proportional). */
export type SampleLimit = { maxPerClass: number } | { total: number };

/**
 * Seeded class-stratified sample of row indices (ascending). `{ maxPerClass }` keeps
 * min(size_c, maxPerClass) random rows of each class c; `{ total }` keeps ⌊total·size_c/n⌋ rows
 * of each class plus one more for the classes with the largest remainders (ties: lower class
 * first), so class proportions are kept and the count is exactly min(total, n).
 */
export function stratifiedSample(labels: ArrayLike<number>, limit: SampleLimit, seed = 0): Int32Array {
  const n = labels.length;
  let nClasses = 0;
  for (let i = 0; i < n; i++) {
    const c = labels[i];
    if (!Number.isInteger(c) || c < 0)
      throw new CbirError(`stratifiedSample: label of row ${i + 1} is ${c}`, {
        row: i + 1,
        hint: 'labels must be non-negative integer class indices',
        code: 'tsne/bad-input',
      });
    if (c + 1 > nClasses) nClasses = c + 1;
  }
  const size = new Int32Array(nClasses);
  for (let i = 0; i < n; i++) size[labels[i]]++;
  const take = new Int32Array(nClasses);
  if ('maxPerClass' in limit) {
    const m = limit.maxPerClass;
    if (!Number.isInteger(m) || m < 1)
      throw new CbirError(`stratifiedSample: maxPerClass = ${m}`, {
        hint: 'use a positive integer',
        code: 'tsne/bad-parameter',
      });
    for (let c = 0; c < nClasses; c++) take[c] = Math.min(size[c], m);
  } else {
    const t = limit.total;
    if (!Number.isInteger(t) || t < 1)
      throw new CbirError(`stratifiedSample: total = ${t}`, {
        hint: 'use a positive integer',
        code: 'tsne/bad-parameter',
      });
    const total = Math.min(t, n);
    let given = 0;
    const rem = new Float64Array(nClasses);
    for (let c = 0; c < nClasses; c++) {
      const exact = (total * size[c]) / n;
      take[c] = Math.floor(exact);
      rem[c] = exact - take[c];
      given += take[c];
    }
    const order = Array.from({ length: nClasses }, (_, c) => c).sort((a, b) => rem[b] - rem[a] || a - b);
    for (let r = 0; given < total; r++) {
      const c = order[r];
      if (take[c] < size[c]) {
        take[c]++;
        given++;
      }
    }
  }
  // rows of each class in order, shuffled per class with one seeded stream, first take[c] kept
  const byClass: Int32Array[] = [];
  const fill = new Int32Array(nClasses);
  for (let c = 0; c < nClasses; c++) byClass.push(new Int32Array(size[c]));
  for (let i = 0; i < n; i++) {
    const c = labels[i];
    byClass[c][fill[c]++] = i;
  }
  const rng = new Rng(seed);
  let count = 0;
  for (let c = 0; c < nClasses; c++) count += take[c];
  const out = new Int32Array(count);
  let o = 0;
  for (let c = 0; c < nClasses; c++) {
    const rows = byClass[c];
    // partial Fisher–Yates: the first take[c] positions get a uniform random subset
    for (let a = 0; a < take[c]; a++) {
      const b = a + rng.int(rows.length - a);
      const tmp = rows[a];
      rows[a] = rows[b];
      rows[b] = tmp;
      out[o++] = rows[a];
    }
  }
  return out.sort();
}
