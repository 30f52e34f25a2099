import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Manifest, classInfoFromName, type ManifestEntry, type Split } from '../../src/workbench/data/manifest.js';
import { datasetStats, formatStats, logBinEdges } from '../../src/workbench/data/stats.js';

function manifest(spec: [string, string, Record<Split, number>][]): Manifest {
  const entries: ManifestEntry[] = [];
  const names = [...new Set(spec.map((s) => s[1]))];
  for (const [dataset, className, counts] of spec) {
    const [modality, region] = className.split('/');
    for (const split of ['train', 'val', 'test'] as Split[]) {
      for (let i = 0; i < counts[split]; i++)
        entries.push({
          filepath: `${className}/${split}/${i}.png`,
          dataset,
          split,
          modality,
          anatomicRegion: region,
          className,
        });
    }
  }
  return Manifest.fromEntries(
    entries,
    names.map((n) => classInfoFromName(n)),
  );
}

test('logBinEdges: 1-2-5 series up past the maximum', () => {
  assert.deepEqual(logBinEdges(1), [1, 2]);
  assert.deepEqual(logBinEdges(37), [1, 2, 5, 10, 20, 50]);
  assert.deepEqual(logBinEdges(1000), [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000]);
});

test('datasetStats: counts per class, modality, region, dataset, kind and split; imbalance histogram', () => {
  const m = manifest([
    ['mr', 'MR/brain/glioma', { train: 700, val: 100, test: 200 }],
    ['mr', 'MR/brain/notumor', { train: 70, val: 10, test: 20 }],
    ['xr', 'XR/chest/normal', { train: 7, val: 1, test: 2 }],
    ['xr', 'XR/chest/pneumonia', { train: 3, val: 0, test: 1 }],
  ]);
  const s = datasetStats(m);
  assert.equal(s.images, 1114);
  assert.deepEqual(s.splits, { name: 'all', train: 780, val: 111, test: 223, total: 1114 });
  assert.deepEqual(
    s.modalities.map((r) => [r.name, r.total]),
    [
      ['MR', 1100],
      ['XR', 14],
    ],
  );
  assert.deepEqual(
    s.regions.map((r) => [r.name, r.train]),
    [
      ['brain', 770],
      ['chest', 10],
    ],
  );
  assert.deepEqual(
    s.datasets.map((r) => [r.name, r.test]),
    [
      ['mr', 220],
      ['xr', 3],
    ],
  );
  assert.deepEqual(
    s.kinds.map((r) => [r.name, r.total]),
    [
      ['anatomical', 110],
      ['pathological', 1004],
    ],
  );
  assert.deepEqual(
    s.classes.map((c) => [c.name, c.kind, c.total, c.datasets.join()]),
    [
      ['MR/brain/glioma', 'pathological', 1000, 'mr'],
      ['MR/brain/notumor', 'anatomical', 100, 'mr'],
      ['XR/chest/normal', 'anatomical', 10, 'xr'],
      ['XR/chest/pneumonia', 'pathological', 4, 'xr'],
    ],
  );
  // Samples per class 1000, 100, 10, 4: bins [2,5) 1, [10,20) 1, [100,200) 1, [1000,2000) 1.
  const im = s.imbalance;
  assert.equal(im.min, 4);
  assert.equal(im.max, 1000);
  assert.equal(im.median, 55);
  assert.equal(im.ratio, 250);
  assert.deepEqual(
    im.bins.map((b) => [b.lo, b.hi, b.classes]),
    [
      [2, 5, 1],
      [5, 10, 0],
      [10, 20, 1],
      [20, 50, 0],
      [50, 100, 0],
      [100, 200, 1],
      [200, 500, 0],
      [500, 1000, 0],
      [1000, 2000, 1],
    ],
  );
  assert.deepEqual(im.bins[0].names, ['XR/chest/pneumonia']);
  // Over one split: a class without val images lands in the [0, 1) bin.
  const v = datasetStats(m, { imbalanceOver: 'val' });
  assert.deepEqual(v.imbalance.bins[0], { lo: 0, hi: 1, classes: 1, names: ['XR/chest/pneumonia'] });
  assert.equal(v.imbalance.ratio, Infinity);

  const text = formatStats(s, { barWidth: 10 });
  assert.match(text, /^1114 images, 4 classes \(2 anatomical, 2 pathological\)/);
  assert.match(text, /MR\/brain\/glioma\s+700\s+100\s+200\s+1000\s+pathological/);
  assert.match(text, /\[1000, 2000\)\s+█{10} 1/);
  assert.match(text, /\[5, 10\)\s+ 0/);
  assert.match(text, /max\/min 250\.0/);
});
