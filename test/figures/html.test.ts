import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { CbirError } from '../../src/workbench/errors.js';
import {
  figureHtml,
  figuresHtml,
  plotlyBundlePath,
  notebookFigureHtml,
  showFigure,
  resetNotebookPlotly,
  scriptJson,
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

test('notebook: the bundle travels with the first figure only, later ones wait for window.Plotly', () => {
  resetNotebookPlotly();
  const shown: string[] = [];
  const display = { html: (s: string) => shown.push(s) };
  const first = showFigure(fig(), { display });
  const second = showFigure(fig('b'), { display });
  assert.deepEqual(shown, [first, second]);
  assert.ok(first.includes(bundleHead));
  assert.ok(!second.includes(bundleHead));
  assert.match(second, /if\(window\.Plotly\)/);
  assert.doesNotMatch(second, /<script[^>]*\ssrc=/i);
  const ids = [first, second].map((h) => /<div id="(cbir-fig-[0-9a-f]+)"/.exec(h)![1]);
  assert.notEqual(ids[0], ids[1], 'each output has its own div');
  assert.ok(notebookFigureHtml(fig(), { includePlotly: true }).includes(bundleHead));
  resetNotebookPlotly();
  assert.ok(notebookFigureHtml(fig()).includes(bundleHead), 'after a reset the next figure carries the bundle again');
});
