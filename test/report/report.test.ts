import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  CbirError,
  generatePhantom,
  holmAdjust,
  openReport,
  REPORT_VERSION,
  runReport,
  saveReport,
  type ReportData,
  type ReportRun,
} from '../../src/workbench/index.js';
import { encodeReport, decodeReport } from '../../src/workbench/report/json.js';
import { renderSummary } from '../../src/workbench/report/summary.js';
import { tempDir } from '../helpers/datasets.js';

let tmp: { dir: string; cleanup: () => void };
let run: ReportRun;
let saved: ReportData;
let out: string;

before(async () => {
  tmp = tempDir();
  const data = join(tmp.dir, 'data');
  await generatePhantom({ out: data, seed: 7, scale: 0.1, size: 32 });
  out = join(tmp.dir, 'report');
  run = await runReport({
    data,
    models: ['tiny16', 'hog4x4x9'],
    workDir: join(out, 'work'),
    replicates: 30,
    probe: false,
    workers: 0,
  });
  saved = await saveReport(run, out, { figures: false });
});
after(() => tmp?.cleanup());

const rejectsCode = (p: Promise<unknown>, code: string, message: RegExp) =>
  assert.rejects(p, (e: unknown) => e instanceof CbirError && e.code === code && message.test(e.message));

test('runReport returns the report in memory; saveReport writes it; openReport gives back the same object', async () => {
  assert.equal(run.report.dir, null, 'computed, not saved');
  assert.deepEqual(
    run.report.models.map((m) => m.modelId),
    ['tiny16', 'hog4x4x9'],
  );
  assert.equal(saved.dir, out);
  assert.ok(saved.files.includes('report.json') && saved.files.includes('tiny16/knn.csv'));
  for (const f of saved.files) assert.ok(existsSync(join(out, f)), `${f} is listed and exists`);
  const opened = await openReport(out);
  assert.deepEqual(opened, saved);
  // paths inside the report folder are stored relative to it
  const raw = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'));
  assert.equal(raw.models[0].store.dir, 'work/embeddings/tiny16');
  assert.equal(raw.work, 'work');
  assert.equal(raw.version, REPORT_VERSION);
  assert.equal(raw.dir, undefined, 'the folder is where the file is, not in it');
  assert.equal(raw.dataset.hash, run.manifest.hash);
  assert.equal(raw.protocol.k, 100);
  assert.equal(raw.protocol.indexSizeRule, 'auto');
});

test('a moved report folder opens with its paths resolved in the new place', async () => {
  const moved = join(tmp.dir, 'moved');
  cpSync(out, moved, { recursive: true });
  const r = await openReport(moved);
  assert.equal(r.models[0].store.dir, join(moved, 'work', 'embeddings', 'tiny16'));
  assert.equal(r.models[0].knn.test.startsWith(join(moved, 'work', 'knn')), true);
  rmSync(moved, { recursive: true });
});

test('non-finite numbers survive report.json (JSON has no NaN)', () => {
  const r: ReportData = structuredClone(saved);
  r.models[0].precision.rows[0][1] = NaN;
  r.models[0].precision.rows[1][1] = Infinity;
  const back = decodeReport(encodeReport(r, out), 'report.json', out);
  assert.ok(Number.isNaN(back.models[0].precision.rows[0][1] as number));
  assert.equal(back.models[0].precision.rows[1][1], Infinity);
});

test('schema violations name the field; other versions and old reports are refused with what to do', async () => {
  const text = readFileSync(join(out, 'report.json'), 'utf8');
  const edit = (f: (o: Record<string, any>) => void) => {
    const o = JSON.parse(text);
    f(o);
    return JSON.stringify(o);
  };
  assert.throws(
    () =>
      decodeReport(
        edit((o) => (o.models[1].precision.rows[3] = [1, 2])),
        'report.json',
        out,
      ),
    (e: unknown) =>
      e instanceof CbirError && e.code === 'report/schema' && /models\[1\]\.precision\.rows\[3\]/.test(e.message),
  );
  assert.throws(
    () =>
      decodeReport(
        edit((o) => delete o.dataset.hash),
        'report.json',
        out,
      ),
    /dataset\.hash: expected a string/,
  );
  assert.throws(
    () =>
      decodeReport(
        edit((o) => (o.version = REPORT_VERSION + 1)),
        'report.json',
        out,
      ),
    (e: unknown) => e instanceof CbirError && e.code === 'report/version' && /newer radcbir/.test(e.message),
  );
  assert.throws(() => decodeReport(text.slice(0, 200), 'report.json', out), /not valid JSON[\s\S]*re-run/);

  // a report folder written before report.json existed: refused, with the re-run hint
  const old = join(tmp.dir, 'old');
  cpSync(out, old, { recursive: true });
  rmSync(join(old, 'report.json'));
  await rejectsCode(openReport(old), 'report/old-format', /older radcbir[\s\S]*re-run the same report/);
  await rejectsCode(openReport(join(tmp.dir, 'data')), 'report/no-report', /report\.json is missing/);
  await rejectsCode(openReport(join(tmp.dir, 'nope')), 'report/not-found', /not found/);
});

test('summary.md is a function of the report: the same report gives the same text', () => {
  const a = renderSummary(saved);
  assert.equal(renderSummary(structuredClone(saved)), a);
  assert.match(a, /Manifest hash `[0-9a-f]{12}`/);
  assert.match(a, /\[report\.json\]\(report\.json\)/);
  assert.equal(readFileSync(join(out, 'summary.md'), 'utf8').split('### Figures').length, 1, 'no figures saved');
});

test('the comparison table applies Holm over its rows, as the notebooks do', () => {
  const t = saved.tables.comparison!;
  const c = (n: string) => t.columns.indexOf(n);
  const p = t.rows.map((r) => r[c('p_value')] as number);
  const holm = holmAdjust(p);
  t.rows.forEach((r, i) => {
    assert.equal(r[c('p_holm')], holm[i]);
    assert.equal(r[c('significant')], holm[i] < 0.05 ? 'yes' : 'no');
  });
});

test('runReport evaluates a given store like a model id: same numbers, source recorded', async () => {
  const again = await runReport({
    data: run.manifest,
    stores: [saved.models[1].store.dir],
    workDir: join(tmp.dir, 'work2'),
    replicates: 30,
    probe: false,
    indexSize: false,
  });
  assert.equal(again.report.models[0].store.source, 'store');
  assert.deepEqual(again.report.models[0].precision, saved.models[1].precision);
  await rejectsCode(
    runReport({
      data: run.manifest,
      models: ['hog4x4x9'],
      stores: [saved.models[1].store.dir],
      workDir: join(out, 'work'),
    }),
    'report/duplicate-model',
    /given twice/,
  );
  writeFileSync(join(tmp.dir, 'notastore.txt'), 'x');
  await rejectsCode(
    runReport({ data: run.manifest, stores: [join(tmp.dir, 'notastore.txt')], workDir: join(out, 'work') }),
    'report/bad-store',
    /not an embedding store/,
  );
});

test('every model is checked before any work: a bad last model fails the run before the first is embedded', async () => {
  const work = join(tmp.dir, 'work-check');
  await rejectsCode(
    runReport({ data: run.manifest, models: ['tiny16', 'no-such-model'], workDir: work }),
    'model/unknown',
    /unknown model "no-such-model"/,
  );
  assert.ok(!existsSync(join(work, 'embeddings')), 'nothing was embedded');
});
