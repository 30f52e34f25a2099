/**
 * The page end to end in Debian's headless Chromium, driven by playwright-core (which downloads
 * no browser): upload an image, see its results with ✓/✗, filter by modality, click a result to
 * search with it, see an error for a non-image; with a report, Tables 3 and 4, a query's
 * neighbours, the class filter and a click on the t-SNE map. Skipped with a message when
 * /usr/bin/chromium or playwright-core is missing.
 *
 * `CBIR_WEB_SCREENSHOT=<file.png>` also saves a screenshot of the page with results (docs/serve.png).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import type { SearchResponse } from '../../src/workbench/index.js';
import type { TsneMap } from '../../src/web/index.js';
import { MODEL, serve, webFixture, type Served, type WebFixture } from './fixture.js';

// the page functions below run in the browser, where `document` exists (this project has no DOM types)
declare const document: any;

const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'];
const WAIT = { timeout: 20_000 };

let playwright: typeof import('playwright-core') | null = null;
try {
  playwright = await import('playwright-core');
} catch {
  playwright = null;
}
const skip = !existsSync(CHROMIUM)
  ? `${CHROMIUM} not found (install Debian's chromium to run the browser tests)`
  : !playwright
    ? 'playwright-core is not installed (npm install)'
    : false;

let fx: WebFixture;
let srv: Served;
let browser: Browser;

before(async () => {
  if (skip) return;
  fx = await webFixture('cbir-web-browser-', 64);
  srv = await serve(fx, { withReport: true });
  browser = await playwright!.chromium.launch({ executablePath: CHROMIUM, args: ARGS, timeout: 30_000 });
});
after(async () => {
  await browser?.close();
  await srv?.close();
  fx?.cleanup();
});

/** A fresh page on the server; page errors fail the test. */
async function open(path = '/'): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(new URL(path, srv.url).href, WAIT);
  await page.waitForFunction(() => document.getElementById('index-info')?.textContent !== '', undefined, WAIT);
  return { page, errors };
}

/** The shown results: row, class, dataset · modality, and the ✓/✗ mark. */
const shown = (page: Page) =>
  page.$$eval('#grid .result', (els) =>
    els.map((e) => ({
      row: Number(e.getAttribute('data-row')),
      cls: e.querySelector('.cls')?.textContent ?? '',
      meta: e.querySelector('.meta')?.textContent ?? '',
      mark: e.querySelector('.mark')?.textContent ?? '',
    })),
  );

test(
  'upload an image: its top 10 with similarity, class, dataset and ✓/✗ as the API answers',
  { skip, timeout: 90_000 },
  async () => {
    const row = fx.manifest.indicesOf('test')[2];
    const file = fx.manifest.resolvePath(row);
    const { page, errors } = await open();
    assert.match((await page.textContent('#index-info')) ?? '', new RegExp(MODEL));
    await page.setInputFiles('#file', file);
    await page.waitForSelector('#grid .result', WAIT);
    const res = await fetch(new URL(`/api/search?k=10&excludeSelf=1&name=${file.split('/').pop()}`, srv.url), {
      method: 'POST',
      body: readFileSync(file),
    });
    const api = ((await res.json()) as SearchResponse).queries[0];
    const got = await shown(page);
    assert.deepEqual(
      got.map((r) => r.row),
      api.results.map((h) => h.row),
    );
    const cls = fx.manifest.entry(row).className;
    assert.equal(api.class, cls);
    for (let i = 0; i < got.length; i++) {
      assert.equal(got[i].cls, api.results[i].class);
      assert.equal(got[i].meta, `${api.results[i].dataset} · ${api.results[i].modality}`);
      assert.equal(got[i].mark, api.results[i].class === cls ? '✓' : '✗');
    }
    const sims = await page.$$eval('#grid .result .sim', (els) => els.map((e) => e.textContent));
    assert.deepEqual(
      sims,
      api.results.map((h) => h.similarity.toFixed(3)),
    );
    assert.match((await page.textContent('#query-meta')) ?? '', new RegExp(`class ${cls}`));
    if (process.env.CBIR_WEB_SCREENSHOT) {
      writeFileSync(process.env.CBIR_WEB_SCREENSHOT, await page.screenshot({ fullPage: false }));
    }
    assert.deepEqual(errors, []);
    await page.close();
  },
);

test('filter by modality, then click a result to search with it', { skip, timeout: 90_000 }, async () => {
  const { page, errors } = await open();
  await page.setInputFiles('#file', fx.manifest.resolvePath(fx.manifest.indicesOf('test')[0]));
  await page.waitForSelector('#grid .result', WAIT);
  await page.selectOption('#f-modality', 'MR');
  await page.waitForFunction(
    () => {
      const metas = [...document.querySelectorAll('#grid .result .meta')].map((e) => e.textContent ?? '');
      return metas.length > 0 && metas.every((m) => m.endsWith('· MR'));
    },
    undefined,
    WAIT,
  );
  assert.match((await page.textContent('#status')) ?? '', /modality MR/);
  const first = (await shown(page))[0];
  const path = srv.searcher.saved.rows.paths[first.row];
  await page.click(`#grid .result[data-row="${first.row}"]`);
  await page.waitForFunction((p) => document.getElementById('query-name')?.textContent === p, path, WAIT);
  await page.waitForFunction(
    (r) => !document.querySelector(`#grid .result[data-row="${r}"]`) && !!document.querySelector('#grid .result'),
    first.row,
    WAIT,
  );
  const after = await shown(page);
  assert.ok(after.every((r) => r.meta.endsWith('· MR')));
  assert.ok(
    after.every((r) => r.row !== first.row),
    'the query itself is left out',
  );
  const own = srv.searcher.saved.rows.labels(first.row).class;
  assert.ok(after.every((r) => r.mark === (r.cls === own ? '✓' : '✗')));
  const img = await page.getAttribute('#query-img', 'src');
  assert.equal(img, `/api/image?row=${first.row}`);
  assert.deepEqual(errors, []);
  await page.close();
});

test(
  "a non-image shows the server's message and hint, and the page keeps working",
  { skip, timeout: 90_000 },
  async () => {
    const { page, errors } = await open();
    const bad = join(fx.dir, 'notes.txt');
    writeFileSync(bad, 'not an image');
    await page.setInputFiles('#file', bad);
    await page.waitForSelector('#status.error', WAIT);
    assert.match((await page.textContent('#status')) ?? '', /not an image.*PNG, JPEG or DICOM/s);
    assert.equal(await page.$$eval('#grid .result', (e) => e.length), 0);
    await page.setInputFiles('#file', fx.manifest.resolvePath(fx.manifest.indicesOf('test')[1]));
    await page.waitForSelector('#grid .result', WAIT);
    assert.deepEqual(errors, []);
    await page.close();
  },
);

test(
  'the report browser: Tables 3 and 4, queries with neighbours (misses first), class filter, t-SNE click',
  { skip, timeout: 120_000 },
  async () => {
    const { page, errors } = await open('/#report');
    await page.waitForSelector('#table3 td', WAIT);
    const t3 = fx.report.tables.table3_retrieval!;
    const modelRow = await page.$$eval('#table3 tbody tr', (trs) =>
      trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent)),
    );
    const mine = t3.rows.find((r) => r[0] === MODEL)!;
    const shownRow = modelRow.find((r) => r[0] === MODEL)!;
    assert.equal(shownRow[t3.columns.indexOf('micro_p1')], (mine[t3.columns.indexOf('micro_p1')] as number).toFixed(3));
    assert.ok(await page.isVisible('#table4'));
    await page.waitForSelector('#r-queries .qrow', WAIT);
    const rows = await page.$$eval('#r-queries .qrow', (els) =>
      els.map((e) => ({ miss: e.classList.contains('is-miss'), n: e.querySelectorAll('.nb').length })),
    );
    assert.equal(rows.length, 10, 'one page of queries');
    assert.ok(rows[0].miss, 'misses come first');
    assert.ok(rows.every((r) => r.n === 10));
    const cls = fx.manifest.entry(fx.manifest.indicesOf('test')[0]).className;
    await page.selectOption('#r-class', cls);
    await page.waitForFunction(
      (c) => {
        const q = [...document.querySelectorAll('#r-queries .qrow .q .cls')].map((e) => e.textContent);
        return q.length > 0 && q.every((x) => x === c);
      },
      cls,
      WAIT,
    );
    await page.click('#r-map-draw');
    await page.waitForSelector('#r-map circle', WAIT);
    const points = await page.$$eval('#r-map circle', (c) => c.length);
    assert.equal(points, Math.min(1000, fx.manifest.size));
    const last = points - 1; // drawn last, so on top of any point it overlaps: a real click reaches it
    await page.click(`#r-map circle[data-i="${last}"]`);
    await page.waitForSelector('#r-point:not([hidden])', WAIT);
    const map = (await (await fetch(new URL(`/api/report/tsne?model=${MODEL}`, srv.url))).json()) as TsneMap;
    assert.equal(await page.getAttribute('#r-point-img', 'src'), `/api/report/image?row=${map.rows[last]}`);
    assert.equal(await page.textContent('#r-point-name'), map.paths[last]);
    assert.deepEqual(errors, []);
    await page.close();
  },
);
