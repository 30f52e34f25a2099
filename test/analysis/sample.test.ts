import { test } from 'node:test';
import assert from 'node:assert/strict';
import { stratifiedSample } from '../../src/workbench/analysis/index.js';
import { CbirError } from '../../src/workbench/errors.js';

// class sizes 500, 100, 30, 3
const labels = new Uint16Array([
  ...Array(500).fill(0),
  ...Array(100).fill(1),
  ...Array(30).fill(2),
  ...Array(3).fill(3),
]);
labels.reverse(); // classes not in row order
const countBy = (rows: Int32Array) => {
  const c = [0, 0, 0, 0];
  for (const r of rows) c[labels[r]]++;
  return c;
};

test('stratifiedSample maxPerClass: capped per class, sorted, unique, seeded', () => {
  const a = stratifiedSample(labels, { maxPerClass: 50 }, 1);
  assert.deepEqual(countBy(a), [50, 50, 30, 3]);
  for (let i = 1; i < a.length; i++) assert.ok(a[i] > a[i - 1]);
  assert.deepEqual(stratifiedSample(labels, { maxPerClass: 50 }, 1), a);
  assert.notDeepEqual(stratifiedSample(labels, { maxPerClass: 50 }, 2), a);
});

test('stratifiedSample total: exact count, proportional shares (largest remainders)', () => {
  const a = stratifiedSample(labels, { total: 100 }, 0);
  assert.equal(a.length, 100);
  // 633 rows: 100·500/633 = 78.99, 15.80, 4.74, 0.47 → 78, 15, 4, 0 plus 3 by remainder (.99, .80, .74)
  assert.deepEqual(countBy(a), [79, 16, 5, 0]);
  assert.equal(stratifiedSample(labels, { total: 10_000 }, 0).length, labels.length);
});

test('stratifiedSample rejects bad labels and limits', () => {
  assert.throws(
    () => stratifiedSample([0, 1, -1], { total: 2 }),
    (e: unknown) => e instanceof CbirError && e.row === 3,
  );
  assert.throws(() => stratifiedSample([0, 1.5], { total: 2 }), CbirError);
  assert.throws(() => stratifiedSample(labels, { maxPerClass: 0 }), CbirError);
  assert.throws(() => stratifiedSample(labels, { total: 2.5 }), CbirError);
});
