/**
 * A generated multi-label set end to end through the CLI: `cbir data phantom --multi-label`,
 * `cbir embed`, `cbir report`. Every multi-label row is kept, and the report's
 * "multi-label (Jaccard)" row (mAP@10, recall@10, nDCG@10, R-precision) equals an independent
 * computation in Python from manifest.csv and the raw vectors, with scikit-learn's `ndcg_score`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openEmbeddings, openReport, readManifest } from '../../src/workbench/index.js';
import { cbir } from '../helpers/cli.js';
import { tempDir } from '../helpers/datasets.js';

const PYTHON = '/usr/bin/python3';
const sklearn = spawnSync(PYTHON, ['-c', 'import sklearn, numpy'], { encoding: 'utf8' });
const noSklearn = sklearn.status === 0 ? false : `${PYTHON} cannot import sklearn/numpy: reference check skipped`;

// AP@10, recall@10, R-precision with relevant = label sets intersect; nDCG@10 from sklearn with
// gains 2^J - 1 (sklearn's DCG sums the gains as given); test queries against the train split.
const REFERENCE = `
import csv, json, sys
import numpy as np
from sklearn.metrics import ndcg_score
manifest, vectors, dim = sys.argv[1], sys.argv[2], int(sys.argv[3])
rows = list(csv.DictReader(open(manifest, newline='')))
cols = [c for c in rows[0] if '/' in c]
sets = [frozenset(c for c in cols if r[c].strip() == '1') for r in rows]
X = np.fromfile(vectors, dtype=np.float32).reshape(-1, dim).astype(np.float64)
train = [i for i, r in enumerate(rows) if r['split'] == 'train']
test = [i for i, r in enumerate(rows) if r['split'] == 'test']
S = X[test] @ X[train].T
ap, rec, nd, rp = [], [], [], []
for qi, q in enumerate(test):
    jac = np.array([len(sets[q] & sets[i]) / len(sets[q] | sets[i]) for i in train])
    rel = jac > 0
    R = int(rel.sum())
    order = np.argsort(-S[qi], kind='stable')
    top = order[:10]
    hits, s = 0, 0.0
    for j, idx in enumerate(top):
        if rel[idx]:
            hits += 1
            s += hits / (j + 1)
    ap.append(s / min(10, R))
    rec.append(rel[top].sum() / R)
    nd.append(ndcg_score([2 ** jac - 1], [S[qi]], k=10))
    if R <= 100:
        rp.append(rel[order[:R]].sum() / R)
print(json.dumps({'map': float(np.mean(ap)), 'recall': float(np.mean(rec)), 'ndcg': float(np.mean(nd)),
                  'rprec': float(np.mean(rp)), 'rprecQueries': len(rp), 'queries': len(test)}))
`;

const QUICK = ['--no-figures', '--no-probe', '--index-size', 'off', '--replicates', '0'];

test('cbir data phantom --multi-label → embed → report: multi-label rows kept, Jaccard ranking metrics match an independent computation', async (t) => {
  const { dir, cleanup } = tempDir('cbir-multilabel-');
  try {
    const data = join(dir, 'data');
    const g = await cbir('data', 'phantom', '--multi-label', '--out', data, '--images', '240', '--size', '32', '-q');
    assert.equal(g.code, 0, g.err);
    assert.deepEqual(JSON.parse(readFileSync(join(data, 'relevance.json'), 'utf8')), { multiLabel: ['phantom-ml'] });

    const m = await readManifest(data);
    const nLabels = Array.from(m.classIndex, (c) => m.classes[c].labels?.length ?? 1);
    assert.equal(m.size, 240);
    assert.equal(m.excluded.length, 0, 'no multi-label row is excluded');
    assert.ok(nLabels.filter((n) => n >= 2).length > 40, 'many rows carry several findings');
    assert.ok(nLabels.includes(3), 'some rows carry three findings');
    assert.ok(
      Array.from(m.classIndex).some((c) => m.classes[c].name === 'XR/chest/normal'),
      'normal rows',
    );
    // the study's rule without the declaration: the same rows are excluded
    const single = await readManifest(data, { multiLabel: [] });
    assert.equal(single.excluded.length, nLabels.filter((n) => n >= 2).length);

    const emb = join(dir, 'emb');
    const e = await cbir('embed', '--data', data, '--model', 'hog4x4x9', '--out', emb, '--quiet');
    assert.equal(e.code, 0, e.err);
    const out = join(dir, 'report');
    const r = await cbir('report', '--data', data, '--embeddings', emb, '--out', out, ...QUICK);
    assert.equal(r.code, 0, r.err);

    const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'));
    assert.deepEqual(report.beyond.multiLabel, ['phantom-ml']);
    assert.deepEqual((await openReport(out)).beyond?.multiLabel, ['phantom-ml'], 'openReport decodes it');
    assert.equal(report.dataset.images, 240, 'the report covers every row');
    assert.match(readFileSync(join(out, 'summary.md'), 'utf8'), /\| hog4x4x9 \| multi-label \(Jaccard\) \|/);
    const csv = readFileSync(join(out, 'beyond_ranking.csv'), 'utf8').trim().split('\n');
    const header = csv[0].split(',');
    const line = csv.find((l) => l.split(',')[1] === 'multi-label (Jaccard)');
    assert.ok(line, csv.join('\n'));
    const cell = (name: string) => Number(line.split(',')[header.indexOf(name)]);
    // strict rows (class = exact label set) differ from the Jaccard row
    const binary = csv.find((l) => l.split(',')[1] === 'binary')!.split(',');
    assert.notEqual(Number(binary[header.indexOf('mAP@10_micro')]), cell('mAP@10_micro'));

    await t.test('equals the Python / scikit-learn reference', { skip: noSklearn }, async () => {
      const store = await openEmbeddings(emb);
      const v = await store.readAll();
      const file = join(dir, 'vectors.f32');
      writeFileSync(file, Buffer.from(v.buffer, v.byteOffset, v.byteLength));
      const py = spawnSync(PYTHON, ['-c', REFERENCE, join(data, 'manifest.csv'), file, String(store.dim)], {
        encoding: 'utf8',
      });
      assert.equal(py.status, 0, py.stderr);
      const ref = JSON.parse(py.stdout);
      assert.ok(ref.queries > 40);
      const close = (a: number, b: number, what: string) => assert.ok(Math.abs(a - b) < 1e-5, `${what}: ${a} vs ${b}`);
      close(cell('mAP@10_micro'), ref.map, 'mAP@10');
      close(cell('recall@10'), ref.recall, 'recall@10');
      close(cell('nDCG@10_micro'), ref.ndcg, 'nDCG@10');
      close(cell('R-precision'), ref.rprec, 'R-precision');
      assert.equal(cell('R-precision_queries'), ref.rprecQueries);
    });
  } finally {
    cleanup();
  }
});
