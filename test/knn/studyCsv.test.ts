import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Manifest, type ClassInfo, type ManifestEntry } from '../../src/workbench/data/manifest.js';
import { computeKnnTable } from '../../src/workbench/knn/table.js';
import { writeKnnCsv } from '../../src/workbench/knn/csv.js';
import { readStudyKnnCsv } from '../../src/workbench/knn/studyCsv.js';
import { precisionAtN } from '../../src/workbench/metrics/index.js';
import { Rng } from '../../src/workbench/util/rng.js';
import { CbirError } from '../../src/workbench/errors.js';
import { tempDir } from '../helpers/datasets.js';

const classes: ClassInfo[] = [0, 1, 2].map((c) => ({
  name: `CT/chest/c${c}`,
  modality: 'CT',
  region: 'chest',
  label: `c${c}`,
  kind: 'pathological' as const,
}));
const n = 90;
const entries: ManifestEntry[] = Array.from({ length: n }, (_, i) => ({
  filepath: `nih14/images/${i}, x.png`, // a comma: the CSV must quote it
  dataset: 'nih14',
  split: i % 3 === 0 ? 'test' : i % 3 === 1 ? 'val' : 'train',
  modality: 'CT',
  anatomicRegion: 'chest',
  className: classes[Math.floor(i / 3) % 3].name,
}));
const m = Manifest.fromEntries(entries, classes);
const rng = new Rng(4);
const dim = 6;
const v = new Float32Array(n * dim).map(() => rng.normal());
for (let i = 0; i < n; i++) {
  const r = v.subarray(i * dim, (i + 1) * dim);
  const s = Math.hypot(...r);
  r.forEach((x, d) => (r[d] = x / s));
}

test("the study's knn.csv (test then val rows) scores to the same P@N as radcbir's own table", async () => {
  const t = tempDir();
  try {
    const train = m.indicesOf('train');
    const test = await computeKnnTable({ embeddings: v, dim, indexRows: train, queryRows: m.indicesOf('test'), k: 10 });
    const val = await computeKnnTable({ embeddings: v, dim, indexRows: train, queryRows: m.indicesOf('val'), k: 10 });
    // the study's file: test rows, then val rows, one file
    const both = {
      k: 10,
      queryRows: Int32Array.from([...test.queryRows, ...val.queryRows]),
      ids: Int32Array.from([...test.ids, ...val.ids]),
    };
    const file = join(t.dir, 'knn.csv');
    await writeKnnCsv(both, m.filepaths, file);
    const read = await readStudyKnnCsv(file, m);
    assert.deepEqual(Array.from(read.queryRows), Array.from(test.queryRows));
    assert.deepEqual(Array.from(read.ids), Array.from(test.ids));
    const labels = (rows: Int32Array) => Int32Array.from(rows, (r) => m.classIndex[r]);
    const counts = m.classCounts('train');
    const a = precisionAtN(
      read.ids.map((id) => train.indexOf(id)),
      labels(read.queryRows),
      labels(train),
      counts,
      { ns: [1, 3, 5, 10] },
    );
    const b = precisionAtN(
      test.ids.map((id) => train.indexOf(id)),
      labels(test.queryRows),
      labels(train),
      counts,
      { ns: [1, 3, 5, 10] },
    );
    assert.deepEqual(Array.from(a.micro), Array.from(b.micro));
    assert.deepEqual(Array.from(a.macro), Array.from(b.macro));
  } finally {
    t.cleanup();
  }
});

test('a bad knn.csv is refused with its line: header, unknown path, a non-index neighbour, a missing query', async () => {
  const t = tempDir();
  try {
    const file = join(t.dir, 'knn.csv');
    const q = `"${m.filepaths[0]}"`;
    const trainPath = `"${m.filepaths[2]}"`;
    const valPath = `"${m.filepaths[1]}"`;
    const cases: [string, RegExp, number | undefined][] = [
      ['q,1,2\n', /not the study's/, 1],
      [`query,1\n"nope.png",${trainPath}\n`, /"nope.png" is not in the manifest/, 2],
      [`query,1\n${q},${valPath}\n`, /a val row, not an index/, 2],
      [`query,1\n${q},${trainPath}\n`, /have no row in the file/, undefined],
      [`query,1\n${q},${trainPath}\n${q},${trainPath}\n`, /appears twice/, 3],
    ];
    for (const [text, re, line] of cases) {
      writeFileSync(file, text);
      await assert.rejects(
        readStudyKnnCsv(file, m),
        (e) => e instanceof CbirError && re.test(e.message) && e.row === line,
        re.source,
      );
    }
  } finally {
    t.cleanup();
  }
});
