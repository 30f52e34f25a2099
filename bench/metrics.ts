/**
 * Speed of the metrics at the study's scale on a synthetic k-NN table (no data needed):
 * 170,000 test queries × K = 100 neighbours, 185 classes, an index of 1.2 M rows with
 * imbalanced classes; plus a 10,000 × 256 × 20-class linear probe.
 * `node --import tsx bench/metrics.ts [precision|knn|bootstrap|probe ...]` prints a Markdown table.
 */
import { Rng } from '../src/workbench/util/rng.js';
import {
  bootstrapPrecision,
  groupedPrecision,
  knnClassification,
  linearProbe,
  pairedPrecisionTest,
  precisionAtN,
  type ProbeSplit,
} from '../src/workbench/metrics/index.js';

const only = new Set(process.argv.slice(2));
const want = (s: string) => only.size === 0 || only.has(s);
const rows: [string, string, string][] = [];
/** Wall and CPU seconds of one step (CPU time is what counts on a shared machine). */
function time<T>(what: string, size: string, f: () => T): T {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const r = f();
  const c = process.cpuUsage(c0);
  rows.push([
    what,
    size,
    `${((performance.now() - t0) / 1000).toFixed(2)} s wall, ${((c.user + c.system) / 1e6).toFixed(2)} s CPU`,
  ]);
  return r;
}

const C = 185,
  K = 100,
  NI = 1_200_000;
const rng = new Rng(42);
// imbalanced index: class sizes ∝ 1/(c+1), at least 3
const indexClassCounts = new Int32Array(C);
let h = 0;
for (let c = 0; c < C; c++) h += 1 / (c + 1);
let assigned = 0;
for (let c = 0; c < C; c++) {
  indexClassCounts[c] = Math.max(3, Math.floor(NI / h / (c + 1)));
  assigned += indexClassCounts[c];
}
const indexLabels = new Uint16Array(assigned);
const start = new Int32Array(C + 1);
for (let c = 0, i = 0; c < C; c++) {
  start[c] = i;
  indexLabels.fill(c, i, i + indexClassCounts[c]);
  i += indexClassCounts[c];
  start[c + 1] = i;
}

function table(Q: number): { neighbors: Int32Array; labels: Uint16Array } {
  const labels = new Uint16Array(Q);
  const neighbors = new Int32Array(Q * K);
  for (let q = 0; q < Q; q++) {
    const c = rng.int(C);
    labels[q] = c;
    for (let j = 0; j < K; j++) {
      neighbors[q * K + j] = rng.next() < 0.6 ? start[c] + rng.int(indexClassCounts[c]) : rng.int(assigned);
    }
  }
  return { neighbors, labels };
}

const test = time('synthetic k-NN table', '170k × 100', () => table(170_000));

if (want('precision') || want('bootstrap')) {
  const p = time('precisionAtN, N = 1..100 (study)', '170k × 100', () =>
    precisionAtN(test.neighbors, test.labels, indexLabels, indexClassCounts),
  );
  const groups = new Uint8Array(test.labels.length).map((_, q) => test.labels[q] % 4);
  time('groupedPrecision, 4 groups', '170k × 100', () =>
    groupedPrecision(p.perQuery, groups, test.labels, { nClasses: C }),
  );
  rows.push([
    '  micro / macro P@1, P@10',
    '',
    `${p.micro[0].toPrecision(8)} / ${p.macro[0].toPrecision(8)}, ${p.micro[9].toPrecision(8)} / ${p.macro[9].toPrecision(8)}`,
  ]);
  if (want('bootstrap')) {
    const b = time('bootstrapPrecision B = 1000, N = 1, 3, 5, 10', '170k', () =>
      bootstrapPrecision(p.perQuery, test.labels, { replicates: 1000, columns: [0, 2, 4, 9] }),
    );
    rows.push(['  micro P@1 95 % CI', '', `[${b.micro[0].lo.toFixed(4)}, ${b.micro[0].hi.toFixed(4)}]`]);
    const other = p.perQuery.map((v, i) => (i % 100 === 0 && rng.next() < 0.05 ? 1 - v : v));
    const t = time('pairedPrecisionTest B = 1000, 10k flips, macro', '170k', () =>
      pairedPrecisionTest(p.perQuery, other, test.labels, { average: 'macro', column: 0 }),
    );
    rows.push([
      '  difference, p',
      '',
      `${t.difference.toPrecision(8)}, ${t.pValue.toPrecision(3)} (${t.nonZero} differing)`,
    ]);
  }
}

if (want('knn')) {
  const val = time('synthetic validation table', '50k × 100', () => table(50_000));
  const r = time('knnClassification (k = 1..100 on val, test metrics)', '50k val + 170k test × 185', () =>
    knnClassification(val, test, indexLabels, indexClassCounts),
  );
  rows.push([
    '  k, accuracy, micro / macro AUROC',
    '',
    `${r.k}, ${r.accuracy.toFixed(4)}, ${r.microAuroc.toFixed(4)} / ${r.macroAuroc.toFixed(4)}`,
  ]);
}

if (want('probe')) {
  const D = 256,
    P = 20;
  const centres = new Float32Array(P * D).map(() => rng.normal());
  const split = (n: number): ProbeSplit => {
    const x = new Float32Array(n * D),
      labels = new Uint16Array(n);
    for (let i = 0; i < n; i++) {
      const c = rng.int(P);
      labels[i] = c;
      for (let d = 0; d < D; d++) x[i * D + d] = 0.15 * centres[c * D + d] + rng.normal();
    }
    return { x, labels };
  };
  const tr = split(10_000),
    va = split(2_000),
    te = split(2_000);
  const t0 = performance.now(),
    c0 = process.cpuUsage();
  const r = await linearProbe(tr, va, te, D, P, { epochs: 10 }); // async: its onnx backend
  const c = process.cpuUsage(c0),
    wall = (performance.now() - t0) / 1000;
  rows.push([
    'linearProbe 10 epochs',
    '10k × 256 × 20',
    `${wall.toFixed(2)} s wall, ${((c.user + c.system) / 1e6).toFixed(2)} s CPU`,
  ]);
  rows.push(['  epochs run', '', `${r.epochsRun}`]);
  rows.push(['  best epoch, test accuracy', '', `${r.bestEpoch}, ${r.metrics.accuracy.toFixed(4)}`]);
}

rows.push(['peak RSS', '', `${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB`]);
console.log('| step | size | result |\n|---|---|---|');
for (const [a, b, c] of rows) console.log(`| ${a} | ${b} | ${c} |`);
