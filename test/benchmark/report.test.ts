import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { generatePhantom } from '../../src/workbench/data/phantom.js';
import { runReport } from '../../src/workbench/benchmark/report.js';
import { saveReport } from '../../src/workbench/report/save.js';
import { parseCsv } from '../../src/workbench/util/csv.js';
import { tempDir } from '../helpers/datasets.js';

function csv(file: string): { header: string[]; rows: string[][] } {
  const recs = [...parseCsv(readFileSync(file, 'utf8'), file)].map((r) => r.cells);
  return { header: recs[0], rows: recs.slice(1) };
}

/**
 * An independent implementation of the study's P@N, written from its definition and reading only
 * the files a user gets (manifest.csv and knn.csv): for a query of class c,
 * n = min(N, #train images of c), P@N = (#same-class among the first n neighbours) / n;
 * micro = mean over queries, macro = mean over classes of the class mean.
 */
function independentPrecision(manifestCsv: string, knnCsv: string, N: number): { micro: number; macro: number } {
  const man = csv(manifestCsv);
  const classCols = man.header.map((h, i) => (h.includes('/') ? i : -1)).filter((i) => i >= 0);
  const classOf = new Map<string, string>();
  const trainCount = new Map<string, number>();
  for (const r of man.rows) {
    const cls = man.header[classCols.find((i) => r[i] === '1')!];
    classOf.set(r[0], cls);
    if (r[2] === 'train') trainCount.set(cls, (trainCount.get(cls) ?? 0) + 1);
  }
  const knn = csv(knnCsv);
  const perClass = new Map<string, number[]>();
  let sum = 0;
  for (const r of knn.rows) {
    const c = classOf.get(r[0])!;
    const n = Math.min(N, trainCount.get(c) ?? 0);
    let hits = 0;
    for (let j = 1; j <= n; j++) if (classOf.get(r[j]) === c) hits++;
    const p = hits / n;
    sum += p;
    if (!perClass.has(c)) perClass.set(c, []);
    perClass.get(c)!.push(p);
  }
  const means = [...perClass.values()].map((v) => v.reduce((a, b) => a + b, 0) / v.length);
  return { micro: sum / knn.rows.length, macro: means.reduce((a, b) => a + b, 0) / means.length };
}

/** Chance P@1 from the user's files: for a query of class c, (train images of c) / (train images). */
function independentChance(manifestCsv: string, knnCsv: string): { micro: number; macro: number } {
  const man = csv(manifestCsv);
  const classCols = man.header.map((h, i) => (h.includes('/') ? i : -1)).filter((i) => i >= 0);
  const classOf = new Map<string, string>();
  const trainCount = new Map<string, number>();
  let M = 0;
  for (const r of man.rows) {
    const cls = man.header[classCols.find((i) => r[i] === '1')!];
    classOf.set(r[0], cls);
    if (r[2] === 'train') {
      trainCount.set(cls, (trainCount.get(cls) ?? 0) + 1);
      M++;
    }
  }
  const perClass = new Map<string, number[]>();
  let sum = 0;
  const rows = csv(knnCsv).rows;
  for (const r of rows) {
    const c = classOf.get(r[0])!;
    const p = (trainCount.get(c) ?? 0) / M;
    sum += p;
    perClass.set(c, [...(perClass.get(c) ?? []), p]);
  }
  const means = [...perClass.values()].map((v) => v.reduce((a, b) => a + b, 0) / v.length);
  return { micro: sum / rows.length, macro: means.reduce((a, b) => a + b, 0) / means.length };
}

/** Majority-class accuracy from manifest.csv: the test share of the most frequent train class. */
function independentMajority(manifestCsv: string): number {
  const man = csv(manifestCsv);
  const classCols = man.header.map((h, i) => (h.includes('/') ? i : -1)).filter((i) => i >= 0);
  const count = (split: string) => {
    const m = new Map<string, number>();
    for (const r of man.rows)
      if (r[2] === split) {
        const cls = man.header[classCols.find((i) => r[i] === '1')!];
        m.set(cls, (m.get(cls) ?? 0) + 1);
      }
    return m;
  };
  const train = count('train'),
    testC = count('test');
  // ties → the class that comes first in the manifest's class order (its lowest code)
  const order = classCols.map((i) => man.header[i]);
  let best = order[0];
  for (const c of order) if ((train.get(c) ?? 0) > (train.get(best) ?? 0)) best = c;
  const nTest = [...testC.values()].reduce((a, b) => a + b, 0);
  return (testC.get(best) ?? 0) / nTest;
}

test(
  'cbir report on a small phantom writes every table, and an independent P@N from knn.csv agrees',
  { timeout: 240_000 },
  async () => {
    const { dir, cleanup } = tempDir();
    try {
      const data = join(dir, 'data');
      await generatePhantom({ out: data, seed: 3, scale: 0.15, size: 48 });
      const out = join(dir, 'report');
      const res = await runReport({
        data,
        models: ['tiny16', 'tiny-cnn'],
        workDir: join(out, 'work'),
        replicates: 200,
        workers: 0,
      });
      // computing writes nothing but the caches in the work folder
      assert.ok(!existsSync(join(out, 'summary.md')) && !existsSync(join(out, 'tiny16', 'knn.csv')));
      await saveReport(res, out, { figures: false });
      for (const f of [
        'summary.md',
        'table3_retrieval.csv',
        'table4_modality.csv',
        'table9_anatomy_pathology.csv',
        'table10_dataset.csv',
        'table5_embedding_quality.csv',
        'comparison.csv',
        'per_class_p1.csv',
        'index_size.csv',
        'report.json',
      ]) {
        assert.ok(existsSync(join(out, f)), `${f} missing`);
      }
      for (const model of ['tiny16', 'tiny-cnn']) {
        const p = csv(join(out, model, 'precision_at_n.csv'));
        assert.deepEqual(p.header, [
          'N',
          'micro',
          'micro_lo',
          'micro_hi',
          'macro',
          'macro_lo',
          'macro_hi',
          'chance_micro',
          'chance_macro',
        ]);
        assert.equal(p.rows.length, 100);
        assert.deepEqual(
          p.rows.map((r) => Number(r[0])),
          Array.from({ length: 100 }, (_, i) => i + 1),
        );
        for (const r of p.rows) {
          const [micro, lo, hi] = [Number(r[1]), Number(r[2]), Number(r[3])];
          assert.ok(lo <= micro + 1e-9 && micro <= hi + 1e-9, `interval [${lo}, ${hi}] must hold ${micro}`);
        }
        const knn = csv(join(out, model, 'knn.csv'));
        assert.deepEqual(knn.header, ['query', ...Array.from({ length: 100 }, (_, i) => String(i + 1))]);
        const ev = res.evaluations.find((e) => e.modelId === model)!;
        assert.equal(knn.rows.length, ev.precision.nQueries);
        for (const N of [1, 3, 5, 10, 50, 100]) {
          const ind = independentPrecision(join(data, 'manifest.csv'), join(out, model, 'knn.csv'), N);
          assert.ok(
            Math.abs(ind.micro - Number(p.rows[N - 1][1])) < 1e-6,
            `micro P@${N}: ${ind.micro} vs ${p.rows[N - 1][1]}`,
          );
          assert.ok(
            Math.abs(ind.macro - Number(p.rows[N - 1][4])) < 1e-6,
            `macro P@${N}: ${ind.macro} vs ${p.rows[N - 1][4]}`,
          );
        }
        for (const f of ['knn_classification.csv', 'linear_probing.csv'])
          assert.ok(existsSync(join(out, model, f)), `${model}/${f} missing`);
      }
      const t3 = csv(join(out, 'table3_retrieval.csv'));
      assert.deepEqual(
        t3.rows.map((r) => r[0]),
        ['tiny16', 'tiny-cnn', 'chance'],
      );
      // the chance row, from manifest.csv and knn.csv alone: a query of class c scores n_c / |index|
      const chance = independentChance(join(data, 'manifest.csv'), join(out, 'tiny16', 'knn.csv'));
      const chanceRow = t3.rows[2];
      for (const [i, v] of [
        [t3.header.indexOf('micro_p1'), chance.micro],
        [t3.header.indexOf('micro_p10'), chance.micro],
        [t3.header.indexOf('macro_p1'), chance.macro],
      ] as const)
        assert.ok(Math.abs(Number(chanceRow[i]) - v) < 1e-6, `${t3.header[i]}: ${chanceRow[i]} vs ${v}`);
      for (const f of ['table4_modality.csv', 'table9_anatomy_pathology.csv', 'table10_dataset.csv'])
        assert.ok(
          csv(join(out, f)).rows.some((r) => r[0] === 'chance'),
          `${f} has a chance row`,
        );
      // Table 5: the default probe row, its C, the flags column and the majority-class row
      const t5 = csv(join(out, 'table5_embedding_quality.csv'));
      assert.deepEqual(
        t5.rows.map((r) => `${r[0]} ${r[1]}`),
        ['tiny16 knn', 'tiny16 linear_probe', 'tiny-cnn knn', 'tiny-cnn linear_probe', 'majority majority_class'],
      );
      assert.ok(t5.header.includes('flags') && t5.header.includes('C'));
      const majority = independentMajority(join(data, 'manifest.csv'));
      const acc = t5.header.indexOf('accuracy');
      assert.ok(Math.abs(Number(t5.rows[4][acc]) - majority) < 1e-7, `${t5.rows[4][acc]} vs ${majority}`);
      for (const e of res.evaluations) {
        assert.equal(e.probe?.protocol, 'logistic');
        assert.ok(e.probe!.metrics.accuracy > majority, `${e.modelId}: probe beats the majority class`);
        assert.deepEqual(e.probe!.flags, [], `${e.modelId}: the default probe is not degenerate on the phantom`);
      }
      assert.equal(res.report.protocol.probe && res.report.protocol.probe.protocol, 'logistic');
      const summary = readFileSync(join(out, 'summary.md'), 'utf8');
      assert.match(summary, /Table 3/);
      assert.match(summary, /Table 5/);

      // A second run reuses the embeddings and the k-NN tables.
      const knnFile = join(out, 'tiny16', 'knn.csv');
      const before = readFileSync(knnFile, 'utf8');
      const lines: string[] = [];
      const again = await runReport({
        data,
        models: ['tiny16'],
        workDir: join(out, 'work'),
        replicates: 0,
        probe: false,
        indexSize: false,
        workers: 0,
        log: (l) => lines.push(l),
      });
      await saveReport(again, out, { figures: false });
      assert.ok(
        lines.some((l) => /tiny16: embeddings reused/.test(l)),
        lines.join('\n'),
      );
      assert.ok(
        lines.some((l) => /k-NN tables from cache/.test(l)),
        lines.join('\n'),
      );
      assert.equal(readFileSync(knnFile, 'utf8'), before);
      assert.ok(statSync(join(out, 'work', 'embeddings', 'tiny16')).isDirectory());
    } finally {
      cleanup();
    }
  },
);
