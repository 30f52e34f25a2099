/**
 * Numbers you can trust (issue #11), the edges of `eval`, `report` and `figures`: a degenerate
 * store given with --embeddings is refused before anything is evaluated; a full disk, a read-only
 * folder or a file in the way while writing a report or its figures is a CbirError naming the path
 * (never a raw Node error) that loses nothing already written; and a summary.md whose figures
 * phase failed says so and how to make them.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  addFigures,
  generatePhantom,
  openReport,
  readManifest,
  runReport,
  saveReport,
  type Manifest,
  type ReportRun,
} from '../../src/workbench/index.js';
import { writeEmbeddings } from '../../src/workbench/embeddings/index.js';
import { Rng } from '../../src/workbench/util/rng.js';
import { rejectsCbir } from '../helpers/assert.js';
import { cbir } from '../helpers/cli.js';
import { tempDir } from '../helpers/datasets.js';

let tmp: { dir: string; cleanup: () => void };
let data: string;
let m: Manifest;
/** One computed report of the phantom (tiny16), saved in several ways below. */
let run: ReportRun;
/** The run's tables as report.json holds them. */
let tables: unknown;
const QUICK = ['--no-probe', '--index-size', 'off', '--replicates', '0'];

before(async () => {
  tmp = tempDir('cbir-trust-');
  data = join(tmp.dir, 'data');
  await generatePhantom({ out: data, seed: 3, scale: 0.1, size: 32 });
  m = await readManifest(data);
  run = await runReport({
    data,
    models: ['tiny16'],
    workDir: join(tmp.dir, 'work'),
    workers: 0,
    probe: false,
    indexSize: false,
    replicates: 0,
  });
  tables = JSON.parse(JSON.stringify(run.report.tables));
});
after(() => tmp.cleanup());

/** A store of the manifest's rows: random unit-ish vectors, with `patch` applied to rows. */
async function store(name: string, patch: (v: Float32Array, dim: number) => void): Promise<string> {
  const dim = 8;
  const rng = new Rng(5);
  const v = new Float32Array(m.size * dim);
  for (let i = 0; i < v.length; i++) v[i] = rng.next() - 0.5;
  patch(v, dim);
  const dir = join(tmp.dir, 'stores', name);
  await writeEmbeddings(dir, v, m.filepaths, dim, { modelId: name, fingerprint: name, manifestHash: m.hash });
  return dir;
}

const evalStore = (dir: string, out: string) =>
  cbir('eval', '--data', data, '--embeddings', dir, '--out', out, '--only', 'retrieval', '--replicates', '0');

test('cbir eval --embeddings refuses a store with zero rows or one vector for every image, before evaluating', async () => {
  const zero = await store('zero-rows', (v, dim) => {
    for (const r of [4, 9]) v.fill(0, r * dim, (r + 1) * dim);
  });
  const out = join(tmp.dir, 'eval-zero');
  // checked in blocks of 3 rows: rows 5 and 10 lie in the 2nd and 4th block, named by their manifest row
  process.env.CBIR_BLOCK_ROWS = '3';
  let r: Awaited<ReturnType<typeof cbir>>;
  try {
    r = await evalStore(zero, out);
  } finally {
    delete process.env.CBIR_BLOCK_ROWS;
  }
  assert.equal(r.code, 1, r.out + r.err);
  assert.match(
    r.err,
    new RegExp(
      `zero-norm embeddings .* from the embedding store \\(model "zero-rows"\\) for 2 of ${m.size} rows: row 5 \\("${m.filepaths[4]}"\\), row 10 \\("${m.filepaths[9]}"\\)`,
    ),
  );
  assert.match(r.err, /nothing was evaluated and the store was left as it was/);
  assert.ok(!existsSync(join(out, 'report.json')), 'no report');
  assert.ok(!existsSync(join(out, 'work', 'knn')), 'no k-NN table was computed');

  const constant = await store('constant', (v, dim) => {
    for (let r = 0; r < m.size; r++) for (let k = 0; k < dim; k++) v[r * dim + k] = (k + 1) * (1 + (r % 3));
  });
  const c = await evalStore(constant, join(tmp.dir, 'eval-constant'));
  assert.equal(c.code, 1);
  assert.match(c.err, new RegExp(`gives the same embedding .* for all ${m.size} images`));

  // the control: the same store without the zero rows evaluates
  const fine = await store('fine', () => {});
  const ok = await evalStore(fine, join(tmp.dir, 'eval-fine'));
  assert.equal(ok.code, 0, ok.err);
  assert.ok(existsSync(join(tmp.dir, 'eval-fine', 'report.json')));
});

test('cbir report --out under a plain file: a CbirError naming the file, with the caches kept', async () => {
  const file = join(tmp.dir, 'a-file');
  writeFileSync(file, 'not a folder\n');
  const out = join(file, 'report');
  // library: the code and the path
  await rejectsCbir(
    saveReport(run, out, { figures: false }),
    /"[^"]*a-file" is a file, not a folder/,
    'fs/path-blocked',
  );
  // CLI (its --work elsewhere, so the embedding is reused and only the report's own write fails)
  const r = await cbir(
    ...['report', '--data', data, '--models', 'tiny16', '--out', out, '--work', join(tmp.dir, 'work')],
    ...['--no-figures', ...QUICK],
  );
  assert.equal(r.code, 1);
  assert.match(
    r.err,
    /a-file" is a file, not a folder, so the output folder cannot be made there \(creating the --out folder of the report/,
  );
  assert.match(r.err, /→ choose another output folder, or move that file out of the way/);
  assert.match(r.err, /embeddings reused/, 'the embeddings of the work folder were kept and reused');
  assert.doesNotMatch(r.err, /\n\s+at .*\(.*:\d+:\d+\)/, 'no stack trace');
  assert.equal(readFileSync(file, 'utf8'), 'not a folder\n', 'the file in the way is untouched');
  // and with the default --work (<out>/work): refused the same way, before any embedding
  const d = await cbir('report', '--data', data, '--models', 'tiny16', '--out', out, '--no-figures', ...QUICK);
  assert.equal(d.code, 1);
  assert.match(d.err, /a-file" is a file, not a folder/);
});

test('cbir report into a read-only folder: a CbirError, nothing lost', async (t) => {
  const out = join(tmp.dir, 'read-only');
  mkdirSync(out);
  writeFileSync(join(out, 'keep.txt'), 'mine\n');
  if (process.getuid?.() === 0) {
    // root ignores 0o555: a file where the report's first sub-folder (its model's) goes instead
    t.diagnostic('running as root: chmod has no effect, so a file blocks the folder instead');
    writeFileSync(join(out, 'tiny16'), 'in the way\n');
    await rejectsCbir(saveReport(run, out, { figures: false }), /tiny16" is a file, not a folder/, 'fs/path-blocked');
    assert.equal(readFileSync(join(out, 'tiny16'), 'utf8'), 'in the way\n');
  } else {
    chmodSync(out, 0o555);
    try {
      await rejectsCbir(
        saveReport(run, out, { figures: false }),
        /cannot write here \(permission denied\) while writing the report tables; the embeddings and k-NN tables/,
        'fs/not-writable',
      );
      const r = await cbir(
        ...['report', '--data', data, '--models', 'tiny16', '--out', out, '--work', join(tmp.dir, 'work')],
        ...['--no-figures', ...QUICK],
      );
      assert.equal(r.code, 1);
      assert.match(r.err, /cannot write here \(permission denied\)/);
    } finally {
      chmodSync(out, 0o755);
    }
  }
  assert.equal(readFileSync(join(out, 'keep.txt'), 'utf8'), 'mine\n');
  assert.ok(!existsSync(join(out, 'report.json')));
});

test('a failed figures phase: the tables, summary.md and report.json are saved, and summary.md says the figures are incomplete', async () => {
  const out = join(tmp.dir, 'figs-blocked');
  mkdirSync(out);
  writeFileSync(join(out, 'figures'), 'a file where figures/ goes\n');
  await rejectsCbir(
    saveReport(run, out, { figures: { png: false, tsne: false, grids: false } }),
    /figures" is a file, not a folder.*writing the figures.*; the tables, summary\.md and report\.json are saved, and summary\.md says the figures are incomplete[\s\S]*→ choose another output folder, or move that file out of the way; then make the figures of the saved report again/,
    'fs/path-blocked',
  );
  const saved = await openReport(out);
  assert.deepEqual(saved.tables, tables, 'every table is in report.json');
  assert.ok(existsSync(join(out, 'table3_retrieval.csv')) && existsSync(join(out, 'tiny16', 'knn.csv')));
  assert.deepEqual(saved.figures?.files, []);
  assert.match(saved.figures!.notes[0], /^figures incomplete: ".*figures" is a file, not a folder/);
  const summary = readFileSync(join(out, 'summary.md'), 'utf8');
  assert.match(summary, /^\*\*⚠ The figures are missing or incomplete: their phase failed/m);
  assert.match(
    summary,
    /### ⚠ Figures incomplete\n\n\*\*The figures phase failed, so the figures are missing or incomplete:\*\* ".*figures" is a file/,
  );
  assert.match(summary, /make the figures with `cbir figures --report <this folder>`/);
  assert.doesNotMatch(summary, /^### Figures$/m);

  // `cbir figures` into the same blocked folder: the same clear error; the report is kept as it was
  const before = readFileSync(join(out, 'table3_retrieval.csv'), 'utf8');
  const r = await cbir('figures', '--report', out, '--html', '--no-tsne', '--no-grids');
  assert.equal(r.code, 1);
  assert.match(
    r.err,
    /figures" is a file, not a folder, so the output folder cannot be made there \(writing the figures\)/,
  );
  assert.match(r.err, /→ .*then make the figures of the saved report again \(its tables are kept\)/);
  assert.equal(readFileSync(join(out, 'table3_retrieval.csv'), 'utf8'), before);
  assert.deepEqual((await openReport(out)).tables, tables);
  assert.match(readFileSync(join(out, 'summary.md'), 'utf8'), /### ⚠ Figures incomplete/);

  // once the file is moved away, `cbir figures` makes them and summary.md no longer warns
  rmSync(join(out, 'figures'));
  const ok = await cbir('figures', '--report', out, '--html', '--no-tsne', '--no-grids');
  assert.equal(ok.code, 0, ok.err);
  const fixed = readFileSync(join(out, 'summary.md'), 'utf8');
  assert.match(fixed, /^### Figures$/m);
  assert.doesNotMatch(fixed, /incomplete/);
  assert.ok((await openReport(out)).figures!.files.some((f) => f.name === 'precision_at_n'));
});

test('cbir figures on a report whose figures/ cannot be written keeps the figures of the earlier run listed', async () => {
  const out = join(tmp.dir, 'figs-later');
  await saveReport(run, out, { figures: { png: false, tsne: false, grids: false } });
  const first = await openReport(out);
  assert.ok(first.figures!.files.length > 0);
  // a file where the page of the earlier run was: the new run cannot replace it
  rmSync(join(out, 'figures'), { recursive: true });
  writeFileSync(join(out, 'figures'), 'x');
  await rejectsCbir(
    addFigures(out, { png: false, tsne: false, grids: false }),
    /is a file, not a folder/,
    'fs/path-blocked',
  );
  const after = await openReport(out);
  assert.deepEqual(after.figures!.files, first.figures!.files);
  assert.ok(after.figures!.notes.some((n) => /^figures incomplete: /.test(n)));
  const summary = readFileSync(join(out, 'summary.md'), 'utf8');
  assert.match(summary, /missing or incomplete \(the ones listed below are from an earlier run\)/);
});
