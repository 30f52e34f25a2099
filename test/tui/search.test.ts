/**
 * The TUI's search screen: s opens a prompt, a typed or pasted path is searched, and the results
 * show in the query browser. Against a saved index (`cbir tui --index`) built here with the core
 * (`buildSavedIndex` on a small phantom embedded with hog4x4x9), and against the open report's
 * train split (its neighbours are the report's knn.csv row).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createElement } from 'react';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { render } from 'ink-testing-library';
import { App, type AppProps } from '../../src/tui/App.js';
import { appKeys, initialAppState, reduceApp, type AppAction, type AppState } from '../../src/tui/app-state.js';
import { cleanQueryPath, searchPath } from '../../src/tui/search.js';
import { searchBrowse } from '../../src/tui/browse.js';
import {
  buildSavedIndex,
  embedManifest,
  ensurePhantom,
  IndexSearcher,
  loadExtractor,
  parseCsv,
  runReport,
  saveReport,
  saveSavedIndex,
  type Manifest,
  type ReportData,
} from '../../src/workbench/index.js';
import { tempDir } from '../helpers/datasets.js';
import { KEYS } from './fixtures.js';

const SIZE = { columns: 80, rows: 24 };
const tick = (ms = 40) => new Promise((r) => setTimeout(r, ms));

let tmp: { dir: string; cleanup: () => void };
let manifest: Manifest;
let indexDir: string;
let report: ReportData;

before(async () => {
  tmp = tempDir('cbir-tui-search-');
  manifest = await ensurePhantom({ dir: join(tmp.dir, 'data'), scale: 0.05, size: 32, seed: 5 });
  const store = join(tmp.dir, 'emb');
  const extractor = await loadExtractor('hog4x4x9');
  try {
    await embedManifest({ manifest, extractor, out: store, batchSize: 32, workers: 0 });
  } finally {
    await extractor.close();
  }
  const built = await buildSavedIndex({ store, manifest }); // the train split
  indexDir = join(tmp.dir, 'index');
  await saveSavedIndex(built, indexDir);
  await built.index.close();
  const run = await runReport({
    data: manifest,
    models: ['hog4x4x9', 'tiny16'],
    workDir: join(tmp.dir, 'report', 'work'),
    replicates: 20,
    probe: false,
    indexSize: false,
    workers: 1,
  });
  report = await saveReport(run, join(tmp.dir, 'report'), { figures: false });
});
after(() => tmp.cleanup());

function mount(props: AppProps) {
  const r = render(createElement(App, { size: SIZE, models: [], imageMode: 'ascii', ...props }));
  const frame = () => r.lastFrame() ?? '';
  const flat = () => frame().replace(/\n/g, ' ');
  /** Wait (up to 10 s: a search embeds and builds) until the screen matches `re`. */
  const see = async (re: RegExp, text = frame) => {
    for (let i = 0; i < 500 && !re.test(text()); i++) await tick(20);
    assert.match(text(), re);
  };
  const press = async (...keys: string[]) => {
    for (const k of keys) {
      r.stdin.write(k);
      await tick();
    }
  };
  return { ...r, frame, flat, see, press };
}

/** The frame fits an 80×24 terminal: at most 23 lines of at most 80 columns. */
function assertFits(f: string) {
  const lines = f.split('\n');
  assert.ok(lines.length <= 23, `${lines.length} lines`);
  for (const l of lines) assert.ok(l.length <= 80, `line too long: "${l}"`);
}

/** The match rows on screen: rank, mark, similarity, class, the end of the file path. */
function matchRows(f: string): { rank: number; mark: string; sim: number; cls: string; file: string }[] {
  const out = [];
  for (const l of f.split('\n')) {
    const m = /^ +(\d+) ([✓✗ ]) +(-?\d\.\d{4}) (\S+) +(\S+)/.exec(l);
    if (m) out.push({ rank: Number(m[1]), mark: m[2], sim: Number(m[3]), cls: m[4], file: m[5] });
  }
  return out;
}

test('--index: s, a pasted path of an index image, Enter → its matches in the query browser, itself first at similarity 1', async () => {
  const train = manifest.indicesOf('train');
  const row = train[3];
  const file = manifest.resolvePath(row);
  const cls = manifest.entry(row).className;
  const app = mount({ index: indexDir });
  await app.see(/Index .*index: press s, then type or paste the path/, app.flat);
  app.stdin.write('s' + file + '\r'); // one chunk, as a paste with its Enter: the prompt opens, then takes the rest
  await app.see(/Search 1\/1 · top-1 ✓ · \d+\/10 correct · hog4x4x9 · index/);
  const f = app.frame();
  assertFits(f);
  const rows = matchRows(f);
  assert.equal(rows.length, 10, `ten matches shown:\n${f}`);
  assert.deepEqual(
    rows.map((x) => x.rank),
    Array.from({ length: 10 }, (_, i) => i + 1),
  );
  assert.equal(rows[0].sim, 1, 'the image itself, similarity 1.0000');
  assert.equal(rows[0].mark, '✓');
  assert.ok(manifest.filepaths[row].endsWith(rows[0].file.replace(/^…/, '')), `${rows[0].file} is the query`);
  assert.ok(cls.startsWith(rows[0].cls.replace(/…$/, '')), `class ${rows[0].cls} is ${cls}`);
  // the same search through the core: the same neighbours, similarities and marks
  const searcher = await IndexSearcher.open(indexDir);
  try {
    const r = await searcher.searchFiles([{ path: file, file, explicit: true }], { k: 10 });
    const hits = r.queries[0].results;
    for (const [j, x] of rows.entries()) {
      assert.equal(x.sim.toFixed(4), hits[j].similarity.toFixed(4), `similarity of rank ${j + 1}`);
      assert.ok(hits[j].path.endsWith(x.file.replace(/^…/, '')), `path of rank ${j + 1}`);
      assert.equal(x.mark, hits[j].class === cls ? '✓' : '✗', `mark of rank ${j + 1}`);
    }
    for (let j = 1; j < rows.length; j++) assert.ok(rows[j].sim <= rows[j - 1].sim, 'similarities descend');
  } finally {
    await searcher.close();
  }
  assert.match(app.flat(), /1 image searched: top 20 of hog4x4x9/);
  app.unmount();
});

test('--index: a folder searches each image (← →); an unreadable one says why; e exports the shown matches', async () => {
  const dir = join(tmp.dir, 'queries');
  mkdirSync(join(dir, 'sub'), { recursive: true });
  const rows = manifest.indicesOf('test').slice(0, 2);
  copyFileSync(manifest.resolvePath(rows[0]), join(dir, 'a.png'));
  copyFileSync(manifest.resolvePath(rows[1]), join(dir, 'sub', 'b.png'));
  writeFileSync(join(dir, 'c.png'), 'not an image');
  const exports = join(tmp.dir, 'exports');
  const app = mount({ index: indexDir, exportDir: exports });
  await app.see(/press s/);
  await app.press('s');
  await app.see(/search with an image, DICOM file or folder: ▌/);
  app.stdin.write(`'${dir}'`); // quoted, as a file manager's drag and drop pastes it
  await app.press(KEYS.enter);
  await app.see(/3 images searched \(1 could not be read\)/, app.flat);
  await app.see(/Search 1\/3 · class unknown: no ✓\/✗ · hog4x4x9/);
  // copies of dataset images are not dataset files: their class is unknown, so no ✓/✗
  assert.match(app.frame(), /a\.png/);
  assert.match(app.frame(), /class unknown/);
  assert.ok(
    matchRows(app.frame()).every((x) => x.mark === ' '),
    'no marks without the class',
  );
  await app.press(KEYS.right);
  await app.see(/Search 2\/3/);
  assert.match(app.frame(), /c\.png/);
  await app.see(/not searched/);
  assert.equal(matchRows(app.frame()).length, 0);
  await app.press(KEYS.right);
  await app.see(/Search 3\/3[\s\S]*sub\/b\.png/);
  const top = matchRows(app.frame())[0];
  await app.press('e', 'c');
  await app.see(/exported to/);
  const csv = [...parseCsv(readFileSync(join(exports, 'search_hog4x4x9_3.csv'), 'utf8'))].map((r) => r.cells);
  assert.deepEqual(csv[0], ['rank', 'filepath', 'class', 'similarity', 'correct']);
  assert.equal(csv.length, 11, 'the ten matches shown');
  assert.equal(Number(csv[1][3]).toFixed(4), top.sim.toFixed(4));
  app.unmount();
});

test('a bad path, a non-image or no index: a message on the status line, and the TUI keeps going', async () => {
  const app = mount({ index: indexDir });
  await app.see(/press s/);
  await app.press('s');
  app.stdin.write(join(tmp.dir, 'no-such.png') + '\r');
  await app.see(/search failed: .*no-such\.png: query image or folder not found → check the path/, app.flat);
  const text = join(tmp.dir, 'notes.png');
  writeFileSync(text, 'hello');
  await app.press('s');
  app.stdin.write(text + '\r');
  await app.see(/search failed: .*notes\.png/, app.flat);
  await app.press('s', 'x', KEYS.escape);
  await app.see(/search cancelled/);
  await app.press('s', 'q'); // q is text in the prompt, not quit
  await app.see(/folder: q▌/);
  await app.press(KEYS.escape);
  app.unmount();

  const none = mount({ models: [], initialScreen: 'queries' });
  await none.see(/No report open/);
  await none.press('s');
  await none.see(/no index to search: start with `cbir tui --index <dir>`/, none.flat);
  none.unmount();

  const missing = mount({ index: join(tmp.dir, 'no-index') });
  await missing.press('s');
  missing.stdin.write(manifest.resolvePath(0) + '\r');
  await missing.see(/search failed: .*no-index: saved index folder not found/, missing.flat);
  missing.unmount();
});

test("without --index: the open report's train split, same neighbours as its knn.csv; m searches with the next model; Esc goes back", async () => {
  const q = manifest.indicesOf('test')[1];
  const path = manifest.filepaths[q];
  const knn = [...parseCsv(readFileSync(join(report.dir!, 'hog4x4x9', 'knn.csv'), 'utf8'))].map((r) => r.cells);
  const expected = knn.find((c) => c[0] === path)!.slice(1, 11);
  const app = mount({ report });
  await app.see(/Table 3/);
  await app.press('7');
  await app.see(/Query 1\/\d+ · hog4x4x9 \(1\/2\)/);
  await app.press('s');
  app.stdin.write(manifest.resolvePath(q) + '\r');
  await app.see(/Search 1\/1 · top-1 [✓✗] · \d+\/10 correct · hog4x4x9 · train split/);
  const f = app.frame();
  assertFits(f);
  const rows = matchRows(f);
  assert.equal(rows.length, 10);
  rows.forEach((x, j) => assert.ok(expected[j].endsWith(x.file.replace(/^…/, '')), `rank ${j + 1}: ${x.file}`));
  const cls = manifest.entry(q).className;
  rows.forEach((x, j) => {
    const e = manifest.entry(manifest.filepaths.indexOf(expected[j])).className;
    assert.equal(x.mark, e === cls ? '✓' : '✗', `mark of rank ${j + 1}`);
  });
  await app.press('m');
  await app.see(/Search 1\/1 · .* · tiny16 · train split/);
  await app.press(KEYS.escape);
  await app.see(/Query 1\/\d+ · tiny16 \(2\/2\)/);
  app.unmount();
});

test('search keys and state (pure): s opens the prompt, Enter searches, the results open the query browser', () => {
  const step = (s: AppState, input: string, key = {}) => {
    const effects = [];
    for (const c of appKeys(s, input, key)) {
      if (c.type === 'search' || c.type === 'quit' || c.type === 'export' || c.type === 'stop-run') effects.push(c);
      else s = reduceApp(s, c as AppAction);
    }
    return { s, effects };
  };
  let s = initialAppState({ index: '/idx' });
  assert.equal(s.screen, 'queries', 'an index without a report opens on the query browser');
  assert.equal(step(s, 's', {}).s.searchPrompt, '');
  assert.equal(
    step(initialAppState({ index: '/idx', screen: 'run' }), 's').s.searchPrompt,
    null,
    'run screen: s stops',
  );
  s = step(s, 's').s;
  for (const ch of '/a b.png') s = step(s, ch).s;
  assert.equal(s.searchPrompt, '/a b.png');
  assert.deepEqual(step(s, 'q').effects, [], 'q is text while the prompt is open');
  const done = step(s, '', { return: true });
  assert.deepEqual(done.effects, [{ type: 'search', text: '/a b.png' }]);
  assert.equal(done.s.searchPrompt, null);
  assert.equal(step(step(s, '', { escape: true }).s, 'x').s.searchPrompt, null, 'Esc closes it');
  const set = {
    text: '/a b.png',
    model: 'hog4x4x9',
    where: 'index /idx (5 images)',
    fromReport: false,
    about: 'hog4x4x9 · index /idx (5 images)',
    k: 2,
    failed: 0,
    queries: [
      {
        path: 'a.png',
        file: '/a.png',
        className: 'A',
        error: null,
        hits: 1,
        matches: [
          { rank: 1, path: 'x.png', file: null, className: 'B', sim: 0.9, correct: false },
          { rank: 2, path: 'a.png', file: null, className: 'A', sim: 0.8, correct: true },
        ],
      },
      { path: 'c.png', file: '/c.png', className: 'B', error: null, hits: 0, matches: [] },
    ],
  };
  const shown = reduceApp({ ...s, screen: 'overall' }, { type: 'search-results', set });
  assert.equal(shown.screen, 'queries');
  assert.equal(shown.search?.cursor.query, 0);
  assert.match(shown.status?.text ?? '', /2 images searched: top 2 of hog4x4x9, index \/idx/);
  const b = searchBrowse(set);
  assert.equal(b.query(0, 1).hits, 0, 'hits count only the matches shown');
  assert.equal(b.query(0, 2).hits, 1);
  assert.equal(b.nextMiss(1, 1), 0, 'the first image: top-1 of another class');
  assert.equal(b.find(0, 'c.png'), 1);
  assert.equal(b.find(0, '2'), 1);
});

test('a pasted path is cleaned: quotes, drag-and-drop escapes, file:// URLs, ~', () => {
  assert.equal(cleanQueryPath("  '/data/my scan.png' "), '/data/my scan.png');
  assert.equal(cleanQueryPath('"/data/x.png"'), '/data/x.png');
  assert.equal(cleanQueryPath('/data/my\\ scan\\ 2.png'), '/data/my scan 2.png');
  assert.equal(cleanQueryPath(pathToFileURL('/data/my scan.png').href), '/data/my scan.png');
  assert.equal(cleanQueryPath('~/x.png'), join(homedir(), 'x.png'));
  assert.equal(cleanQueryPath('relative/x.png'), 'relative/x.png');
});

test('searchPath: an index image finds itself first; the matches carry files for the image panel', async () => {
  const searcher = await IndexSearcher.open(indexDir);
  try {
    const row = manifest.indicesOf('train')[0];
    const set = await searchPath(searcher, manifest.resolvePath(row), { where: 'w', fromReport: false, k: 5 });
    const [q] = set.queries;
    assert.equal(q.className, manifest.entry(row).className);
    assert.equal(q.matches.length, 5);
    assert.equal(q.matches[0].path, manifest.filepaths[row]);
    assert.ok(Math.abs(q.matches[0].sim! - 1) < 1e-5);
    assert.equal(q.matches[0].file, manifest.resolvePath(row));
    assert.equal(basename(q.file!), basename(manifest.filepaths[row]));
  } finally {
    await searcher.close();
  }
});
