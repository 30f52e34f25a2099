/**
 * Beyond the study in the report (issue #14): the ranking metrics (mAP@10, recall@10, R-precision,
 * majority vote, binary / hierarchical / ordinal nDCG@10) computed by `runReport` from its k-NN
 * tables, in report.json, summary.md and the TUI; `cbir report --rerank` adds the re-ranking table
 * with intervals; a report.json written before the field still opens.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  BEYOND_VERSION,
  CbirError,
  generatePhantom,
  openReport,
  parseCsv,
  runReport,
  saveReport,
  type ReportData,
  type Table,
} from '../../src/workbench/index.js';
import { renderSummary } from '../../src/workbench/report/summary.js';
import { buildView, overallModes } from '../../src/tui/views.js';
import { appKeys, initialAppState, reduceApp, type AppAction } from '../../src/tui/app-state.js';
import { cbir } from '../helpers/cli.js';
import { tempDir } from '../helpers/datasets.js';

const MODELS = ['tiny16', 'hog4x4x9'];
// two scales the phantom has (3 and 2 grades), and one that no class matches
const ORDINAL = {
  'US/breast': ['normal', 'benign', 'malignant'],
  'XR/knee': ['normal', 'osteoarthritis'],
  'MR/spine': ['0', '1'],
};

let tmp: { dir: string; cleanup: () => void };
let data: string;
let work: string;
let saved: ReportData;
let out: string;
let reranked: ReportData;
let cliErr: string;

before(async () => {
  tmp = tempDir();
  data = join(tmp.dir, 'data');
  await generatePhantom({ out: data, seed: 11, scale: 0.15, size: 32 });
  writeFileSync(join(data, 'relevance.json'), JSON.stringify({ ordinal: ORDINAL }));
  out = join(tmp.dir, 'report');
  work = join(tmp.dir, 'work');
  const run = await runReport({
    data,
    models: MODELS,
    workDir: work,
    replicates: 0,
    probe: false,
    indexSize: false,
    workers: 0,
  });
  saved = await saveReport(run, out, { figures: false });
  // the same data and work folder through the CLI with --rerank (embeddings and k-NN tables are reused)
  const res = await cbir(
    'report',
    ...['--data', data, '--models', MODELS.join(','), '--out', join(tmp.dir, 'rerank'), '--work', work],
    ...['--replicates', '100', '--no-probe', '--index-size', 'off', '--no-figures', '--workers', '0', '--rerank'],
  );
  assert.equal(res.code, 0, res.err);
  cliErr = res.err;
  reranked = await openReport(join(tmp.dir, 'rerank'));
});
after(() => tmp?.cleanup());

const col = (t: Table, name: string) => {
  const i = t.columns.indexOf(name);
  assert.ok(i >= 0, `${t.title} has a column ${name}`);
  return i;
};
const FRACTIONS = [
  'mAP@10_micro',
  'mAP@10_macro',
  'recall@10',
  'R-precision',
  'nDCG@10_micro',
  'nDCG@10_macro',
  'majority@10',
  'top1_within_one_grade',
];

test('report.json holds the ranking table of every model and relevance rule, fractions in [0, 1]', () => {
  const raw = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'));
  assert.equal(raw.beyond.version, BEYOND_VERSION);
  assert.deepEqual(raw.beyond.ordinal, ORDINAL);
  assert.equal(raw.beyond.rerank, null, 'no re-ranking unless asked');
  const t = saved.beyond!.ranking;
  assert.equal(saved.beyond!.k, 10);
  assert.deepEqual(
    t.rows.map((r) => `${r[0]} ${r[1]}`),
    MODELS.flatMap((m) => ['binary', 'hierarchical', 'ordinal'].map((x) => `${m} ${x}`)),
  );
  for (const row of t.rows) {
    for (const name of FRACTIONS) {
      const v = row[col(t, name)];
      if (name.startsWith('top1_') && row[1] !== 'ordinal') {
        assert.equal(v, null, 'grade columns only on ordinal rows');
        continue;
      }
      if (name === 'R-precision' && row[col(t, 'R-precision_queries')] === 0) continue;
      assert.ok(typeof v === 'number' && v >= 0 && v <= 1, `${row[0]} ${row[1]} ${name} = ${v}`);
    }
  }
  const mae = t.rows.filter((r) => r[1] === 'ordinal').map((r) => r[col(t, 'top1_grade_MAE')]);
  for (const v of mae)
    assert.ok(typeof v === 'number' && v >= 0 && v <= 2, `top-1 grade error ${v} (3 grades at most)`);
  assert.ok(
    saved.beyond!.notes.some((n) => /"MR\/spine"/.test(n) && /unused/.test(n)),
    'a declared scale that no class has is said',
  );
});

test('hierarchical nDCG@10 ≥ exact-class nDCG@10 (same-region neighbours earn 0.5); mAP does not change with the gains', () => {
  const t = saved.beyond!.ranking;
  for (const model of MODELS) {
    const rule = (x: string) => t.rows.find((r) => r[0] === model && r[1] === x)!;
    const [bin, hier] = [rule('binary'), rule('hierarchical')];
    const nd = col(t, 'nDCG@10_micro');
    assert.ok((hier[nd] as number) >= (bin[nd] as number), `${model}: ${hier[nd]} ≥ ${bin[nd]}`);
    assert.equal(hier[col(t, 'mAP@10_micro')], bin[col(t, 'mAP@10_micro')]);
  }
});

/** Rows of manifest.csv: filepath → class name and split. */
function manifestRows(): Map<string, { cls: string; split: string }> {
  const recs = [...parseCsv(readFileSync(join(data, 'manifest.csv'), 'utf8'))].map((r) => r.cells);
  const header = recs[0];
  const classCols = header.map((h, i) => (h.includes('/') ? i : -1)).filter((i) => i >= 0);
  return new Map(recs.slice(1).map((r) => [r[0], { cls: header[classCols.find((i) => r[i] === '1')!], split: r[2] }]));
}

/**
 * mAP@10 and hierarchical nDCG@10 (micro), written from their definitions and read only from the
 * files a user gets: AP@k = (1 / min(k, R)) Σ_{j ≤ k} P@j · rel_j; nDCG@k = DCG / IDCG with
 * DCG = Σ (2^g − 1) / log2(j + 1), g = 1 same class, 0.5 same modality and region, else 0;
 * majority@k = [the class most frequent in the top k (a tie: the one that got there first) is the query's].
 */
function independent(knnCsv: string): { map: number; ndcg: number; majority: number } {
  const rows = manifestRows();
  const train = [...rows.values()].filter((r) => r.split === 'train').map((r) => r.cls);
  const gain = (a: string, b: string) =>
    a === b ? 1 : a.split('/').slice(0, 2).join() === b.split('/').slice(0, 2).join() ? 0.5 : 0;
  const knn = [...parseCsv(readFileSync(knnCsv, 'utf8'))].map((r) => r.cells).slice(1);
  let ap = 0;
  let nAp = 0;
  let nd = 0;
  let nNd = 0;
  let majority = 0;
  for (const r of knn) {
    const c = rows.get(r[0])!.cls;
    const ranked = r.slice(1, 11).map((p) => rows.get(p)!.cls);
    const votes = new Map<string, number>();
    let lead = '';
    for (const x of ranked) {
      votes.set(x, (votes.get(x) ?? 0) + 1);
      if (votes.get(x)! > (votes.get(lead) ?? 0)) lead = x;
    }
    if (lead === c) majority++;
    const R = train.filter((x) => x === c).length;
    if (R > 0) {
      let hits = 0;
      let sum = 0;
      ranked.forEach((x, j) => x === c && (sum += ++hits / (j + 1)));
      ap += sum / Math.min(10, R);
      nAp++;
    }
    const dcg = (gs: number[]) => gs.reduce((s, g, j) => s + (2 ** g - 1) / Math.log2(j + 2), 0);
    const ideal = dcg(
      train
        .map((x) => gain(c, x))
        .sort((a, b) => b - a)
        .slice(0, 10),
    );
    if (ideal > 0) {
      nd += dcg(ranked.map((x) => gain(c, x))) / ideal;
      nNd++;
    }
  }
  return { map: ap / nAp, ndcg: nd / nNd, majority: majority / knn.length };
}

test('mAP@10, hierarchical nDCG@10 and majority@10 agree with an independent computation from manifest.csv and knn.csv', () => {
  const t = saved.beyond!.ranking;
  for (const model of MODELS) {
    const ref = independent(join(out, model, 'knn.csv'));
    const hier = t.rows.find((r) => r[0] === model && r[1] === 'hierarchical')!;
    assert.ok(
      Math.abs((hier[col(t, 'mAP@10_micro')] as number) - ref.map) < 1e-6,
      `${model} mAP ${ref.map} vs ${hier[col(t, 'mAP@10_micro')]}`,
    );
    assert.ok(Math.abs((hier[col(t, 'nDCG@10_micro')] as number) - ref.ndcg) < 1e-6, `${model} nDCG ${ref.ndcg}`);
    const majority = hier[col(t, 'majority@10')] as number;
    assert.ok(Math.abs(majority - ref.majority) < 1e-6, `${model} majority ${ref.majority} vs ${majority}`);
  }
});

test('summary.md has a "Beyond the study" section with the ranking table, the same numbers as report.json', () => {
  const md = readFileSync(join(out, 'summary.md'), 'utf8');
  const at = md.indexOf('### Beyond the study');
  assert.ok(at > 0);
  assert.match(md, /`US\/breast` \(normal < benign < malignant\)/);
  assert.match(md, /`cbir report --rerank` adds them/);
  const t = saved.beyond!.ranking;
  for (const row of t.rows) {
    const line = md.split('\n').find((l) => l.startsWith(`| ${row[0]} | ${row[1]} |`));
    assert.ok(line, `${row[0]} ${row[1]} in summary.md`);
    const cells = line
      .split('|')
      .slice(1, -1)
      .map((s) => s.trim());
    for (const name of ['mAP@10_micro', 'nDCG@10_micro', 'recall@10']) {
      const shown = Number(cells[col(t, name)]);
      assert.ok(
        shown >= 0 && shown <= 1 && Math.abs(shown - (row[col(t, name)] as number)) <= 5e-4,
        `${name} ${shown}`,
      );
    }
  }
});

test('cbir report --rerank adds the re-ranking table: parameters chosen on val, intervals, gains against plain', () => {
  assert.match(cliErr, /αQE: n=\d+ α=\d chosen on val/);
  assert.match(cliErr, /k-reciprocal: k1=\d+ k2=\d+ λ=0\.3 chosen on val/);
  const t = reranked.beyond!.rerank!;
  assert.ok(t, 'the rerank table is in report.json');
  assert.deepEqual(
    t.rows.map((r) => `${r[0]} ${r[1]}`),
    MODELS.flatMap((m) => ['plain', 'αQE', 'DBA', 'k-reciprocal'].map((x) => `${m} ${x}`)),
  );
  const v = (row: Table['rows'][number], name: string) => row[col(t, name)] as number;
  for (const row of t.rows) {
    for (const m of ['P@1', 'mAP@10']) {
      assert.ok(v(row, `${m}_lo`) <= v(row, m) && v(row, m) <= v(row, `${m}_hi`), `${row[0]} ${row[1]} ${m} interval`);
      assert.ok(v(row, `${m}_lo`) >= 0 && v(row, `${m}_hi`) <= 1);
    }
    const plain = t.rows.find((r) => r[0] === row[0] && r[1] === 'plain')!;
    if (row[1] === 'plain') {
      assert.equal(row[col(t, 'gain_P@1')], null);
      continue;
    }
    assert.ok(String(row[2]).length > 0, 'the chosen parameters are named');
    for (const m of ['P@1', 'mAP@10']) {
      const g = v(row, `gain_${m}`);
      assert.ok(Math.abs(g - (v(row, m) - v(plain, m))) < 1e-6, `${row[1]}: gain = its ${m} − plain's`);
      assert.ok(v(row, `gain_${m}_lo`) <= g && g <= v(row, `gain_${m}_hi`));
      assert.ok(v(row, `p_${m}`) > 0 && v(row, `p_${m}`) <= 1);
    }
  }
  // the plain row is the report's own P@1 (same test k-NN table)
  const t3 = reranked.tables.table3_retrieval!;
  for (const model of MODELS) {
    const p1 = t3.rows.find((r) => r[0] === model)![col(t3, 'micro_p1')] as number;
    const plain = t.rows.find((r) => r[0] === model && r[1] === 'plain')!;
    assert.ok(Math.abs(v(plain, 'P@1') - p1) < 1e-6, `${model}: plain P@1 ${v(plain, 'P@1')} = Table 3's ${p1}`);
  }
  const md = readFileSync(join(tmp.dir, 'rerank', 'summary.md'), 'utf8');
  assert.match(
    md,
    /### Re-ranking, query expansion \(test queries; parameters chosen on val\)/,
    'no adapter row, none named',
  );
  assert.match(md, new RegExp(`\\| ${MODELS[0]} \\| k-reciprocal \\| k1=`));
});

test('a report.json written before the ranking tables still opens; an unknown beyond version is refused clearly', async () => {
  const old = join(tmp.dir, 'old');
  cpSync(out, old, { recursive: true });
  const file = join(old, 'report.json');
  const raw = JSON.parse(readFileSync(file, 'utf8'));
  delete raw.beyond;
  writeFileSync(file, JSON.stringify(raw));
  const r = await openReport(old);
  assert.equal(r.beyond, undefined);
  assert.equal('beyond' in r, false);
  const current = await openReport(out);
  const { beyond: _b, dir: _d, ...same } = current;
  const { dir: _o, ...opened } = r;
  assert.deepEqual(opened, same, 'everything else as in the report with the field');
  assert.doesNotMatch(renderSummary(r), /Beyond the study/);
  assert.deepEqual(overallModes(r, 'b'), ['values'], 'b has nothing to show');
  const said = appKeys(initialAppState({ report: r }), 'b', {});
  assert.ok(said.some((c) => c.type === 'status' && /no ranking metrics/.test(c.status?.text ?? '')));
  assert.match(buildView(r, 'overall', { overallMode: 'ranking' }).empty ?? '', /no ranking metrics/);
  writeFileSync(
    file,
    JSON.stringify({
      ...raw,
      beyond: { ...JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')).beyond, version: 2 },
    }),
  );
  await assert.rejects(
    openReport(old),
    (e: unknown) => e instanceof CbirError && e.code === 'report/version' && /newer radcbir/.test(e.hint ?? ''),
  );
  // and the field round-trips, NaN cells included
  assert.deepEqual(current.beyond, saved.beyond);
});

test('TUI: b shows the ranking table on the overall screen (then the re-ranking table when there is one); i still cycles P@N', () => {
  const keys = (r: ReportData, input: string) => {
    let s = initialAppState({ report: r });
    const seen: string[] = [];
    for (const ch of input) {
      for (const c of appKeys(s, ch, {}))
        if (c.type !== 'quit' && c.type !== 'export') s = reduceApp(s, c as AppAction);
      seen.push(s.overallMode);
    }
    return seen;
  };
  assert.deepEqual(keys(saved, 'bbbi'), ['ranking', 'values', 'ranking', 'values']);
  assert.deepEqual(keys(reranked, 'bbbiiib'), ['ranking', 'rerank', 'values', 'micro', 'macro', 'values', 'ranking']);
  assert.deepEqual(keys(reranked, 'bi'), ['ranking', 'values'], 'i from the ranking table goes back to P@N');
  const v = buildView(saved, 'overall', { overallMode: 'ranking' });
  const t = saved.beyond!.ranking;
  assert.equal(v.rows.length, t.rows.length);
  const mapAt = v.labels.indexOf('mAP mi');
  assert.equal(v.rows[0].cells[mapAt].text, (t.rows[0][col(t, 'mAP@10_micro')] as number).toFixed(3));
  assert.deepEqual(v.table, t, 'export writes the report table');
  const rv = buildView(reranked, 'overall', { overallMode: 'rerank' });
  assert.equal(rv.rows.length, reranked.beyond!.rerank!.rows.length);
  assert.match(rv.detail(1, 3), /chosen on val/);
  assert.match(rv.rows[0].cells[4].text, /^\d\.\d{3}–\d\.\d{3}$/, 'P@1 with its interval');
});

test('a bad relevance.json stops the report before any work, naming the file', async () => {
  const file = join(data, 'relevance.json');
  writeFileSync(file, JSON.stringify({ ordinal: { 'XR/knee': 'normal' } }));
  try {
    await assert.rejects(
      runReport({ data, models: ['hog4x4x9'], workDir: work, workers: 0, probe: false, indexSize: false }),
      (e: unknown) => e instanceof CbirError && e.code === 'benchmark/bad-relevance' && e.file === file,
    );
  } finally {
    writeFileSync(file, JSON.stringify({ ordinal: ORDINAL }));
  }
});

/** A table file's CSV against the table in report.json: same header, same text cells, numbers to 1e-6 (NaN/null as empty). */
function assertCsvIs(file: string, t: Table): void {
  const recs = [...parseCsv(readFileSync(file, 'utf8'), file)].map((r) => r.cells);
  assert.deepEqual(recs[0], t.columns, `${file}: header`);
  assert.equal(recs.length - 1, t.rows.length, `${file}: one line per row`);
  t.rows.forEach((row, i) =>
    row.forEach((v, j) => {
      const cell = recs[i + 1][j];
      const where = `${file} line ${i + 2} ${t.columns[j]}`;
      if (v === null || (typeof v === 'number' && Number.isNaN(v))) assert.equal(cell, '', where);
      else if (typeof v === 'number')
        assert.ok(Math.abs(Number(cell) - v) <= 1e-6 * Math.max(1, Math.abs(v)), `${where}: ${cell} vs ${v}`);
      else assert.equal(cell, v, where);
    }),
  );
}

test('the beyond tables are written as files like the study tables (beyond_ranking, beyond_rerank with --rerank), equal to report.json', () => {
  const exts = ['csv', 'md', 'json'];
  for (const x of exts) assert.ok(existsSync(join(out, `beyond_ranking.${x}`)), `beyond_ranking.${x}`);
  assert.equal(existsSync(join(out, 'beyond_rerank.csv')), false, 'no re-ranking file unless asked');
  assert.ok(saved.files.includes('beyond_ranking.csv') && !saved.files.includes('beyond_rerank.csv'));
  const raw = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'));
  assert.ok(raw.files.includes('beyond_ranking.md'), 'listed in report.json files');
  assertCsvIs(join(out, 'beyond_ranking.csv'), saved.beyond!.ranking);
  const dir = join(tmp.dir, 'rerank');
  for (const name of ['beyond_ranking', 'beyond_rerank'])
    for (const x of exts) assert.ok(existsSync(join(dir, `${name}.${x}`)), `${name}.${x} with --rerank`);
  assert.ok(reranked.files.includes('beyond_rerank.json'));
  assertCsvIs(join(dir, 'beyond_ranking.csv'), reranked.beyond!.ranking);
  assertCsvIs(join(dir, 'beyond_rerank.csv'), reranked.beyond!.rerank!);
  const md = readFileSync(join(dir, 'beyond_rerank.md'), 'utf8');
  assert.ok(md.includes(reranked.beyond!.rerank!.title), 'the Markdown file has the table');
  const json = JSON.parse(readFileSync(join(dir, 'beyond_rerank.json'), 'utf8'));
  assert.equal(json.rows.length, reranked.beyond!.rerank!.rows.length);
});
