/**
 * onnxruntime-node against PyTorch on the same weights: images/s of radcbir's ONNX path
 * (`OnnxExtractor.embedTensor`: session run + the card's pooling) and of torch (forward + the
 * same pooling, `torch.inference_mode()`), for real-size architectures exported by
 * `models/export/export_onnx.py --random-init` (ResNet-50, ViT-B/16, Swin-B: torchvision's, with
 * seeded weights; models/export/bench_torch.py rebuilds the same module on the torch side), and
 * its two bench architectures `bench-vitl14` (CLIP ViT-L/14's visual tower) and `bench-vitb16-1024`
 * (a ViT-B/16 at 1024 px, global attention, SAM's neck), whose cards the export writes next to the
 * ONNX file.
 *
 * Per model: a parity check (cosine of the two engines' embeddings of one random batch; below
 * 0.9999 the model is not timed), a short tuning step at --tune-batch (onnxruntime intra-op threads ×
 * graph optimisation level, torch threads; best of --tune-runs runs; the fastest of each is kept),
 * then for batch 1, 8 and 32 interleaved rounds A B A B … (A = onnxruntime, B = torch; each round
 * ≥ --images images, default 8). Reported: median images/s over rounds with the range, and the
 * median (range) of the per-round ratio onnxruntime / torch, with the load average before and after.
 *
 *   nice node --import tsx bench/torch.ts                               # all three (tens of minutes on 2 cores)
 *   node --import tsx bench/torch.ts --models resnet50 --batches 1,8 --rounds 5
 *   nice node --import tsx bench/torch.ts --models bench-vitb16-1024 --batches 1 --images 1 --tune-batch 1 --tune-runs 1
 *
 * Needs /usr/bin/python3 with torch, torchvision and onnx (Debian python3-torch …); without them it
 * says so and exits 0. The exports are kept in .cache/bench-torch/ and reused.
 */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadCard } from '../src/workbench/models/cards.js';
import { loadOnnxExtractor, type OnnxExtractor } from '../src/workbench/models/onnx/extractor.js';
import { preprocessedLength } from '../src/workbench/models/preprocess.js';
import type { ModelCard } from '../src/workbench/models/types.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const PY = '/usr/bin/python3';
const OUT = join(ROOT, '.cache', 'bench-torch');
const NAMES: Record<string, string> = {
  resnet50: 'ResNet-50',
  'vit-b16': 'ViT-B/16',
  'ark-swinb': 'Swin-B',
  'bench-vitl14': 'ViT-L/14 (CLIP tower)',
  'bench-vitb16-1024': 'ViT-B/16 @ 1024 px (SAM-style)',
};
const PARITY_MIN = 0.9999;

interface Plan {
  cores: number;
  images: number; // images per round (at least)
  tuneBatch: number;
  tuneRuns: number;
}

type Level = 'basic' | 'extended' | 'all';
interface OrtConfig {
  threads: number;
  level: Level;
}

const median = (v: number[]) => {
  const s = [...v].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const load = () =>
  loadavg()
    .map((x) => x.toFixed(2))
    .join(' / ');
/** Decimals for images/s: one at ≥ 1 img/s, more below (a 1024-px ViT runs at ≈ 0.05 img/s). */
const rateDigits = (v: number[]) => (median(v) >= 1 ? 1 : median(v) >= 0.1 ? 2 : 3);
const fmt = (v: number[], d = 1) =>
  `${median(v).toFixed(d)} (${Math.min(...v).toFixed(d)}–${Math.max(...v).toFixed(d)})`;

/** The torch side: one python process per model, answering one JSON line per request. */
class Torch {
  private readonly lines: AsyncIterator<string>;
  private constructor(private readonly proc: ChildProcessWithoutNullStreams) {
    this.lines = createInterface({ input: proc.stdout })[Symbol.asyncIterator]();
  }

  static async start(id: string): Promise<Torch> {
    const proc = spawn(PY, [join(ROOT, 'models/export/bench_torch.py'), '--model', id], { stdio: 'pipe' });
    proc.stderr.on('data', () => {}); // torch's warnings
    const t = new Torch(proc);
    await t.next();
    return t;
  }

  private async next(): Promise<Record<string, unknown>> {
    const { value, done } = await this.lines.next();
    if (done) throw new Error('bench_torch.py exited');
    return JSON.parse(value) as Record<string, unknown>;
  }

  async ask(msg: object): Promise<Record<string, unknown>> {
    this.proc.stdin.write(`${JSON.stringify(msg)}\n`);
    return this.next();
  }

  async images(batch: number, iters: number): Promise<number> {
    const r = await this.ask({ cmd: 'run', batch, iters });
    return (r.images as number) / (r.seconds as number);
  }

  close(): void {
    this.proc.stdin.end(`${JSON.stringify({ cmd: 'quit' })}\n`);
  }
}

/** Images/s of the ONNX path on a fixed random input of `batch`. */
async function ortImages(ex: OnnxExtractor, card: ModelCard, batch: number, iters: number): Promise<number> {
  const input = new Float32Array(batch * preprocessedLength(card.preprocess)).map((_, i) => Math.sin(i));
  const t0 = performance.now();
  for (let i = 0; i < iters; i++) await ex.embedTensor(input, batch);
  return (batch * iters) / ((performance.now() - t0) / 1000);
}

function ortSession(card: ModelCard, c: OrtConfig, batch: number): Promise<OnnxExtractor> {
  const modelPath = join(OUT, card.onnx.file);
  return loadOnnxExtractor(card, {
    modelPath,
    intraOpThreads: c.threads,
    graphOptimizationLevel: c.level,
    batchSize: batch,
    referenceCheck: false,
  });
}

const cosine = (a: ArrayLike<number>, b: ArrayLike<number>, ia: number, ib: number, n: number) => {
  let dot = 0,
    na = 0,
    nb = 0;
  for (let d = 0; d < n; d++) {
    const x = a[ia + d],
      y = b[ib + d];
    dot += x * y;
    na += x * x;
    nb += y * y;
  }
  return dot / Math.sqrt(na * nb);
};

/**
 * Worst cosine between the two engines' embeddings of one random batch of 2 (same weights → ≈ 1),
 * and the cosine between torch's two embeddings (near 1 would make the check blind).
 */
async function parity(card: ModelCard, torch: Torch, cores: number): Promise<{ worst: number; apart: number }> {
  const r = await torch.ask({ cmd: 'embed', batch: 2, seed: 7 });
  const bytes = Buffer.from(r.input as string, 'base64');
  const input = new Float32Array(bytes.length / 4);
  new Uint8Array(input.buffer).set(bytes);
  const ex = await ortSession(card, { threads: cores, level: 'all' }, 2);
  try {
    const got = await ex.embedTensor(input, 2);
    const want = (r.embedding as number[][]).flat();
    const D = card.dim;
    const worst = Math.min(cosine(got, want, 0, 0, D), cosine(got, want, D, D, D));
    return { worst, apart: cosine(want, want, 0, D, D) };
  } finally {
    await ex.close();
  }
}

/** Best of `runs` timed runs after one warm-up run. */
async function bestOf(runs: number, run: () => Promise<number>): Promise<number> {
  await run();
  let best = 0;
  for (let i = 0; i < runs; i++) best = Math.max(best, await run());
  return best;
}

/** The fastest onnxruntime configuration and torch thread count at plan.tuneBatch (one batch per run). */
async function tune(card: ModelCard, torch: Torch, plan: Plan): Promise<{ ort: OrtConfig; torchThreads: number }> {
  const threads = [...new Set([1, plan.cores])];
  const b = plan.tuneBatch;
  let best: { c: OrtConfig; rate: number } | null = null;
  for (const t of threads)
    for (const level of ['basic', 'extended', 'all'] as Level[]) {
      const ex = await ortSession(card, { threads: t, level }, b);
      try {
        const rate = await bestOf(plan.tuneRuns, () => ortImages(ex, card, b, 1));
        if (!best || rate > best.rate) best = { c: { threads: t, level }, rate };
      } finally {
        await ex.close();
      }
    }
  let torchBest = { n: 1, rate: 0 };
  for (const n of threads) {
    await torch.ask({ cmd: 'threads', n });
    const rate = await bestOf(plan.tuneRuns, () => torch.images(b, 1));
    if (rate > torchBest.rate) torchBest = { n, rate };
  }
  await torch.ask({ cmd: 'threads', n: torchBest.n });
  return { ort: best!.c, torchThreads: torchBest.n };
}

/** Interleaved rounds A (onnxruntime) B (torch) at one batch size. */
async function rounds(card: ModelCard, cfg: OrtConfig, torch: Torch, batch: number, n: number, images: number) {
  const iters = Math.max(1, Math.ceil(images / batch));
  const ex = await ortSession(card, cfg, batch);
  const ort: number[] = [];
  const pt: number[] = [];
  try {
    await ortImages(ex, card, batch, 1); // warm-up
    await torch.images(batch, 1);
    for (let r = 0; r < n; r++) {
      ort.push(await ortImages(ex, card, batch, iters));
      pt.push(await torch.images(batch, iters));
    }
  } finally {
    await ex.close();
  }
  return { ort, pt, ratio: ort.map((v, i) => v / pt[i]) };
}

function ensureExports(models: string[]): void {
  const cardThere = (m: string) => existsSync(join(ROOT, 'models', `${m}.json`)) || existsSync(join(OUT, `${m}.json`));
  const missing = models.filter((m) => !existsSync(join(OUT, `${m}.onnx`)) || !cardThere(m));
  if (!missing.length) return;
  mkdirSync(OUT, { recursive: true });
  const script = join(ROOT, 'models/export/export_onnx.py');
  const args = [script, '--model', ...missing, '--random-init', '--seed', '0', '--no-reference', '--out', OUT];
  const r = spawnSync(PY, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.status !== 0) throw new Error(`export failed:\n${r.stdout}\n${r.stderr}`);
}

/** A card in models/, or the card export_onnx.py wrote next to a bench architecture's ONNX file. */
function benchCard(id: string): ModelCard {
  const inModels = join(ROOT, 'models', `${id}.json`);
  return loadCard(existsSync(inModels) ? inModels : join(OUT, `${id}.json`));
}

/** Parity, tuning and the interleaved rounds of one model: its table rows and notes. */
async function benchModel(
  id: string,
  batches: number[],
  n: number,
  plan: Plan,
): Promise<{ rows: string[]; notes: string[] }> {
  const card = benchCard(id);
  const name = NAMES[id] ?? id;
  const rows: string[] = [];
  const torch = await Torch.start(id);
  try {
    const p = await parity(card, torch, plan.cores);
    const note = `${name}: parity onnxruntime vs torch, cosine ${p.worst.toFixed(7)} (torch's two random inputs apart: cosine ${p.apart.toFixed(4)})`;
    console.error(note);
    if (!(p.worst >= PARITY_MIN)) return { rows, notes: [`${note}: below ${PARITY_MIN}, not timed`] };
    const t = await tune(card, torch, plan);
    for (const b of batches) {
      const r = await rounds(card, t.ort, torch, b, n, plan.images);
      const set = `${t.ort.threads}, ${t.ort.level}; ${t.torchThreads}`;
      rows.push(
        `| ${name} | ${b} | ${fmt(r.ort, rateDigits(r.ort))} | ${fmt(r.pt, rateDigits(r.pt))} | ${fmt(r.ratio, 2)}× | ${set} |`,
      );
      console.error(
        `${rows.at(-1)}  per-round ratios ${r.ratio.map((x) => x.toFixed(2)).join(' ')}; img/s onnxruntime ${r.ort.map((x) => x.toFixed(3)).join(' ')}, torch ${r.pt.map((x) => x.toFixed(3)).join(' ')}; load ${load()}`,
      );
    }
    return { rows, notes: [note] };
  } finally {
    torch.close();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      models: { type: 'string', default: 'resnet50,vit-b16,ark-swinb' },
      batches: { type: 'string', default: '1,8,32' },
      rounds: { type: 'string', default: '5' },
      images: { type: 'string', default: '8' },
      'tune-batch': { type: 'string', default: '8' },
      'tune-runs': { type: 'string', default: '2' },
    },
  });
  const check = spawnSync(PY, ['-c', 'import torch, torchvision, onnx; print(torch.__version__)'], {
    encoding: 'utf8',
  });
  if (check.status !== 0) {
    console.log(
      `skipped: ${PY} lacks torch/torchvision/onnx (apt-get install python3-torch python3-torchvision python3-onnx)`,
    );
    return;
  }
  const models = values.models.split(',');
  const batches = values.batches.split(',').map(Number);
  const n = Math.max(5, Number(values.rounds));
  const plan: Plan = {
    cores: cpus().length,
    images: Math.max(1, Number(values.images)),
    tuneBatch: Math.max(1, Math.min(Number(values['tune-batch']), Math.max(...batches))),
    tuneRuns: Math.max(1, Number(values['tune-runs'])),
  };
  const before = load();
  ensureExports(models);
  const lines = [
    `onnxruntime-node vs torch ${check.stdout.trim()} on the same seeded weights; tuned at batch ${plan.tuneBatch} (best of ${plan.tuneRuns}); ${n} interleaved rounds (A B A B …) per batch size, each ≥ ${plan.images} images; median (range) over rounds. Load average before: ${before}.`,
    '',
    '| model | batch | onnxruntime img/s | torch img/s | onnxruntime / torch | settings (ORT threads, level; torch threads) |',
    '|---|---|---|---|---|---|',
  ];
  const notes: string[] = [];
  for (const id of models) {
    const r = await benchModel(id, batches, n, plan);
    lines.push(...r.rows);
    notes.push(...r.notes);
  }
  lines.push('', ...notes.map((x) => `- ${x}`), `- Load average after: ${load()}; ${plan.cores} cores.`);
  console.log(lines.join('\n'));
}

await main();
