import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { buildSavedIndex, saveSavedIndex } from '../../src/workbench/search/saved.js';
import { IndexSearcher, type QueryFile, type SearchResponse } from '../../src/workbench/search/query.js';
import { EVAL_METRICS, evaluateSearch, manifestQueries } from '../../src/workbench/search/evaluate.js';
import { searchReranker, type SearchRerankOptions } from '../../src/workbench/search/rerank.js';
import { indexRowVectors } from '../../src/workbench/search/vectors.js';
import { ExactIndex } from '../../src/workbench/search/exact.js';
import { computeKnnTable, type KnnTable } from '../../src/workbench/knn/table.js';
import { databaseAugmentation, kReciprocalRerank, queryExpansion } from '../../src/workbench/knn/rerank.js';
import { rankingScores } from '../../src/workbench/benchmark/beyond.js';
import { precisionAtN } from '../../src/workbench/metrics/precision.js';
import { cbir } from '../helpers/cli.js';
import { rejectsCbir } from '../helpers/assert.js';
import { searchFixture, type SearchFixture } from './fixture.js';

let fx: SearchFixture;
let indexDir: string;
let searcher: IndexSearcher;
let train: Int32Array;
let testRows: Int32Array;
let queries: QueryFile[];
before(async () => {
  fx = await searchFixture('cbir-search-eval-');
  indexDir = join(fx.dir, 'index');
  const built = await buildSavedIndex({ store: fx.storeDir, manifest: fx.manifest });
  await saveSavedIndex(built, indexDir);
  await built.index.close();
  searcher = await IndexSearcher.open(indexDir);
  train = fx.manifest.indicesOf('train');
  testRows = fx.manifest.indicesOf('test');
  queries = (await manifestQueries(fx.data, 'test')).files;
});
after(async () => {
  await searcher.close();
  fx.cleanup();
});

const knn = (k: number, queryRows = testRows): Promise<KnnTable> =>
  computeKnnTable({ embeddings: fx.vectors, dim: fx.store.dim, indexRows: train, queryRows, k });

/** The manifest rows of each query's hits, in order. */
const hitRows = (r: SearchResponse) => r.queries.map((q) => q.results.map((h) => train[h.row]));
/** The manifest rows of each query's row of a k-NN table (−1 left out). */
const tableRows = (t: KnnTable) =>
  Array.from(t.queryRows, (_, q) => Array.from(t.ids.subarray(q * t.k, (q + 1) * t.k)).filter((id) => id >= 0));

test('--eval numbers equal ranking.ts (via the report) on the same neighbour lists', async () => {
  const r = await searcher.searchFiles(queries, { k: 100 });
  const ev = evaluateSearch(r, searcher.saved.rows);
  const t = await knn(100);
  assert.deepEqual(hitRows(r), tableRows(t), 'the search gives the k-NN table rows');
  assert.equal(ev.scored, testRows.length);
  assert.equal(ev.skipped, 0);
  const [bin, hier] = rankingScores(fx.manifest, t, 10);
  const m = ev.metrics;
  const close = (a: number, b: number, what: string) => assert.ok(Math.abs(a - b) < 1e-9, `${what}: ${a} vs ${b}`);
  close(m['mAP@10'].micro, bin.mapMicro, 'mAP micro');
  close(m['mAP@10'].macro, bin.mapMacro, 'mAP macro');
  close(m['recall@10'].micro, bin.recallMicro, 'recall');
  close(m['R-precision'].micro, bin.rPrecisionMicro, 'R-precision');
  assert.equal(m['R-precision'].scored, bin.rPrecisionScored);
  close(m['majority@10'].micro, bin.majorityMicro, 'majority');
  close(m['nDCG@10'].micro, hier.ndcgMicro, 'hierarchical nDCG micro');
  close(m['nDCG@10'].macro, hier.ndcgMacro, 'hierarchical nDCG macro');
  assert.ok(hier.ndcgMicro !== bin.ndcgMicro, 'the gains are graded, not binary');
  const cls = (row: number) => fx.manifest.classIndex[row];
  const counts = new Int32Array(fx.manifest.classes.length);
  for (const row of train) counts[cls(row)]++;
  const ids = Int32Array.from(t.ids, (id) => train.indexOf(id));
  const p = precisionAtN(ids, Int32Array.from(testRows, cls), Int32Array.from(train, cls), counts, {
    ns: [1, 10],
    absentFromIndex: 'zero',
  });
  close(m['P@1'].micro, p.micro[0], 'P@1');
  close(m['P@10'].macro, p.macro[1], 'P@10 macro');
  // P@1 by hand: the top hit's class is the query's
  const hand = r.queries.filter((q) => q.results[0].class === q.class).length / r.queries.length;
  close(m['P@1'].micro, hand, 'P@1 by hand');
  for (const name of EVAL_METRICS) assert.ok(Number.isFinite(m[name].micro), name);
});

test('queries of no known class are skipped and counted; none known is a clear error', async () => {
  const outside = join(fx.dir, 'outside.png');
  copyFileSync(queries[0].file, outside);
  const r = await searcher.searchFiles([...queries.slice(0, 5), { path: outside, file: outside, explicit: true }], {
    k: 100,
  });
  const ev = evaluateSearch(r, searcher.saved.rows);
  assert.deepEqual([ev.queries, ev.scored, ev.skipped], [6, 5, 1]);
  const only = await searcher.searchFiles([{ path: outside, file: outside, explicit: true }], { k: 100 });
  assert.throws(() => evaluateSearch(only, searcher.saved.rows), /none of the 1 queries has a known class/);
  const shallow = await searcher.searchFiles(queries.slice(0, 2), { k: 5 });
  assert.throws(() => evaluateSearch(shallow, searcher.saved.rows), /needs at least 10/);
  rmSync(outside);
});

test('αQE, k-reciprocal and DBA give what rerank.ts gives on the k-NN tables', async () => {
  const dim = fx.store.dim;
  const plain = await knn(10);
  const self = await computeKnnTable({ embeddings: fx.vectors, dim, indexRows: train, queryRows: train, k: 20 });
  const cases: [SearchRerankOptions, KnnTable][] = [
    [{ method: 'qe', n: 3, alpha: 3 }, await queryExpansion(fx.vectors, dim, plain, { n: 3, alpha: 3 })],
    [{ method: 'dba', n: 3, alpha: 0 }, await databaseAugmentation(fx.vectors, dim, plain, self, { n: 3, alpha: 0 })],
  ];
  const deep = await knn(40);
  const kr = { k1: 10, k2: 3, lambda: 0.3 };
  const krTable = kReciprocalRerank(deep, self, kr);
  cases.push([{ method: 'kreciprocal', ...kr, depth: 40 }, krTable]);
  const base = await searcher.searchFiles(queries, { k: 10 });
  for (const [o, expected] of cases) {
    const reranker = await searchReranker(searcher, o);
    try {
      const r = await searcher.searchFiles(queries, { k: 10, rerank: reranker });
      const want = tableRows(expected).map((row) => row.slice(0, 10));
      assert.deepEqual(hitRows(r), want, o.method);
      assert.notDeepEqual(hitRows(r), hitRows(base), `${o.method} changes the results`);
      assert.deepEqual(
        r.queries.map((q) => q.plain?.map((h) => h.row)),
        base.queries.map((q) => q.results.map((h) => h.row)),
        `${o.method} keeps the plain hits`,
      );
      const ev = evaluateSearch({ ...r, k: 10 }, searcher.saved.rows);
      const evPlain = evaluateSearch({ ...r, k: 10 }, searcher.saved.rows, { ranking: 'plain' });
      assert.equal(evPlain.metrics['mAP@10'].micro, evaluateSearch(base, searcher.saved.rows).metrics['mAP@10'].micro);
      assert.ok(ev.metrics['mAP@10'].micro !== evPlain.metrics['mAP@10'].micro, `${o.method} changes mAP@10`);
    } finally {
      await reranker.close();
    }
  }
});

test('an HNSW index gives its rows from its embedding store; bad re-ranking options are refused', async () => {
  const hdir = join(fx.dir, 'hnsw');
  const built = await buildSavedIndex({ store: fx.storeDir, manifest: fx.manifest, index: { kind: 'hnsw' } });
  const saved = await saveSavedIndex(built, hdir);
  const rows = await indexRowVectors(saved);
  const pick = Int32Array.of(3, 0, train.length - 1);
  const got = await rows(pick);
  const dim = fx.store.dim;
  pick.forEach((p, t) =>
    assert.deepEqual(got.subarray(t * dim, (t + 1) * dim), fx.vectors.subarray(train[p] * dim, (train[p] + 1) * dim)),
  );
  const exactRows = await indexRowVectors(searcher.saved);
  assert.deepEqual(await exactRows(pick), got, 'the exact index gives the same vectors from itself');
  await built.index.close();
  // an exact index built with other ids and small blocks gives each id's own vector
  const ids = Int32Array.from(train, (r) => 1000 - r);
  const small = ExactIndex.build(fx.vectors, dim, { indexBlock: 7 }, { rows: train, ids });
  const back = await small.vectorsOf(Int32Array.of(ids[5], ids[0], ids[40]));
  [5, 0, 40].forEach((p, t) =>
    assert.deepEqual(back.subarray(t * dim, (t + 1) * dim), fx.vectors.subarray(train[p] * dim, (train[p] + 1) * dim)),
  );
  await rejectsCbir(small.vectorsOf(Int32Array.of(5000)), /id 5000 is not in this index/, 'index/bad-id');
  const size = searcher.saved.index.size;
  await rejectsCbir(searchReranker(searcher, { method: 'qe', n: 0, alpha: 1 }), /n = 0/, 'search/bad-rerank');
  await rejectsCbir(searchReranker(searcher, { method: 'qe', n: 2, alpha: -1 }), /α = -1/, 'search/bad-rerank');
  await rejectsCbir(
    searchReranker(searcher, { method: 'kreciprocal', k1: 5, k2: 6, lambda: 0.3 }),
    /k2 = 6/,
    'search/bad-rerank',
  );
  await rejectsCbir(
    searchReranker(searcher, { method: 'kreciprocal', k1: 5, k2: 2, lambda: 1.5 }),
    /λ = 1.5/,
    'search/bad-rerank',
  );
  await rejectsCbir(
    searchReranker(searcher, { method: 'dba', n: 2, alpha: 0 }, { dbaMaxRows: size - 1 }),
    /this index has \d+ rows \(at most \d+ here\)/,
    'search/dba-too-large',
  );
});

test('cbir search --data --split test --eval --rerank qe: plain and re-ranked side by side; bad flags', async () => {
  const args = ['search', '--index', indexDir, '--data', fx.data, '--split', 'test', '--eval', '--quiet'];
  const j = await cbir(...args, '--rerank', 'qe', '--qe-n', '3', '--json');
  assert.equal(j.code, 0, j.err);
  const out = JSON.parse(j.out);
  assert.equal(out.rerank, 'aqe(n=3,alpha=3)');
  assert.equal(out.k, 10);
  assert.equal(out.queries[0].results.length, 10);
  assert.ok(!('plain' in out.queries[0]));
  const r = await searcher.searchFiles(queries, { k: 100 });
  const ev = evaluateSearch(r, searcher.saved.rows);
  assert.deepEqual(out.evaluation.plain.metrics, JSON.parse(JSON.stringify(ev.metrics)));
  assert.equal(out.evaluation.reranked.ranking, 'reranked');
  assert.equal(out.evaluation.reranked.scored, testRows.length);
  const text = await cbir(...args, '--rerank', 'kreciprocal', '--k1', '10', '--k2', '3');
  assert.equal(text.code, 0, text.err);
  assert.match(text.out, new RegExp(`^evaluation: ${testRows.length} of ${testRows.length} queries scored, 0 skipped`));
  assert.match(
    text.out,
    /\n {13}plain {13}k-reciprocal\(k1=10,k2=3,lambda=0\.3\)\nmetric {7}micro {3}macro {5}micro {3}macro\n/,
  );
  const p1 = ev.metrics['P@1'];
  assert.match(
    text.out,
    new RegExp(`\\nP@1 +${p1.micro.toFixed(4)} +${p1.macro.toFixed(4)} +0\\.\\d{4} +0\\.\\d{4}\\n`),
  );
  assert.match(text.out, /\nnDCG@10 +0\.\d{4}/);

  const bad: [string[], RegExp][] = [
    [['--rerank', 'mean'], /--rerank must be qe, kreciprocal or dba, got "mean"/],
    [['--rerank', 'qe', '--qe-n', '0'], /--qe-n must be an integer ≥ 1/],
    [['--rerank', 'qe', '--k1', '5'], /--k1 does not apply to --rerank qe/],
    [['--qe-alpha', '2'], /--qe-alpha does not apply without --rerank/],
    [['--rerank', 'kreciprocal', '--lambda', 'x'], /--lambda must be a number, got "x"/],
    [['--rerank', 'kreciprocal', '--lambda', '2'], /λ = 2 is outside \[0, 1\]/],
  ];
  for (const [extra, message] of bad) {
    const b = await cbir(...args, ...extra);
    assert.equal(b.code, 1, extra.join(' '));
    assert.match(b.err, message, extra.join(' '));
    assert.doesNotMatch(b.err, /\n\s+at /, 'no stack trace');
  }
  const lam = await cbir(...args, '--rerank', 'kreciprocal', '--lambda', '2');
  assert.match(lam.err, /→ in the CLI: --qe-n ≥ 1 and --qe-alpha ≥ 0; --rerank kreciprocal: 1 ≤ --k2 ≤ --k1/);
  const noData = await cbir('search', '--index', indexDir, '--split', 'test', queries[0].file);
  assert.equal(noData.code, 1);
  assert.match(noData.err, /--split needs --data/);
  const badSplit = await cbir('search', '--index', indexDir, '--data', fx.data, '--split', 'tset');
  assert.match(badSplit.err, /unknown split "tset"/);
});
