import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir, PROJECT_ROOT } from '../helpers/datasets.js';
import {
  STUDY,
  STUDY_DATASETS,
  STUDY_GROUPS,
  STUDY_ROWS,
  longTailSizes,
  studyLayout,
  writeStudyCsvs,
  writeStudyH5,
  run,
  type StudyLayout,
} from '../../bench/scale.js';
import { importH5, openEmbeddings, readManifest } from '../../src/workbench/index.js';

// 185 classes of at least 13 images need 2,405 rows; 3,000 is the smallest tidy size above that
const ROWS = 3000;
const DIM = 32;

test('longTailSizes: exact sum, the minimum respected, a long tail', () => {
  for (const [total, max] of [
    [3000, 454],
    [50_000, 7562],
    [STUDY_ROWS, STUDY.maxClass],
  ]) {
    const s = longTailSizes(total, 185, 13, max);
    assert.equal(s.length, 185);
    assert.equal(
      s.reduce((a, b) => a + b, 0),
      total,
    );
    assert.equal(Math.min(...s), 13, `smallest class at ${total} rows`);
    assert.ok(
      s.every((x, i) => i === 0 || x <= s[i - 1]),
      'largest first',
    );
    assert.ok(Math.abs(s[0] - max) <= 0.01 * max, `largest ${s[0]} ≈ ${max}`);
    assert.ok(s[0] >= 10 * s[92], `long tail at ${total}: largest ${s[0]}, median ${s[92]}`);
  }
  assert.throws(() => longTailSizes(2000, 185, 13, 300), /2000 rows cannot hold 185 classes of at least 13/);
});

test('the full-size layout: the study totals, 185 classes, Table 9 queries per modality', () => {
  const l = studyLayout();
  assert.equal(l.index, STUDY.index);
  assert.equal(l.queries, STUDY.queries);
  assert.equal(l.classes.length, 185);
  assert.equal(l.classes.filter((c) => c.kind === 'pathological').length, 161);
  const sizes = l.classes.map((c) => c.size);
  assert.equal(Math.min(...sizes), 13);
  assert.equal(Math.max(...sizes), 226_000);
  for (const m of ['CT', 'MR', 'US', 'XR']) {
    const want = STUDY_GROUPS.filter((g) => g.modality === m).reduce((a, g) => a + g.queries, 0);
    const got = l.classes.filter((c) => c.modality === m).reduce((a, c) => a + c.test, 0);
    assert.equal(got, want, `${m} queries`);
  }
  for (const c of l.classes) {
    assert.equal(c.train + c.val + c.test, c.size, c.name);
    assert.ok(c.train >= 1, `${c.name} has index images`);
    const perDs = c.rows.flat().reduce((a, b) => a + b, 0);
    assert.equal(perDs, c.size, `${c.name} rows over the datasets`);
  }
  // CT, MR and US live in RadImageNet only; X-ray rows in the three chest X-ray datasets
  const rad = STUDY_DATASETS.findIndex((d) => d.name === 'radiology_ai');
  for (const c of l.classes) {
    const inRad = c.rows[rad].reduce((a, b) => a + b, 0);
    assert.equal(inRad, c.modality === 'XR' ? 0 : c.size, c.name);
  }
});

test("Table 9's counts match ../shared/study when it is there", (t) => {
  const file = join(PROJECT_ROOT, '..', 'shared', 'study', 'table9_anatomy_pathology.csv');
  if (!existsSync(file)) return t.skip(`${file} not found`);
  const lines = readFileSync(file, 'utf8').trim().split('\n');
  const head = lines[0].split(',');
  const row = (name: string) => lines.find((l) => l.startsWith(`${name},`))!.split(',');
  const [classes, samples] = [row('classes'), row('samples')];
  for (const g of STUDY_GROUPS) {
    const col = head.indexOf(`${g.modality}_${g.kind === 'anatomical' ? 'anat' : 'path'}`);
    assert.equal(g.queries, Number(samples[col]), `${g.modality} ${g.kind} samples`);
    // XR pathologies: Table 9 lists those with test images (14); the totals count 5 more
    if (!(g.modality === 'XR' && g.kind === 'pathological'))
      assert.equal(g.classes, Number(classes[col]), `${g.modality} ${g.kind}`);
  }
  assert.equal(
    STUDY_GROUPS.reduce((a, g) => a + g.classes, 0),
    Number(classes[head.indexOf('AVG')]),
  );
  assert.equal(
    STUDY_GROUPS.reduce((a, g) => a + g.queries, 0),
    Number(samples[head.indexOf('AVG')]),
  );
});

let tmp: { dir: string; cleanup: () => void };
let layout: StudyLayout;
let manifestDir: string;
before(async () => {
  tmp = tempDir('cbir-scale-');
  layout = studyLayout({ rows: ROWS });
  manifestDir = writeStudyCsvs(layout, tmp.dir).manifestDir;
  await writeStudyH5(layout, join(tmp.dir, 'h5', 'synthetic-d32'), { dim: DIM, seed: 1, model: 'synthetic-d32' });
});
after(() => tmp.cleanup());

test('the generated CSVs read as manifests; the .h5 files import against the combined one', async () => {
  const m = await readManifest(manifestDir);
  assert.equal(m.size, ROWS);
  assert.equal(m.classes.length, 185);
  const perClass = new Map<number, number>();
  for (let i = 0; i < m.size; i++) perClass.set(m.classIndex[i], (perClass.get(m.classIndex[i]) ?? 0) + 1);
  const sizes = [...perClass.values()].sort((a, b) => b - a);
  assert.equal(sizes.length, 185);
  assert.equal(sizes[sizes.length - 1], 13, 'smallest class');
  assert.ok(sizes[0] >= 10 * sizes[92], `long-tailed: largest ${sizes[0]}, median ${sizes[92]}`);
  const splitCount = (s: number) => m.split.reduce((a, x) => a + (x === s ? 1 : 0), 0);
  assert.deepEqual([splitCount(0), splitCount(1), splitCount(2)], [layout.index, layout.val, layout.queries]);
  // every dataset CSV is a manifest of its own (the study's layout), and they add up to the combined one
  let total = 0;
  for (const d of STUDY_DATASETS) {
    const dm = await readManifest(join(tmp.dir, 'datasets', d.csv));
    assert.deepEqual(dm.datasets, [d.name]);
    total += dm.size;
  }
  assert.equal(total, ROWS);

  const r = await importH5({ manifest: m, from: join(tmp.dir, 'h5', 'synthetic-d32'), out: join(tmp.dir, 'store') });
  assert.equal(r.found, ROWS);
  assert.equal(r.missing, 0);
  assert.equal(r.extra, 0);
  assert.equal(r.renormalized, 0, 'the vectors are written L2-normalised');
  assert.equal(r.meta.modelId, 'synthetic-d32');
  const store = await openEmbeddings(join(tmp.dir, 'store'));
  assert.equal(store.count, ROWS);
  assert.equal(store.dim, DIM);
  // clustered: rows of a class are closer to each other than to rows of other classes
  const x = new Float32Array(ROWS * DIM);
  for await (const { start, data } of store.rows(1024)) x.set(data, start * DIM);
  const dot = (i: number, j: number) => {
    let s = 0;
    for (let d = 0; d < DIM; d++) s += x[i * DIM + d] * x[j * DIM + d];
    return s;
  };
  let [same, other, ns, no] = [0, 0, 0, 0];
  for (let i = 0; i < 600; i++) {
    const j = (i * 7919 + 13) % ROWS;
    if (i === j) continue;
    if (m.classIndex[i] === m.classIndex[j]) ((same += dot(i, j)), ns++);
    else ((other += dot(i, j)), no++);
  }
  for (let i = 0; i + 1 < ROWS; i += 5) if (m.classIndex[i] === m.classIndex[i + 1]) ((same += dot(i, i + 1)), ns++);
  assert.ok(ns > 50 && no > 50);
  assert.ok(same / ns > other / no + 0.2, `same-class cosine ${same / ns} vs other ${other / no}`);
});

const hasFaiss = () =>
  [process.env.CBIR_PYTHON, '/usr/bin/python3', 'python3']
    .filter((p): p is string => !!p)
    .some((p) => spawnSync(p, ['-c', 'import faiss, numpy'], { stdio: 'ignore' }).status === 0);

test(
  'bench/scale.ts run: import, the k-NN table, tables, probe, ablation and t-SNE are measured; FAISS side by side',
  { timeout: 300_000 },
  async () => {
    const md = await run({
      rows: ROWS,
      dims: [DIM],
      replicates: 20,
      tsnePoints: 200,
      rounds: 2,
      faissQueries: 32,
      log: () => {},
    });
    assert.match(md, /3,000 images: \d[\d,]* index, \d+ queries, \d+ val; 185 classes/);
    for (const step of [
      'import-h5',
      'k-NN table \\+ tables \\(empty cache\\)',
      'tables \\(k-NN table cached\\)',
      'probe, study protocol \\(\\+ tables, k-NN cached\\)',
      'index-size ablation, scaled setting \\(0 classes ≥ 3000 index images\\) \\(\\+ tables\\)',
      't-SNE maps, 200-point stratified sample \\(cbir figures\\)',
    ]) {
      const row = new RegExp(`\\| ${DIM} \\| ${step} \\| 0 \\| (\\d+\\.\\d) \\| (\\d+\\.\\d) \\| (\\d+) \\|`).exec(md);
      assert.ok(row, `no measured row for ${step} in\n${md}`);
      assert.ok(Number(row[3]) > 20, `peak RSS of ${step} is a real number of MiB`);
    }
    assert.doesNotMatch(md, /failed:/);
    if (!hasFaiss()) {
      assert.match(md, /FAISS comparison skipped: no python3 with faiss and numpy found/);
      return;
    }
    // two interleaved rounds, each with a time per engine, and the ratio against the faster FAISS setting
    const rounds = [
      ...md.matchAll(/^\| (\d) \| \d+\.\d\d \| (\d+\.\d\d) \| (\d+\.\d\d) \| (\d+\.\d\d) \| (\d+\.\d\d) \|$/gm),
    ];
    assert.deepEqual(
      rounds.map((r) => r[1]),
      ['1', '2'],
      md,
    );
    assert.match(md, /- Anchor: FAISS with OPENBLAS_CORETYPE(=Haswell| unset), the faster by median/);
    assert.match(md, /\*\*median \d+\.\d\d× \(range \d+\.\d\d–\d+\.\d\d×\)\*\* by wall time/);
    const same = /Same top-\d+ sets as FAISS \(round 1\): (\d+\.\d+) %/.exec(md);
    assert.ok(same && Number(same[1]) >= 99, `radcbir and FAISS find the same neighbours: ${same?.[1]} %`);
  },
);
