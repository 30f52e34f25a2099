import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { CbirError } from '../../src/workbench/errors.js';
import {
  accuracy,
  argmaxRows,
  averagePrecision,
  averagePrecisionOvr,
  averagePrecisionPerClass,
  classificationSummary,
  f1,
  precision,
  recall,
  rocAuc,
  rocAucOvr,
  rocAucPerClass,
} from '../../src/workbench/metrics/index.js';

const fx = JSON.parse(readFileSync(new URL('./fixtures/sklearn.json', import.meta.url), 'utf8'));
const close = (a: number, b: number, msg: string, tol = 1e-6) =>
  assert.ok(Math.abs(a - b) <= tol, `${msg}: ${a} vs sklearn ${b}`);
const isErr = (code: string) => (e: unknown) => e instanceof CbirError && e.code === code;

test('binary ROC AUC and average precision match sklearn (ties, imbalance, no positive)', () => {
  assert.ok(fx.binary.length >= 5);
  for (const c of fx.binary) {
    const y = Uint8Array.from(c.yTrue),
      s = Float32Array.from(c.yScore);
    if (typeof c.rocAuc === 'number') close(rocAuc(y, s), c.rocAuc, `${c.name} rocAuc`);
    else assert.throws(() => rocAuc(y, s), isErr('metrics/one-class'), c.name);
    close(averagePrecision(y, s), c.averagePrecision, `${c.name} AP`);
    // float64 scores give the same answer
    if (typeof c.rocAuc === 'number') close(rocAuc(y, Float64Array.from(c.yScore)), c.rocAuc, `${c.name} rocAuc f64`);
  }
});

test('hand-worked binary cases', () => {
  // pairs (pos, neg): (0.8,0.1) win, (0.8,0.4) win, (0.4,0.1) win, (0.4,0.4) tie → (3 + 0.5) / 4
  assert.equal(rocAuc(Uint8Array.of(1, 0, 1, 0), Float32Array.of(0.8, 0.1, 0.4, 0.4)), 0.875);
  // ranking 1 0 1: precision at the two positives 1 and 2/3, AP = (1 + 2/3) / 2
  close(averagePrecision(Uint8Array.of(1, 0, 1), Float64Array.of(0.9, 0.5, 0.2)), 5 / 6, 'AP');
  // a tie at the top between a positive and a negative: one threshold, precision 1/2
  close(averagePrecision(Uint8Array.of(1, 0), Float64Array.of(0.5, 0.5)), 0.5, 'AP tie');
});

test('one-vs-rest ROC AUC / AP, F1, precision, recall, accuracy match sklearn on multiclass cases', () => {
  for (const c of fx.multiclass) {
    const C = c.nClasses,
      y = Uint16Array.from(c.labels),
      s = Float32Array.from(c.scores);
    close(rocAucOvr(s, y, C, 'micro'), c.rocAucMicro, `${c.name} roc micro`);
    if (typeof c.rocAucMacro === 'number') close(rocAucOvr(s, y, C, 'macro'), c.rocAucMacro, `${c.name} roc macro`);
    else {
      assert.throws(() => rocAucOvr(s, y, C, 'macro'), isErr('metrics/one-class'), c.name);
      // skip: the mean over the classes sklearn can score one by one
      const per = c.rocAucPerClass.filter((v: unknown) => typeof v === 'number');
      close(
        rocAucOvr(s, y, C, 'macro', { absentClasses: 'skip' }),
        per.reduce((a: number, b: number) => a + b, 0) / per.length,
        `${c.name} roc macro skip`,
      );
    }
    close(averagePrecisionOvr(s, y, C, 'micro'), c.apMicro, `${c.name} AP micro`);
    close(averagePrecisionOvr(s, y, C, 'macro'), c.apMacro, `${c.name} AP macro`);
    const apc = averagePrecisionPerClass(s, y, C);
    const rpc = rocAucPerClass(s, y, C);
    for (let k = 0; k < C; k++) {
      close(apc[k], c.apPerClass[k], `${c.name} AP class ${k}`);
      if (typeof c.rocAucPerClass[k] === 'number') close(rpc[k], c.rocAucPerClass[k], `${c.name} roc class ${k}`);
      else assert.ok(Number.isNaN(rpc[k]));
    }
    const pred = argmaxRows(s, C);
    assert.deepEqual([...pred], c.pred, `${c.name} argmax`);
    for (const avg of ['micro', 'macro'] as const) {
      close(f1(y, pred, avg), c[`f1_${avg}`], `${c.name} f1 ${avg}`);
      close(precision(y, pred, avg), c[`precision_${avg}`], `${c.name} precision ${avg}`);
      close(recall(y, pred, avg), c[`recall_${avg}`], `${c.name} recall ${avg}`);
    }
    close(accuracy(y, pred), c.accuracy, `${c.name} accuracy`);
    const sum = classificationSummary(s, y, C, {
      absentClasses: typeof c.rocAucMacro === 'number' ? 'sklearn' : 'skip',
    });
    close(sum.microAuroc, c.rocAucMicro, 'summary micro auroc');
    close(
      sum.macroAveragePrecision,
      typeof c.rocAucMacro === 'number' ? c.apMacro : sum.macroAveragePrecision,
      'summary ap',
    );
    close(sum.macroF1, c.f1_macro, 'summary macro f1');
    close(sum.accuracy, c.accuracy, 'summary accuracy');
  }
  const never = fx.multiclass.find((c: { name: string }) => c.name.includes('never predicted'));
  assert.ok(!never.pred.includes(4), 'fixture has a class that is never predicted');
});

test('label metrics: sklearn label set (union) and explicit labels', () => {
  for (const c of fx.labels) {
    const y = Int32Array.from(c.yTrue),
      p = Int32Array.from(c.yPred);
    const opt = c.labels ? { labels: c.labels } : {};
    for (const avg of ['micro', 'macro'] as const) {
      close(f1(y, p, avg, opt), c[`f1_${avg}`], `${c.name} f1 ${avg}`);
      close(precision(y, p, avg, opt), c[`precision_${avg}`], `${c.name} precision ${avg}`);
      close(recall(y, p, avg, opt), c[`recall_${avg}`], `${c.name} recall ${avg}`);
    }
    close(accuracy(y, p), c.accuracy, `${c.name} accuracy`);
  }
});

test('hand-worked label metrics with zero_division = 0', () => {
  const y = Uint8Array.of(0, 0, 1, 2),
    p = Uint8Array.of(0, 1, 1, 1);
  // class 0: P 1, R 1/2; class 1: P 1/3, R 1; class 2: P 0 (never predicted), R 0
  close(precision(y, p, 'macro'), (1 + 1 / 3 + 0) / 3, 'macro P');
  close(recall(y, p, 'macro'), (0.5 + 1 + 0) / 3, 'macro R');
  close(f1(y, p, 'macro'), (2 / 3 + 0.5 + 0) / 3, 'macro F1');
  close(f1(y, p, 'micro'), 0.5, 'micro F1 = accuracy');
  assert.equal(accuracy(y, p), 0.5);
});

test('input errors', () => {
  assert.throws(() => rocAuc(Uint8Array.of(0, 1), Float32Array.of(0.5)), isErr('metrics/length-mismatch'));
  assert.throws(() => rocAuc(Uint8Array.of(0, 2), Float32Array.of(0.5, 0.1)), isErr('metrics/not-binary'));
  assert.throws(() => averagePrecision(Uint8Array.of(0, 1), Float32Array.of(NaN, 0.1)), isErr('metrics/not-finite'));
  assert.throws(
    () => rocAucOvr(new Float32Array(6), Uint8Array.of(0, 3), 3, 'micro'),
    isErr('metrics/label-out-of-range'),
  );
  assert.throws(
    () => rocAucOvr(new Float32Array(5), Uint8Array.of(0, 1), 3, 'micro'),
    isErr('metrics/length-mismatch'),
  );
  assert.throws(
    () => rocAucOvr(Float32Array.of(0.1, 0.2, Infinity, 0, 0, 1), Uint8Array.of(0, 1), 3, 'macro'),
    isErr('metrics/not-finite'),
  );
  assert.throws(() => f1(Int32Array.of(0, -1), Int32Array.of(0, 1), 'macro'), isErr('metrics/label-out-of-range'));
  assert.throws(() => f1(Int32Array.of(0, 1), Int32Array.of(0), 'macro'), isErr('metrics/length-mismatch'));
  assert.throws(() => accuracy(new Int32Array(0), new Int32Array(0)), isErr('metrics/bad-argument'));
  assert.throws(() => f1(Int32Array.of(0), Int32Array.of(0), 'weighted' as 'micro'), isErr('metrics/bad-argument'));
});
