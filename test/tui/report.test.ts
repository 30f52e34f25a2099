/**
 * The TUI on a real (tiny) report: made by the TUI's own background run (a worker thread running
 * runReport and saveReport on a small phantom), then opened (report.json, through the core's
 * openReport), browsed, refused without a TTY, and driven in tmux by smoke.sh when tmux is
 * installed. An old report folder (before report.json) is refused with the re-run hint.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, spawn } from 'node:child_process';
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { createElement } from 'react';
import { render } from 'ink-testing-library';
import { generatePhantom, parseCsv, readManifest, type Manifest } from '../../src/workbench/index.js';
import {
  startRun,
  initialRunState,
  reduceRun,
  type RunMessage,
  type RunRequest,
  type RunState,
} from '../../src/tui/runner.js';
import { modelIds, type ReportData } from '../../src/tui/report.js';
import { loadQuerySet, openQueryManifest, queryMatches } from '../../src/tui/queries.js';
import { App } from '../../src/tui/App.js';
import { runTui } from '../../src/tui/main.js';
import { isCbirError, openReport } from '../../src/workbench/index.js';
import { PROJECT_ROOT, tempDir } from '../helpers/datasets.js';
import { KEYS, oldReportFolder } from './fixtures.js';

const MODELS = ['tiny16', 'hist64'];
let tmp: { dir: string; cleanup: () => void };
let data: string;
let out: string;
let manifest: Manifest;
const messages: RunMessage[] = [];
let runState: RunState;

before(
  async () => {
    tmp = tempDir('cbir-tui-');
    data = join(tmp.dir, 'data');
    out = join(tmp.dir, 'report');
    manifest = await generatePhantom({ out: data, scale: 0.1, size: 48 });
    const req: RunRequest = {
      data,
      models: MODELS,
      out,
      replicates: 100,
      probe: false,
      indexSize: false,
      figures: false,
      workers: 1,
    };
    runState = initialRunState(req);
    await new Promise<void>((resolve, reject) => {
      startRun(req, (m) => {
        messages.push(m);
        runState = reduceRun(runState, m);
        if (m.type === 'done') resolve();
        if (m.type === 'error') reject(new Error(m.message));
      });
    });
  },
  { timeout: 120_000 },
);

after(() => tmp?.cleanup());

test('the background run (worker thread) reports per-model embedding progress and writes the report', () => {
  const progress = messages.filter((m): m is Extract<RunMessage, { type: 'progress' }> => m.type === 'progress');
  assert.ok(
    progress.every((m) => m.event.step !== undefined),
    'every event of a run says its step',
  );
  const embeds = progress.filter((m) => m.event.step === 'embed');
  for (const model of MODELS) {
    const last = embeds.filter((m) => m.event.model === model).at(-1);
    assert.ok(last, `no embed progress for ${model}`);
    assert.equal(last.event.total, manifest.size);
    assert.equal(last.event.done, manifest.size);
    assert.ok(last.event.rate > 0);
    assert.ok(messages.some((m) => m.type === 'log' && m.line.startsWith(`${model}: embeddings computed`)));
  }
  assert.equal(runState.status, 'done');
  assert.equal(runState.out, out);
  assert.deepEqual(
    runState.models.map((m) => m.status),
    ['done', 'done'],
  );
  assert.ok(runState.models.every((m) => m.embedRate !== null && m.embedRate > 0));
  assert.ok(existsSync(join(out, 'report.json')), 'saveReport wrote report.json');
  assert.ok(existsSync(join(out, 'table3_retrieval.csv')));
});

/** A CSV cell as a table value ('' → null, numbers → number). */
function csvValue(s: string): string | number | null {
  if (s === '') return null;
  if (s === 'NaN' || s === 'Infinity' || s === '-Infinity') return Number(s);
  return /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(s) ? Number(s) : s;
}

test('openReport gives the TUI report.json: the numbers of the CSV tables, the dataset and its hash, the intervals', async () => {
  const r = await openReport(out);
  assert.deepEqual(modelIds(r), MODELS);
  const recs = [...parseCsv(readFileSync(join(out, 'table3_retrieval.csv'), 'utf8'))].map((x) => x.cells);
  assert.deepEqual(r.tables.table3_retrieval!.columns, recs[0]);
  // the CSV rounds to 8 significant digits; report.json keeps every digit
  const csvRows = recs.slice(1).map((row) => row.map((c, i) => (i === 0 ? c : csvValue(c))));
  const rows = r.tables.table3_retrieval!.rows;
  assert.equal(rows.length, csvRows.length);
  rows.forEach((row, i) =>
    row.forEach((v, j) => {
      const c = csvRows[i][j];
      if (typeof v === 'number' && typeof c === 'number')
        assert.ok(Math.abs(v - c) <= 1e-8 * Math.max(1, Math.abs(v)), `${v} vs ${c}`);
      else assert.equal(v, c);
    }),
  );
  assert.equal(r.dataset.dir, manifest.dir);
  assert.equal(r.dataset.hash, manifest.hash);
  for (const m of r.models) {
    assert.ok(m.precision.rows.length >= 10, `${m.modelId}: P@N rows`);
    assert.ok(existsSync(join(m.knn.test, 'meta.json')), `${m.modelId}: the k-NN table the report names`);
  }
  assert.ok(r.tables.comparison, 'two models: a paired comparison');
  assert.ok(r.tables.comparison.columns.includes('p_holm'));
  await assert.rejects(openReport(join(tmp.dir, 'data')), /not a report folder: report\.json is missing/);
});

test('an old report folder (before report.json) is refused with the message and the re-run hint', async () => {
  const old = oldReportFolder(join(tmp.dir, 'old-report'));
  await assert.rejects(openReport(old), (e: unknown) => {
    assert.ok(isCbirError(e));
    assert.equal(e.code, 'report/old-format');
    assert.match(e.message, /older radcbir, before report\.json/);
    assert.match(e.message, /→ re-run the same report into this folder/);
    return true;
  });
});

test('a changed manifest is a warning in the query browser, not a refusal', async () => {
  const r = await openReport(out);
  const changed: ReportData = { ...r, dataset: { ...r.dataset, hash: 'f'.repeat(64) } };
  const o = await openQueryManifest(changed);
  assert.equal(o.manifest.hash, manifest.hash);
  assert.match(o.warning ?? '', /changed since the report was made \(hash [0-9a-f]{12}, the report's ffffffffffff\)/);
  assert.equal((await openQueryManifest(r)).warning, null);
  // the k-NN cache was made on this manifest: still used (with similarities)
  const qs = await loadQuerySet(changed, o.manifest, MODELS[0]);
  assert.ok(qs.sims);
});

test("query browser data: the k-NN cache and knn.csv agree, and the top-1 ✓ marks give Table 3's micro P@1", async () => {
  const r = await openReport(out);
  const m = await readManifest(r.dataset.dir);
  for (const [i, model] of MODELS.entries()) {
    const fromCache = await loadQuerySet(r, m, model);
    const fromCsv = await loadQuerySet(r, m, model, { workDir: join(tmp.dir, 'no-work') });
    assert.equal(fromCache.source, r.models[i].knn.test, 'the k-NN table the report names');
    assert.ok(fromCache.sims);
    assert.equal(fromCsv.sims, null);
    assert.equal(fromCsv.source, join(out, model, 'knn.csv'));
    assert.deepEqual(fromCsv.queryRows, fromCache.queryRows);
    assert.deepEqual(fromCsv.ids, fromCache.ids);
    const nq = fromCache.queryRows.length;
    let top1 = 0;
    for (let q = 0; q < nq; q++) {
      const info = queryMatches(fromCache, m, q, 10);
      if (info.matches[0].correct) top1++;
      for (let j = 1; j < info.matches.length; j++)
        assert.ok(info.matches[j].sim! <= info.matches[j - 1].sim! + 1e-6, 'similarities descend');
      assert.equal(info.className, m.classes[m.classIndex[fromCache.queryRows[q]]].name);
    }
    const row = r.tables.table3_retrieval!.rows.find((x) => x[0] === model)!;
    assert.ok(Math.abs(top1 / nq - (row[1] as number)) < 1e-6, `${model}: ${top1}/${nq} vs micro_p1 ${row[1]}`);
  }
});

test('the App on the real report: overall P@1 from the CSV on screen, the query browser with marks and images', async () => {
  const report: ReportData = await openReport(out);
  const app = render(createElement(App, { report, size: { columns: 80, rows: 24 }, models: [], imageMode: 'ascii' }));
  const see = async (re: RegExp) => {
    for (let i = 0; i < 250 && !re.test(app.lastFrame() ?? ''); i++) await new Promise((s) => setTimeout(s, 20));
    assert.match(app.lastFrame() ?? '', re);
  };
  const p1 = (report.tables.table3_retrieval!.rows[0][1] as number).toFixed(3);
  await see(new RegExp(`tiny16 +\\*?${p1.replace('.', '\\.')}`));
  app.stdin.write('7');
  const m = await readManifest(data);
  const qs = await loadQuerySet(report, m, 'tiny16');
  const first = queryMatches(qs, m, 0, 10);
  await see(/Query 1\/\d+ · tiny16 \(1\/2\)/);
  await see(new RegExp(`${first.className}`));
  const frame = app.lastFrame()!;
  assert.match(
    frame,
    new RegExp(
      `\\s1 ${first.matches[0].correct ? '✓' : '✗'} ${first.matches[0].sim!.toFixed(4)} ${first.matches[0].className}`,
    ),
  );
  assert.match(frame, /query/);
  await see(/[.:\-=+*#%@]{4,}/); // the ASCII rendering of the query image
  app.stdin.write(KEYS.right);
  await see(/Query 2\//);
  app.stdin.write('m');
  await see(/Query 2\/\d+ · hist64 \(2\/2\)/);
  app.stdin.write('/5\r'); // find by number, typed in one burst (as a paste)
  await see(/Query 5\/\d+ · hist64/);
  app.unmount();
});

/** The longest run of ASCII-ramp characters (an image drawn as text) in a frame, from and to a non-blank one. */
function widestImageLine(frame: string): number {
  let best = 0;
  for (const m of frame.matchAll(/[.:\-=+*#%@][ .:\-=+*#%@]*[.:\-=+*#%@]/g)) best = Math.max(best, m[0].length);
  return best;
}

test('the query images scale with the terminal: 16 columns at 80 × 24, wider and taller at 160 × 48', async () => {
  const report: ReportData = await openReport(out);
  const sizes: Record<string, { wide: number; lines: number }> = {};
  for (const [columns, rows] of [
    [80, 24],
    [160, 48],
  ]) {
    const app = render(
      createElement(App, { report, size: { columns, rows }, models: [], imageMode: 'ascii', initialScreen: 'queries' }),
    );
    for (let i = 0; i < 250 && widestImageLine(app.lastFrame() ?? '') < 8; i++)
      await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 200)); // the match's image too
    const frame = app.lastFrame() ?? '';
    const lines = frame.split('\n').filter((l) => widestImageLine(l) >= 4).length;
    sizes[columns] = { wide: widestImageLine(frame), lines };
    assert.ok(frame.split('\n').length <= rows - 1, `${columns} × ${rows}: the frame is too tall`);
    app.unmount();
  }
  assert.ok(sizes[80].wide >= 8 && sizes[80].wide <= 16, JSON.stringify(sizes));
  assert.ok(sizes[160].wide > 24, `at 160 × 48 the images stay small: ${JSON.stringify(sizes)}`);
  assert.ok(sizes[160].lines > 2 * sizes[80].lines - 2, `not taller: ${JSON.stringify(sizes)}`);
});

test('the query browser says how to fix a report whose dataset folder is gone', async () => {
  const r = await openReport(out);
  const report: ReportData = { ...r, dataset: { ...r.dataset, dir: join(tmp.dir, 'moved-away') } };
  const app = render(
    createElement(App, {
      report,
      size: { columns: 80, rows: 24 },
      models: [],
      imageMode: 'ascii',
      initialScreen: 'queries',
    }),
  );
  for (let i = 0; i < 250 && !/dataset folder is gone/.test(app.lastFrame() ?? ''); i++)
    await new Promise((s) => setTimeout(s, 20));
  assert.match(app.lastFrame() ?? '', /moved-away: the report's dataset folder is gone/);
  assert.match((app.lastFrame() ?? '').replace(/\n/g, ' '), /--data <manifest dir>/);
  app.unmount();
});

test('runTui without a terminal refuses (exit code 2) and prints the equivalent cbir commands', async () => {
  let err = '';
  const stderr = {
    write: (t: string) => {
      err += t;
      return true;
    },
  } as unknown as NodeJS.WriteStream;
  const notTty = { isTTY: false } as unknown as NodeJS.ReadStream & NodeJS.WriteStream;
  const code = await runTui({ report: out }, { stdin: notTty, stdout: notTty, stderr });
  assert.equal(code, 2);
  const esc = (p: string) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  assert.match(err, /needs an interactive terminal/);
  // into new folders (the report's work folder is reused), never into the finished report
  const work = esc(join(out, 'work'));
  assert.match(
    err,
    new RegExp(`cbir report --data ${esc(data)} --models tiny16,hist64 --work ${work} --out ${esc(out)}-2 `),
  );
  assert.match(err, new RegExp(`cbir eval --data .* --model tiny16 --work ${work} --out ${esc(out)}-tiny16 `));
  assert.doesNotMatch(err, new RegExp(`--out ${esc(out)}( |$)`, 'm'));
  await assert.rejects(
    runTui({ report: join(tmp.dir, 'nowhere') }, { stdin: notTty, stdout: notTty, stderr }),
    /report folder not found/,
  );
  await assert.rejects(
    runTui({ report: oldReportFolder(join(tmp.dir, 'old-2')) }, { stdin: notTty, stdout: notTty, stderr }),
    /older radcbir[\s\S]*re-run the same report/,
  );
});

const tmux = spawnSync('tmux', ['-V'], { encoding: 'utf8' });
test(
  'smoke.sh drives cbir tui in an 80×24 tmux terminal: P@1 of table3_retrieval.csv on screen, every view, export, quit, and the refusal without a TTY',
  { skip: tmux.status === 0 ? false : 'tmux is not installed (apt-get install -y tmux)', timeout: 120_000 },
  async () => {
    const child = spawn('bash', [join(PROJECT_ROOT, 'test', 'tui', 'smoke.sh'), out], {
      cwd: PROJECT_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let text = '';
    child.stdout.on('data', (d) => {
      text += d;
    });
    child.stderr.on('data', (d) => {
      text += d;
    });
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    assert.equal(code, 0, text);
    assert.match(text, /ok: tiny16 micro P@1 \d\.\d{3}/);
    assert.match(text, /ok: without a terminal: exit code 2 and the cbir report command/);
    assert.match(text, /all checks passed/);
  },
);
