import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CbirError } from '../../src/workbench/errors.js';
import {
  figureHtml,
  figuresHtml,
  plotlyBundlePath,
  notebookFigureBundle,
  showFigure,
  tslabBundleWriter,
  scriptJson,
  PLOTLY_MIME,
  type MimeBundle,
} from '../../src/workbench/figures/html.js';
import type { PlotlyFigure } from '../../src/workbench/figures/specs.js';

const fig = (name = 'a'): PlotlyFigure => ({
  data: [{ type: 'scatter', x: [1, 2], y: [3, 4], name }],
  layout: { width: 400, height: 300, title: { text: 'Test <b>figure</b>' } },
});
const bundleHead = readFileSync(plotlyBundlePath(), 'utf8').slice(0, 400);

test('standalone HTML inlines the installed plotly bundle and loads nothing over the network', () => {
  const html = figureHtml(fig());
  assert.ok(html.includes(bundleHead), 'the plotly.min.js text is inlined');
  assert.ok(html.length > 1_000_000, 'the whole bundle, not a stub');
  assert.doesNotMatch(html, /<script[^>]*\ssrc=/i, 'no external script');
  assert.doesNotMatch(html, /<link[^>]*href=["']?https?:/i, 'no external stylesheet');
  assert.match(html, /Plotly\.newPlot\('fig0', \[\{"type":"scatter","x":\[1,2\],"y":\[3,4\],"name":"a"\}\]/);
  assert.match(html, /<title>Test figure<\/title>/);
  assert.match(html, /id="fig0" class="fig" style="width:400px;height:300px"/);
});

test('data cannot close the script element; several figures share one bundle', () => {
  const evil = fig('</script><script>alert(1)</script>');
  const html = figuresHtml([evil, fig('b')]);
  assert.equal(html.split('alert(1)').length, 2, 'the name appears once');
  assert.ok(!html.includes('</script><script>alert(1)'), 'escaped as \\u003c/script');
  assert.ok(html.includes('\\u003c/script>\\u003cscript>alert(1)'));
  assert.equal(html.split(bundleHead).length, 2, 'bundle inlined once');
  assert.match(html, /Plotly\.newPlot\('fig1'/);
  assert.equal(scriptJson('\u2028'), '"\\u2028"');
});

test('a shared bundle must be a relative path (offline)', () => {
  const html = figureHtml(fig(), { plotly: { src: 'plotly.min.js' } });
  assert.match(html, /<script src="plotly\.min\.js"><\/script>/);
  assert.ok(!html.includes(bundleHead));
  for (const src of ['https://cdn.plot.ly/plotly-3.0.0.min.js', '//cdn.plot.ly/x.js', 'file:///x.js']) {
    assert.throws(
      () => figureHtml(fig(), { plotly: { src } }),
      (e: unknown) => e instanceof CbirError && /not a relative path/.test(e.message),
    );
  }
});

test('notebook: a plotly mime bundle (data, layout, config) with a short HTML note, never the plotly library', () => {
  const shown: MimeBundle[] = [];
  const htmlOnly: string[] = [];
  const b = showFigure(fig('</script><b>x'), {
    display: { bundle: (x) => shown.push(x), html: (x) => htmlOnly.push(x) },
  });
  assert.deepEqual(shown, [b], 'one output with every mime type');
  assert.equal(htmlOnly.length, 0, 'no HTML-only output');
  assert.equal(PLOTLY_MIME, 'application/vnd.plotly.v1+json');
  const plotly = b[PLOTLY_MIME] as { data: unknown[]; layout: { width: number }; config: { displaylogo: boolean } };
  assert.deepEqual(plotly.data, fig('</script><b>x').data);
  assert.equal(plotly.layout.width, 400);
  assert.equal(plotly.config.displaylogo, false);
  assert.deepEqual(JSON.parse(JSON.stringify(b)), b, 'JSON as it travels to the front end');
  const note = b['text/html'] as string;
  assert.ok(note.length < 1000, `a note, not a figure: ${note.length} characters`);
  assert.doesNotMatch(note, /<script/i);
  assert.ok(!note.includes(bundleHead));
  assert.match(note, /Test figure/);
  assert.equal(b['text/plain'], '[plotly figure] Test figure');
  assert.ok(JSON.stringify(b).length < 2000, 'the whole output stays small');
  // a display without multi-mime output gets the note
  showFigure(fig(), { display: { html: (x) => htmlOnly.push(x) } });
  assert.equal(htmlOnly.length, 1);
  assert.match(htmlOnly[0], /application\/vnd\.plotly\.v1\+json/);
  assert.equal(notebookFigureBundle(fig())['text/html'], htmlOnly[0]);
});

test('tslab kernel writer: found in the module cache, sends one display_data with every mime type', () => {
  const require = createRequire(import.meta.url);
  const key = join(tmpdir(), 'cbir-fake', 'node_modules', 'tslab', 'dist', 'jupyter.js');
  const sent: { content: unknown; update: boolean }[] = [];
  const fake = { lastWriteDisplayData: null as null | ((c: unknown, u: boolean) => void) };
  const before = tslabBundleWriter();
  require.cache[key] = { exports: fake } as unknown as NodeJS.Module;
  try {
    const write = tslabBundleWriter();
    assert.ok(write, 'found');
    assert.throws(() => write!({ 'text/plain': 'x' }), /no notebook cell is running/);
    fake.lastWriteDisplayData = (content, update) => sent.push({ content, update });
    showFigure(fig(), { display: { bundle: write!, html: () => assert.fail('html') } });
    assert.equal(sent.length, 1);
    const content = sent[0].content as { data: MimeBundle; metadata: object };
    assert.equal(sent[0].update, false);
    assert.deepEqual(Object.keys(content.data).sort(), [PLOTLY_MIME, 'text/html', 'text/plain'].sort());
    assert.deepEqual(content.metadata, {});
  } finally {
    delete require.cache[key];
  }
  assert.equal(before, null, 'outside a kernel: no writer');
});
