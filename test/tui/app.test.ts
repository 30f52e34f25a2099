import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createElement } from 'react';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { render } from 'ink-testing-library';
import { App, type AppProps } from '../../src/tui/App.js';
import { buildView } from '../../src/tui/views.js';
import { tableToCsv, tableToMarkdown, type ModelInfo } from '../../src/workbench/index.js';
import type { RunMessage, RunRequest } from '../../src/tui/runner.js';
import { tempDir } from '../helpers/datasets.js';
import { fixtureReport, KEYS, oldReportFolder } from './fixtures.js';

const SIZE = { columns: 80, rows: 24 };
const MODELS: ModelInfo[] = [
  { id: 'tiny16', name: 'tiny', dim: 256, builtin: true, kind: 'descriptor', weightsPresent: true, path: null },
  { id: 'hist64', name: 'hist', dim: 64, builtin: true, kind: 'descriptor', weightsPresent: true, path: null },
  { id: 'vit-b16', name: 'ViT', dim: 768, builtin: false, kind: 'study', weightsPresent: false, path: null },
];

const tick = (ms = 40) => new Promise((r) => setTimeout(r, ms));

function mount(props: AppProps) {
  const r = render(createElement(App, { size: SIZE, models: MODELS, imageMode: 'ascii', ...props }));
  const frame = () => r.lastFrame() ?? '';
  const press = async (...keys: string[]) => {
    for (const k of keys) {
      r.stdin.write(k);
      await tick();
    }
  };
  const until = async (pred: (f: string) => boolean, what: string) => {
    for (let i = 0; i < 150; i++) {
      if (pred(frame())) return;
      await tick(20);
    }
    assert.fail(`timed out waiting for ${what}; screen:\n${frame()}`);
  };
  /** Wait (up to 3 s: renders are asynchronous) until the screen matches `re`. */
  const see = async (re: RegExp) => {
    for (let i = 0; i < 150 && !re.test(frame()); i++) await tick(20);
    assert.match(frame(), re);
  };
  return { ...r, frame, press, until, see };
}

/** The frame fits an 80×24 terminal: at most 23 lines of at most 80 columns. */
function assertFits(f: string) {
  const lines = f.split('\n');
  assert.ok(lines.length <= 23, `${lines.length} lines`);
  // eslint-disable-next-line no-control-regex
  for (const l of lines) assert.ok(l.replace(/\x1b\[[0-9;]*m/g, '').length <= 80, `line too long: "${l}"`);
}

test('opens a report on the overall table: P@N values, best marked *, the cell detail with its 95 % CI', async () => {
  const app = mount({ report: fixtureReport() });
  await app.see(/Table 3: retrieval precision/);
  const f = app.frame();
  assertFits(f);
  assert.match(f, /beta +\*0\.720 +\*0\.600 +\*0\.520/);
  assert.match(f, /alpha +0\.610 +0\.550 +\*0\.520/);
  assert.match(f, /alpha · micro P@1 = 0\.610 · 95 % CI 0\.560–0\.650/);
  app.unmount();
});

test('arrow keys move the cursor (detail line follows); i cycles the interval views', async () => {
  const app = mount({ report: fixtureReport() });
  await tick();
  await app.press(KEYS.down, KEYS.right, KEYS.right);
  await app.see(/beta · micro P@5 = 0\.520 · 95 % CI 0\.470–0\.560/);
  await app.press('l', 'l', 'l');
  await app.see(/beta · macro P@3 = 0\.410/);
  await app.press(KEYS.down, KEYS.down, KEYS.down); // clamps at the last row
  await app.see(/gamma · macro P@3 = 0\.290/);
  await app.press('i');
  await app.see(/Table 3: micro P@N with 95 % intervals/);
  await app.see(/\*0\.720 +0\.67–0\.76/);
  await app.press('i');
  await app.see(/Table 3: macro P@N with 95 % intervals/);
  await app.press('i');
  await app.until((f) => !/with 95 % intervals/.test(f) && /Table 3: retrieval/.test(f), 'the values view');
  app.unmount();
});

test('number keys and Tab switch views; every view fits 80×24', async () => {
  const app = mount({ report: fixtureReport() });
  await tick();
  const expect: [string, RegExp][] = [
    ['2', /Table 4: P@1 per modality[\s\S]*beta +\*0\.800/],
    ['3', /Table 9: micro P@1[\s\S]*classes +2 +3/],
    ['4', /Table 10: P@1 per source dataset[\s\S]*ds-a/],
    ['5', /Table 5: embedding quality[\s\S]*probe/],
    ['6', /Paired comparison[\s\S]*beta +alpha +micro +1 +\+0\.110/],
    ['1', /Table 3/],
  ];
  for (const [k, re] of expect) {
    await app.press(k);
    await app.see(re);
    assertFits(app.frame());
  }
  await app.press(KEYS.tab);
  await app.see(/Table 4/);
  app.unmount();
});

test('? shows the help overlay, Esc closes it; q quits', async () => {
  let quit = 0;
  const app = mount({
    report: fixtureReport(),
    onQuit: () => {
      quit++;
    },
  });
  await tick();
  await app.press('?');
  await app.see(/Keys[\s\S]*export the current view[\s\S]*next \/ previous query whose top-1 match is wrong/);
  assertFits(app.frame());
  await app.press(KEYS.escape);
  await tick(60);
  await app.see(/Table 3/);
  await app.press('q');
  await app.until(() => quit === 1, 'quit');
  app.unmount();
});

test('e then c / m exports the current view to a file and shows the path', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const report = fixtureReport(dir);
    const app = mount({ report });
    await tick();
    await app.press('2', 'e');
    await app.see(/export as: c = CSV, m = Markdown/);
    await app.press('c');
    const csv = join(dir, 'exports', 'modality.csv');
    await app.until((f) => f.includes('exported to'), 'the export');
    assert.ok(existsSync(csv));
    assert.equal(readFileSync(csv, 'utf8'), tableToCsv(report.tables.table4_modality!));
    await app.until((f) => /exported to .*modality\.csv/.test(f.replace(/\n/g, '')), 'the export path');
    await app.press('1', 'i', 'e', 'm');
    const md = join(dir, 'exports', 'overall_micro_ci.md');
    await app.until(() => existsSync(md), 'the markdown export');
    assert.equal(
      readFileSync(md, 'utf8'),
      tableToMarkdown(buildView(report, 'overall', { overallMode: 'micro' }).table),
    );
    app.unmount();
  } finally {
    cleanup();
  }
});

test('run screen: tick models, start, per-model progress with rate and ETA, then the new report opens', async () => {
  let started = null as RunRequest | null;
  let send: (m: RunMessage) => void = () => {};
  let stopped = false;
  const report = fixtureReport();
  const app = mount({
    setup: { data: '/data/set', out: '/tmp/out-x', models: ['tiny16'] },
    startRun: (req, on) => {
      started = req;
      send = on;
      return {
        stop: async () => {
          stopped = true;
        },
      };
    },
    loadReport: async (d) => {
      assert.equal(d, '/tmp/out-x');
      return report;
    },
  });
  await app.see(/New run/);
  let f = app.frame();
  assertFits(f);
  assert.match(f, /\[x\] tiny16/);
  assert.match(f, /\[ \] hist64/);
  assert.match(f, /weights missing: cbir models pull vit-b16/);
  assert.match(f, /Start: cbir report --data \/data\/set --models tiny16 --out \/tmp\/out-x/);
  // move down to hist64 (past Or open and the heading) and tick it; vit-b16 cannot be ticked
  await app.press(KEYS.down, KEYS.down, KEYS.down, ' ', KEYS.down, ' ');
  await app.see(/\[x\] hist64/);
  assert.match(app.frame(), /\[ \] vit-b16/);
  await app.press(KEYS.up, KEYS.up, KEYS.up, KEYS.up, KEYS.enter);
  await app.until(() => started !== null, 'the run to start');
  assert.deepEqual(started!.models, ['tiny16', 'hist64']);
  assert.equal(started!.data, '/data/set');
  await app.see(/Run in progress/);
  send({ type: 'data', dir: '/data/set' });
  send({
    type: 'progress',
    event: {
      step: 'embed',
      model: 'tiny16',
      phase: 'embed tiny16',
      done: 40,
      total: 160,
      rate: 81.5,
      etaSeconds: 75,
      unit: 'images',
    },
  });
  await app.see(/▶ tiny16 +embed +█+░+ 40\/160 img 81\.5 img\/s ETA 1:15/);
  f = app.frame();
  assertFits(f);
  assert.match(f, /· hist64 +waiting/);
  // browsing while it runs: the status line keeps showing the run
  await app.press('1');
  await app.see(/No report open/);
  await app.see(/▶ tiny16 embed tiny16 25%/);
  await app.press('0');
  send({ type: 'log', line: 'tiny16: embeddings computed (160 new, 0 resumed) in w' });
  send({
    type: 'progress',
    event: {
      step: 'embed',
      model: 'hist64',
      phase: 'embed hist64',
      done: 160,
      total: 160,
      rate: 300,
      etaSeconds: 0,
      unit: 'images',
    },
  });
  await tick();
  await app.see(/✓ tiny16 +done · embedded at 81\.5 images\/s/);
  send({ type: 'done', out: '/tmp/out-x' });
  await app.until((x) => /Table 3/.test(x), 'the report to open');
  await app.see(/run finished: report in \/tmp\/out-x/);
  assert.equal(stopped, false);
  app.unmount();
});

test('q during a run asks again, then stops the run and quits', async () => {
  let stopped = 0,
    quit = 0;
  const app = mount({
    setup: { models: ['tiny16'] },
    onQuit: () => {
      quit++;
    },
    startRun: () => ({
      stop: async () => {
        stopped++;
      },
    }),
  });
  await tick();
  await app.press(KEYS.enter);
  await app.see(/Run in progress/);
  await app.press('q');
  await app.see(/press q again/);
  assert.equal(quit, 0);
  await app.press('q');
  await app.until(() => quit === 1, 'quit');
  assert.equal(stopped, 1);
  app.unmount();
});

test('editing a field takes every key (q does not quit); Esc cancels, Enter keeps', async () => {
  let quit = 0;
  const app = mount({
    setup: { models: ['tiny16'] },
    onQuit: () => {
      quit++;
    },
  });
  await tick();
  await app.press(KEYS.up, KEYS.up, KEYS.up, KEYS.up, KEYS.up, KEYS.up, KEYS.enter); // Dataset
  await app.press('/', 'q', 'x');
  await app.see(/Dataset +\/qx▌/);
  assert.equal(quit, 0);
  await app.press(KEYS.escape);
  await tick(60);
  await app.see(/Dataset +phantom/);
  await app.press(KEYS.enter, '/', 'd', KEYS.enter);
  await app.see(/Dataset +\/d\n/);
  await app.see(/Start: cbir report --data \/d --models tiny16 --out .*tui-d/);
  app.unmount();
});

test('opening an old report folder (no report.json) shows the message and the re-run hint, and keeps going', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const old = oldReportFolder(join(dir, 'old'));
    const app = mount({ setup: { models: ['tiny16'] } });
    await app.see(/New run/);
    await app.press(KEYS.down, KEYS.enter); // Or open
    await app.press(old, KEYS.enter);
    await app.until((f) => /older radcbir, before report\.json/.test(f.replace(/\n/g, ' ')), 'the refusal');
    const f = app.frame();
    assertFits(f);
    assert.match(f.replace(/\n/g, ' '), /→ re-run the same report into this folder/);
    await app.press('1');
    await app.see(/No report open/);
    app.unmount();
  } finally {
    cleanup();
  }
});

test('keys read in one chunk all act, in order (tmux send-keys jj): the cursor moves two rows', async () => {
  const app = mount({ report: fixtureReport() });
  await app.see(/alpha · micro P@1 = 0\.610/);
  app.stdin.write('jj');
  await app.see(/gamma · micro P@1 = 0\.500/);
  app.stdin.write('ll');
  await app.see(/gamma · micro P@5 = 0\.410/);
  app.stdin.write('k' + KEYS.up + 'h'); // a letter, an arrow and a letter in one write
  await app.see(/alpha · micro P@3 = 0\.550/);
  // a chunk that switches views: the keys after the switch go to the new view
  app.stdin.write('3j');
  await app.see(/Table 9[\s\S]*beta · CT_anat = 0\.900 · 2 classes, 60 queries/);
  app.stdin.write('1i');
  await app.see(/Table 3: micro P@N with 95 % intervals/);
  app.unmount();
});

test('a best-value star never touches the value before it, in every view with stars, wide or narrow', async () => {
  for (const columns of [80, 60, 48]) {
    const app = mount({ report: fixtureReport(), size: { columns, rows: 24 } });
    await app.see(/Table 3/);
    for (const k of ['1', '2', '3', '4', '5']) {
      await app.press(k);
      await tick();
      const f = app.frame();
      assert.ok(f.includes('*'), `no star at ${columns} columns, view ${k}:\n${f}`);
      assert.doesNotMatch(f, /[^\s›◂]\*/, `a star touches a value at ${columns} columns, view ${k}:\n${f}`);
    }
    app.unmount();
  }
});

test('Anat/Path: the cursor starts on the first model, not on a count row; one class is "1 class"', async () => {
  const app = mount({ report: fixtureReport() });
  await app.see(/Table 3/);
  await app.press('3');
  await app.see(/alpha · CT_anat = 0\.800 · 2 classes, 60 queries/);
  assert.match(app.frame(), /›alpha/);
  app.stdin.write('ll');
  await app.see(/alpha · MR_anat = 0\.600 · 1 class, 50 queries/);
  app.unmount();
});

test('Space on a model without weights says which model and how to get its weights', async () => {
  const app = mount({ setup: { models: ['tiny16'] } });
  await app.see(/New run/);
  app.stdin.write('jjjj'); // Start → Or open → tiny16 → hist64 → vit-b16
  await app.see(/vit-b16: weights missing, cannot be ticked · Space: how to get them/);
  await app.press(' ');
  await app.until((f) => /vit-b16 cannot run here: its weights/.test(f.replace(/\n/g, ' ')), 'the note');
  const f = app.frame().replace(/\n/g, ' ');
  assert.match(f, /cbir models pull vit-b16/);
  assert.match(app.frame(), /\[ \] vit-b16/, 'still not ticked');
  assertFits(app.frame());
  app.unmount();
});

test('a run while a report is open: the run screen names the open report and the run’s folder; both reports stay open', async () => {
  let send: (m: RunMessage) => void = () => {};
  const fresh = fixtureReport('/tmp/out-x');
  fresh.tables.table3_retrieval!.rows = [['delta', 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.85, 0.95, 0.4, 0.6, 200]];
  const app = mount({
    report: fixtureReport('/runs/old'),
    initialScreen: 'run',
    setup: { out: '/tmp/out-x', models: ['tiny16'] },
    startRun: (_req, on) => {
      send = on;
      return { stop: async () => {} };
    },
    loadReport: async () => fresh,
  });
  await app.see(/Or open +\/runs\/old +\(open now/);
  assert.doesNotMatch(app.frame(), /runs\/start/);
  await app.press(KEYS.enter);
  await app.see(/Run in progress/);
  const header = app.frame().split('\n')[1];
  assert.match(header, /run in progress → \/tmp\/out-x/);
  assert.doesNotMatch(header, /runs\/old/);
  await app.press('1');
  await app.see(/\(run → \/tmp\/out-x; 0: progress\)/);
  send({ type: 'done', out: '/tmp/out-x' });
  await app.until((f) => /2 reports open: r \/ R switch/.test(f.replace(/\n/g, ' ')), 'the new report');
  assert.match(app.frame().split('\n')[1], /#2 \/tmp\/out-x/);
  assert.match(app.frame(), /delta +\*0\.900/);
  await app.press('r');
  await app.see(/alpha +0\.610/);
  assert.match(app.frame().split('\n')[1], /#1 \/runs\/old/);
  await app.press('c');
  await app.see(/Open reports compared[\s\S]*#1 alpha[\s\S]*#2 delta +\*0\.900/);
  assertFits(app.frame());
  await app.press('?');
  await app.see(/r \/ R, c +next \/ previous open report; c: compare them/);
  assert.match(app.frame(), /no weights: how to get them/, 'the whole help fits 80 × 24');
  assert.doesNotMatch(app.frame(), /more lines/);
  app.unmount();
});
