import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CbirError, openReport, runReport, type ReportData, type ReportRun } from '../../src/workbench/index.js';
import { renderSummary } from '../../src/workbench/report/summary.js';
import { phantomReport, type PhantomReport } from '../helpers/report.js';

let tmp: PhantomReport['tmp'];
let run: ReportRun;
let saved: ReportData;
let out: string;

before(async () => {
  ({ tmp, run, saved, out } = await phantomReport(
    { seed: 5, scale: 0.15 },
    { models: ['hog4x4x9'], replicates: 0, probe: 'both', indexSize: false },
  ));
});
after(() => tmp?.cleanup());

test("probe 'both': Table 5 shows which protocol ran, linear_probe (default) and linear_probe_study", () => {
  const t5 = saved.tables.table5_embedding_quality!;
  const method = t5.columns.indexOf('method');
  assert.deepEqual(
    t5.rows.map((r) => r[method]),
    ['knn', 'linear_probe', 'linear_probe_study', 'majority_class'],
  );
  const C = t5.columns.indexOf('C');
  assert.ok(typeof t5.rows[1][C] === 'number', 'the default probe names its C');
  assert.equal(t5.rows[2][C], null);
  assert.deepEqual(
    saved.models[0].probes!.map((p) => [p.method, p.protocol]),
    [
      ['linear_probe', 'logistic'],
      ['linear_probe_study', 'study'],
    ],
  );
  assert.equal(saved.protocol.probe && saved.protocol.probe.protocol, 'logistic+study');
  assert.equal(saved.protocol.probe && saved.protocol.probe['study.lr'], 1e-3);
  // linear_probing.csv: one row per protocol, the majority row, and the flags column
  const lp = saved.models[0].probe!;
  assert.deepEqual(
    lp.rows.map((r) => r[1]),
    ['linear_probe', 'linear_probe_study', 'majority_class'],
  );
  assert.ok(lp.columns.includes('flags') && lp.columns.includes('stop'));
  // the default probe converges and beats the majority class; the flags in the table are the typed ones
  const [logistic, study] = run.evaluations[0].probes;
  assert.equal(logistic.protocol, 'logistic');
  assert.deepEqual(logistic.flags, []);
  assert.ok(logistic.metrics.accuracy > run.evaluations[0].baselines.majority.accuracy);
  assert.equal(t5.rows[2][t5.columns.indexOf('flags')], study.flags.join(' '));
});

test('summary.md has the baselines and names every flagged probe; an unflagged report says so', () => {
  const text = readFileSync(join(out, 'summary.md'), 'utf8');
  assert.match(text, /### Baselines and probe checks/);
  assert.match(text, /Chance \(a random ranking, same P@N definition\): P@1 micro 0\.\d{3}/);
  assert.match(text, /Majority class .*accuracy 0\.\d{3}/);
  const flagged = saved.models[0].probes!.filter((p) => p.flags.length);
  for (const p of flagged) assert.match(text, new RegExp(`\\*\\*Flagged:\\*\\* \`hog4x4x9\` ${p.method} `));
  // a probe that predicts one class and hit its cap: both flags, in words
  const bad: ReportData = {
    ...saved,
    models: saved.models.map((m) => ({
      ...m,
      probes: [
        {
          method: 'linear_probe_study',
          protocol: 'study',
          flags: ['single_class', 'iteration_cap'],
          accuracy: 0.386,
          setting: 'best epoch 2',
          steps: 100,
          maxSteps: 100,
        },
      ],
    })),
  };
  const s = renderSummary(bad);
  assert.match(s, /\*\*Flagged:\*\* `hog4x4x9` linear_probe_study \(best epoch 2, 100\/100 steps, accuracy 0\.386\)/);
  assert.match(s, /single_class \(predicts one class for every test image\)/);
  assert.match(s, /iteration_cap \(stopped at its iteration or epoch cap/);
  const good: ReportData = { ...saved, models: saved.models.map((m) => ({ ...m, probes: [] })) };
  assert.match(renderSummary(good), /No probe is flagged/);
  assert.doesNotMatch(renderSummary(good), /\*\*Flagged/);
});

test('report.json keeps the probes; a version-1 report written before them still opens', async () => {
  const opened = await openReport(out);
  assert.deepEqual(opened.models[0].probes, saved.models[0].probes);
  const file = join(out, 'report.json');
  const raw = JSON.parse(readFileSync(file, 'utf8'));
  delete raw.models[0].probes;
  raw.protocol.probe = { epochs: 100, batchSize: 512, patience: 20, lr: 0.001, weightDecay: 0.01, seed: 0 };
  writeFileSync(file, JSON.stringify(raw));
  const old = await openReport(out);
  assert.equal(old.models[0].probes, undefined);
  assert.match(renderSummary(old), /`linear_probe_study` is the study's protocol/, 'no protocol key: the study');
  raw.models[0].probes = [{ method: 'x', protocol: 'sgd', flags: [], accuracy: 1, setting: '', steps: 1, maxSteps: 1 }];
  writeFileSync(file, JSON.stringify(raw));
  await assert.rejects(
    openReport(out),
    (e: unknown) =>
      e instanceof CbirError && e.code === 'report/schema' && /models\[0\]\.probes\[0\]\.protocol/.test(e.message),
  );
});

test("probe 'study' alone: the study's row only, named linear_probe_study", async () => {
  const r = await runReport({
    data: run.manifest,
    stores: [saved.models[0].store.dir],
    workDir: join(out, 'work'),
    replicates: 0,
    probe: 'study',
    indexSize: false,
  });
  const t5 = r.report.tables.table5_embedding_quality!;
  assert.deepEqual(
    t5.rows.map((x) => x[1]),
    ['knn', 'linear_probe_study', 'majority_class'],
  );
  // the same numbers as the study probe of the 'both' run (deterministic, seeded)
  const acc = t5.columns.indexOf('accuracy');
  assert.equal(t5.rows[1][acc], saved.tables.table5_embedding_quality!.rows[2][acc]);
});
