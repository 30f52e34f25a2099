import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assignSplits, splitQuotas, SPLIT_METHOD, type SplitItem } from '../../src/workbench/data/splits.js';

test('splitQuotas: largest remainder, sums to n, ties favour test then val', () => {
  assert.deepEqual(splitQuotas(10, [0.7, 0.1, 0.2]), [7, 1, 2]);
  assert.deepEqual(splitQuotas(436, [0.7, 0.1, 0.2]), [305, 44, 87]);
  assert.deepEqual(splitQuotas(1321, [0.9, 0.1, 0]), [1189, 132, 0]);
  assert.deepEqual(splitQuotas(2, [0.7, 0.1, 0.2]), [1, 0, 1]);
  assert.deepEqual(splitQuotas(1, [0.7, 0.1, 0.2]), [1, 0, 0]);
  for (let n = 0; n < 60; n++) {
    const q = splitQuotas(n, [0.6, 0.15, 0.25]);
    assert.equal(q[0] + q[1] + q[2], n);
  }
});

function items(
  spec: { stratum: string; n: number; groupSize?: number; given?: SplitItem['given']; carve?: boolean }[],
): SplitItem[] {
  const out: SplitItem[] = [];
  for (const s of spec) {
    for (let i = 0; i < s.n; i++)
      out.push({
        stratum: s.stratum,
        group: `${s.stratum}:${Math.floor(i / (s.groupSize ?? 1))}`,
        given: s.given,
        carve: s.carve,
      });
  }
  return out;
}

function counts(split: Uint8Array, its: SplitItem[], stratum: string): number[] {
  const c = [0, 0, 0];
  its.forEach((it, i) => {
    if (it.stratum === stratum) c[split[i]]++;
  });
  return c;
}

test('assignSplits: stratified, exact quotas for singleton groups, deterministic per seed', () => {
  const its = items([
    { stratum: 'a', n: 100 },
    { stratum: 'b', n: 37 },
    { stratum: 'c', n: 5 },
  ]);
  const r1 = assignSplits(its, { seed: 1 });
  assert.deepEqual(counts(r1.split, its, 'a'), [70, 10, 20]);
  assert.deepEqual(counts(r1.split, its, 'b'), splitQuotas(37, [0.7, 0.1, 0.2]));
  assert.deepEqual(counts(r1.split, its, 'c'), [3, 1, 1]);
  assert.ok(r1.method.every((m) => m === SPLIT_METHOD.assigned));
  const r2 = assignSplits(its, { seed: 1 });
  assert.deepEqual(r2.split, r1.split);
  const r3 = assignSplits(its, { seed: 2 });
  assert.notDeepEqual(r3.split, r1.split);
  // Adding another stratum does not move the images of the existing ones.
  const more = [...its, ...items([{ stratum: 'z', n: 20 }])];
  assert.deepEqual(assignSplits(more, { seed: 1 }).split.subarray(0, its.length), r1.split);
});

test('assignSplits: a group never straddles splits; custom ratios', () => {
  const its = items([
    { stratum: 'a', n: 300, groupSize: 7 },
    { stratum: 'b', n: 200, groupSize: 3 },
  ]);
  for (const seed of [0, 1, 2, 3]) {
    const { split } = assignSplits(its, { seed, ratios: [0.5, 0.25, 0.25] });
    const seen = new Map<string, number>();
    its.forEach((it, i) => {
      const s = seen.get(it.group);
      if (s === undefined) seen.set(it.group, split[i]);
      else assert.equal(split[i], s, `group ${it.group} straddles splits`);
    });
    const a = counts(split, its, 'a');
    assert.ok(Math.abs(a[0] - 150) <= 7 && Math.abs(a[1] - 75) <= 7 && Math.abs(a[2] - 75) <= 7, `a: ${a}`);
  }
});

test('assignSplits: given splits are kept; val carved out of a given train only where asked', () => {
  const its = items([
    { stratum: 'a', n: 50, given: 'train', carve: true },
    { stratum: 'a', n: 10, given: 'test' },
    { stratum: 'b', n: 40, given: 'train' },
  ]);
  const { split, method } = assignSplits(its, { seed: 0, valFraction: 0.1 });
  assert.deepEqual(counts(split, its.slice(0, 60), 'a'), [45, 5, 10]);
  assert.deepEqual(counts(split, its, 'b'), [40, 0, 0]);
  assert.equal(method[0], SPLIT_METHOD.carved);
  assert.equal(method[55], SPLIT_METHOD.given);
  assert.equal(method[70], SPLIT_METHOD.given);
});

test('assignSplits: an image without a split joins the split its group was given', () => {
  const its: SplitItem[] = [
    { stratum: 'a', group: 'p1', given: 'test' },
    { stratum: 'a', group: 'p1' },
    { stratum: 'a', group: 'p2' },
  ];
  const { split, method } = assignSplits(its, { seed: 0 });
  assert.equal(split[1], 2);
  assert.equal(method[1], SPLIT_METHOD.inherited);
  assert.equal(method[2], SPLIT_METHOD.assigned);
});
