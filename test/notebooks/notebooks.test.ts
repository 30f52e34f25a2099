/**
 * Executes every notebook in notebooks/ headless (scripts/notebooks.mjs: Jupyter + the tslab kernel)
 * and checks the executed copies: every code cell ran, no error, and each notebook shows what it is
 * for (tables as HTML, figures as plotly mime outputs without the plotly library, query grids as
 * images), and stays under 1 MB. Skipped,
 * with the reason, where Jupyter or the tslab kernel is not installed. Takes a few minutes: the
 * notebooks embed, search and evaluate a small phantom with several models.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { PROJECT_ROOT, tempDir } from '../helpers/datasets.js';

const SCRIPT = join(PROJECT_ROOT, 'scripts', 'notebooks.mjs');
const require = createRequire(import.meta.url);

function availability(): false | string {
  const r = spawnSync(process.execPath, [SCRIPT, '--check'], { encoding: 'utf8' });
  if (r.status === 0) return false;
  return `notebooks not executed: ${(r.stdout || r.stderr).trim() || `scripts/notebooks.mjs --check exited with ${r.status}`}`;
}
const skip = availability();

interface PlotlyOutput {
  data: { type: string }[];
  layout: { width: number; height: number; title?: { text?: string } };
  config?: object;
}
interface Output {
  output_type: string;
  name?: string;
  text?: string | string[];
  data?: Record<string, string | string[]> & { 'application/vnd.plotly.v1+json'?: PlotlyOutput };
  ename?: string;
}
const PLOTLY = 'application/vnd.plotly.v1+json';
const MB = 1024 * 1024;
interface Cell {
  cell_type: string;
  source: string | string[];
  outputs?: Output[];
  execution_count?: number | null;
}
const joined = (s: string | string[] | undefined) => (Array.isArray(s) ? s.join('') : (s ?? ''));

/** What each notebook must show, beyond running without errors. */
const EXPECT: Record<string, { html?: RegExp[]; figures?: number; images?: number; numbers?: false }> = {
  '00_quickstart': { html: [/micro_p1/, /Table 5/, /Closest index images/], figures: 1, images: 1 },
  '01_retrieval_tables': {
    html: [
      /Table 3: retrieval precision/,
      /micro_p1/,
      /Table 4: P@1 per modality/,
      /Table 9: micro P@1/,
      /Table 10: P@1 per source dataset/,
    ],
    figures: 1,
  },
  '02_embedding_quality': {
    html: [
      /Table 5: embedding quality/,
      /knn_micro_f1/,
      /Model selection on the validation split/,
      /validation micro F1 against k/,
      /training loss and validation accuracy/,
      /Table 5, k-NN classification/,
      /Table 5, linear probing/,
    ],
    figures: 2,
  },
  '03_index_size': { html: [/Classes in the ablation/, /Index-size ablation/, /gain_per_doubling/], figures: 1 },
  '04_embedding_space': {
    html: [/coloured by modality/, /coloured by region/, /coloured by class/, /Per-class P@1 of/],
    figures: 4,
  },
  '05_query_grids': { html: [/Queries/, /Same-class matches by rank/], figures: 1, images: 4, numbers: false },
  '06_per_class_and_imbalance': {
    html: [/Per-class P@1 against class size and kind/, /spearman_rho_index_vs_p1/, /Per-class P@1 against index size/],
    figures: 4,
  },
  '07_model_comparison': {
    html: [/bootstrap intervals/, /All pairs: micro P@1/, /All pairs: macro P@1/, /p_holm/, /Paired comparison/],
    figures: 2,
  },
};

const studyTables = existsSync(
  join(resolve(PROJECT_ROOT, process.env.CBIR_STUDY ?? '../shared/study'), 'table3_retrieval.csv'),
);

test(
  'every notebook executes headless with the tslab kernel and shows its tables and figures',
  { skip, timeout: 30 * 60_000 },
  async () => {
    const tmp = tempDir('cbir-notebooks-');
    try {
      const out = join(tmp.dir, 'runs');
      const { code, stderr } = await new Promise<{ code: number | null; stderr: string }>((res) => {
        const child = spawn(process.execPath, [SCRIPT, '--out', out], { stdio: ['ignore', 'ignore', 'pipe'] });
        let err = '';
        child.stderr.on('data', (d) => {
          err += d;
        });
        child.on('close', (c) => res({ code: c, stderr: err }));
      });
      assert.equal(code, 0, `scripts/notebooks.mjs failed:\n${stderr.slice(-6000)}`);

      const names = readdirSync(join(PROJECT_ROOT, 'notebooks'))
        .filter((f) => f.endsWith('.ipynb'))
        .sort();
      assert.deepEqual(
        names.map((n) => n.replace(/\.ipynb$/, '')),
        Object.keys(EXPECT).sort(),
      );
      const ran = JSON.parse(readFileSync(join(out, 'executed.json'), 'utf8')) as {
        notebooks: { notebook: string; ok: boolean }[];
      };
      assert.deepEqual(
        ran.notebooks.map((n) => n.notebook),
        names,
        'executed in name order',
      );
      assert.ok(ran.notebooks.every((n) => n.ok));

      const bundleHead = readFileSync(require.resolve('plotly.js-dist-min/plotly.min.js'), 'utf8').slice(0, 300);
      let plotlySeen = 0;
      for (const name of names) {
        const file = join(out, name);
        const raw = readFileSync(file, 'utf8');
        const size = statSync(file).size;
        assert.ok(size < MB, `${name}: executed copy is ${(size / MB).toFixed(2)} MB, expected < 1 MB`);
        assert.ok(!raw.includes(bundleHead.slice(0, 200)), `${name}: the plotly library is not in the notebook`);
        const nb = JSON.parse(raw) as { cells: Cell[] };
        const code = nb.cells.filter((c) => c.cell_type === 'code');
        code.forEach((c, i) =>
          assert.notEqual(c.execution_count ?? null, null, `${name}: code cell ${i + 1} was executed`),
        );
        const outputs = code.flatMap((c) => c.outputs ?? []);
        for (const o of outputs) {
          assert.notEqual(o.output_type, 'error', `${name}: error output ${o.ename}`);
          if (o.output_type === 'stream' && o.name === 'stderr')
            assert.doesNotMatch(
              joined(o.text),
              /Error|Exception|at .*\(.*:\d+:\d+\)/,
              `${name}: stderr shows an error:\n${joined(o.text).slice(0, 2000)}`,
            );
        }
        const html = outputs.map((o) => joined(o.data?.['text/html'])).filter(Boolean);
        const figures = outputs.map((o) => o.data?.[PLOTLY]).filter((f): f is PlotlyOutput => f !== undefined);
        const all = [...html, ...figures.map((f) => f.layout.title?.text ?? '')].join('\n');
        const want = EXPECT[name.replace(/\.ipynb$/, '')];
        for (const re of want.html ?? []) assert.match(all, re, `${name}: shows ${re}`);
        assert.ok(
          figures.length >= (want.figures ?? 0),
          `${name}: ${figures.length} ${PLOTLY} outputs, expected ≥ ${want.figures}`,
        );
        for (const f of figures) {
          // a plotly figure object (JupyterLab and VS Code draw it), with a short HTML note beside it
          assert.ok(Array.isArray(f.data) && f.data.length > 0 && f.layout.width > 0, `${name}: a plotly figure`);
          assert.ok(f.config !== undefined, `${name}: config travels with the figure`);
        }
        for (const o of outputs.filter((x) => x.data?.[PLOTLY]))
          assert.ok(joined(o.data!['text/html']).length < 2000, `${name}: the HTML fallback is a short note`);
        if (figures.length) plotlySeen++;
        for (const h of html)
          assert.doesNotMatch(h, /<script[^>]+src=["']?(https?:)?\/\//i, `${name}: no script from the network`);
        const images = outputs.filter((o) => o.data?.['image/png'] || o.data?.['image/jpeg']).length;
        assert.ok(images >= (want.images ?? 0), `${name}: ${images} image outputs, expected ≥ ${want.images}`);
        if (want.numbers !== false)
          assert.match(
            all,
            /<td style="[^"]*text-align:right">\d\.\d{3}<\/td>/,
            `${name}: numbers rendered in HTML tables`,
          );
      }
      assert.equal(plotlySeen, names.length, 'every notebook shows at least one plotly figure');

      const t1 = readFileSync(join(out, '01_retrieval_tables.ipynb'), 'utf8');
      if (studyTables)
        assert.match(t1, /Reported by the study \(Denner et al\.\)/, 'reported values next to the reproduced ones');
      else {
        assert.match(t1, /reported values are not on this machine: looked for [^ ]*table3_retrieval\.csv/);
        assert.match(t1, /CBIR_STUDY environment variable/);
      }
      // the notebooks wrote their result folders under --out, not into the project
      for (const dir of ['00_quickstart', '01_retrieval_tables', '03_index_size', '07_model_comparison'])
        assert.ok(existsSync(join(out, dir)), dir);
      assert.ok(existsSync(join(out, '01_retrieval_tables', 'table3_retrieval.csv')));
    } finally {
      tmp.cleanup();
    }
  },
);
