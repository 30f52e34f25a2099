/**
 * The study-protocol linear probe (AdamW, batch 512, lr 1e-3, wd 0.01) per epoch: the onnx
 * backend (mini-batch SGEMM graphs, probeGemm.ts) against the plain TS loops it replaces, in
 * interleaved rounds (plain, onnx; the next round in reverse order), on seeded clustered unit
 * vectors with long-tailed classes. One epoch = all train steps + the validation accuracy; it
 * is timed from the call to the first onEpoch (so it includes the checks and the session set-up).
 * The train split is passed as rows of one matrix that also holds val and test, as `cbir eval` does.
 *
 *   node --import tsx bench/probe.ts                                     # 50,000 × 768, 185 classes, 5 rounds
 *   node --import tsx bench/probe.ts --rows 200000 --dim 1024 --rounds 1 --backends onnx
 */
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { linearProbe, type ProbeSplit } from '../src/workbench/metrics/index.js';
import { Rng } from '../src/workbench/util/rng.js';

const { values: a } = parseArgs({
  options: {
    rows: { type: 'string', default: '50000' },
    dim: { type: 'string', default: '768' },
    classes: { type: 'string', default: '185' },
    rounds: { type: 'string', default: '5' },
    backends: { type: 'string', default: 'plain,onnx' },
    threads: { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});
if (a.help) {
  console.log(
    'bench/probe.ts [--rows 50000] [--dim 768] [--classes 185] [--rounds 5] [--backends plain,onnx] [--threads n]',
  );
  process.exit(0);
}
const N = Number(a.rows),
  D = Number(a.dim),
  C = Number(a.classes),
  rounds = Number(a.rounds);
const backends = a.backends!.split(',') as ('plain' | 'onnx')[];
const threads = a.threads ? Number(a.threads) : undefined;

/** N train rows plus N/10 val and N/10 test rows of clustered unit vectors; class c has weight ∝ 1/(c+1). */
function data(): { train: ProbeSplit; val: ProbeSplit; test: ProbeSplit } {
  const rng = new Rng(7);
  const total = N + 2 * Math.ceil(N / 10);
  const centres = Float32Array.from({ length: C * D }, () => rng.normal());
  const cum = new Float64Array(C);
  for (let c = 0, s = 0; c < C; c++) cum[c] = s += 1 / (c + 1);
  const x = new Float32Array(total * D),
    labels = new Uint16Array(total);
  for (let i = 0; i < total; i++) {
    const u = rng.next() * cum[C - 1];
    let c = 0;
    while (cum[c] < u) c++;
    labels[i] = c;
    let n2 = 0;
    for (let d = 0; d < D; d++) n2 += (x[i * D + d] = centres[c * D + d] + 3 * rng.normal()) ** 2;
    const inv = 1 / Math.sqrt(n2);
    for (let d = 0; d < D; d++) x[i * D + d] *= inv;
  }
  const part = (s: number, e: number): ProbeSplit => {
    const rows = Int32Array.from({ length: e - s }, (_, i) => s + i);
    return { x, rows, labels: labels.slice(s, e) };
  };
  const v = Math.ceil(N / 10);
  return { train: part(0, N), val: part(N, N + v), test: part(N + v, N + 2 * v) };
}

/** Seconds of the first epoch (wall) and the process CPU seconds over it. */
async function oneEpoch(s: ReturnType<typeof data>, backend: 'plain' | 'onnx'): Promise<[number, number, number]> {
  const t0 = performance.now(),
    c0 = process.cpuUsage();
  let wall = 0,
    cpu = 0,
    acc = 0;
  await linearProbe(s.train, s.val, s.test, D, C, {
    epochs: 1,
    backend,
    threads,
    onEpoch: (e) => {
      wall = (performance.now() - t0) / 1000;
      const c = process.cpuUsage(c0);
      cpu = (c.user + c.system) / 1e6;
      acc = e.valAccuracy;
    },
  });
  return [wall, cpu, acc];
}

const median = (v: number[]) => [...v].sort((p, q) => p - q)[Math.floor((v.length - 1) / 2)];
const s = data();
const times: Record<string, number[]> = {},
  cpus: Record<string, number[]> = {};
const loads: number[] = [];
for (let r = 0; r < rounds; r++) {
  for (const b of r % 2 ? [...backends].reverse() : backends) {
    loads.push(loadavg()[0]);
    const [w, c, acc] = await oneEpoch(s, b);
    (times[b] ??= []).push(w);
    (cpus[b] ??= []).push(c);
    console.error(`round ${r + 1} ${b}: ${w.toFixed(2)} s wall, ${c.toFixed(2)} s CPU, val accuracy ${acc.toFixed(4)}`);
  }
}
console.log(`Study-protocol probe, one AdamW epoch: ${N} train rows × ${D}, ${C} classes, batch 512, ${rounds} rounds`);
console.log(`(load average ${Math.min(...loads).toFixed(2)}–${Math.max(...loads).toFixed(2)})\n`);
console.log('| backend | wall s / epoch, median (range) | CPU s, median |\n|---|---:|---:|');
for (const b of backends) {
  const t = times[b];
  console.log(
    `| ${b} | ${median(t).toFixed(2)} (${Math.min(...t).toFixed(2)}–${Math.max(...t).toFixed(2)}) | ${median(cpus[b]).toFixed(2)} |`,
  );
}
if (times.plain && times.onnx) {
  const ratios = times.plain.map((p, i) => p / times.onnx[i]);
  console.log(
    `\nplain ÷ onnx per round: median ${median(ratios).toFixed(1)}× (${Math.min(...ratios).toFixed(1)}–${Math.max(...ratios).toFixed(1)}×)`,
  );
}
console.log(`peak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB`);
