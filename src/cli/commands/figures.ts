import { parseArgs } from 'node:util';
import { existsSync } from 'node:fs';
import { relative } from 'node:path';
import { CbirError } from '../../workbench/errors.js';
import { readManifest } from '../../workbench/data/manifest.js';
import { consoleProgress } from '../../workbench/util/progress.js';
import { writeFigures, reportManifestDir } from '../../workbench/figures/index.js';

export const summary = "the study's figures of a finished report (HTML, PNG via headless Chromium, query grids)";

export const usage = `usage: cbir figures --report <dir> [--data <manifest dir>] [--png | --html] [options]

Writes every figure of a finished \`cbir report\` folder into <report>/figures/ and links them
from <report>/summary.md (a "Figures" section, replaced on reruns):
  precision_at_n      P@N, N = 1…100, micro and macro, per model, with 95 % interval bands
  index_size          P@1 against index images per class, mean ± std (Fig. 2)
  per_class_p1_<m>    per-class P@1 against index images, anatomical vs pathological (Fig. 5)
  class_imbalance     classes per samples-per-class bin (Fig. 6)           [needs the manifest]
  tsne_<m>_*          t-SNE maps by modality, region, class, one modality (Fig. 4) [manifest + embeddings]
  grid_<m>            queries with their top-6 matches, framed by class match (Fig. 3) [manifest + images]
HTML works offline (plotly inlined). PNGs are drawn by headless Chromium when it is installed
(\`apt-get install chromium\`); grid PNGs need no browser.

options:
  --data <dir>          manifest folder (default: the one named in summary.md, when it exists)
  --work <dir>          embeddings folder of the report (default <report>/work)
  --png                 PNGs required: fail when Chromium is missing
  --html                HTML only (no browser)
  --shared-plotly       one plotly.min.js next to the HTML files instead of inlining it in each
  --models <a,b>        models to draw (default: all of the report)
  --tsne-models <a,b>   models to map (default: the best by micro P@1); --no-tsne to skip
  --tsne-points <n>     points per map (default 3000, class-stratified)
  --subset <modality>   modality of the subset map (default: the largest)
  --no-grids            skip the query grids
  --grid-queries <n>    queries per modality in the grids (default 2)
  --seed <n>            seed of the samples and grid queries (default 0)`;

const list = (s: string | undefined) =>
  s
    ? s
        .split(',')
        .map((x) => x.trim())
        .filter(Boolean)
    : undefined;

function int(v: string | undefined, name: string, min = 1): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min)
    throw new CbirError(`--${name} must be an integer ≥ ${min}, got "${v}"`, {
      hint: usage.split('\n')[0],
      code: 'cli/bad-option',
    });
  return n;
}

export async function run(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      report: { type: 'string' },
      data: { type: 'string' },
      work: { type: 'string' },
      png: { type: 'boolean' },
      html: { type: 'boolean' },
      'shared-plotly': { type: 'boolean' },
      models: { type: 'string' },
      'tsne-models': { type: 'string' },
      'tsne-points': { type: 'string' },
      subset: { type: 'string' },
      'no-tsne': { type: 'boolean' },
      'no-grids': { type: 'boolean' },
      'grid-queries': { type: 'string' },
      seed: { type: 'string' },
    },
    allowPositionals: false,
    strict: true,
  });
  if (!values.report)
    throw new CbirError('cbir figures needs --report <dir>', {
      hint: usage.split('\n')[0],
      code: 'cli/missing-option',
    });
  if (values.png && values.html)
    throw new CbirError('--png and --html exclude each other', {
      hint: '--png requires PNGs, --html writes HTML only; without either, PNGs are drawn when Chromium is installed',
      code: 'cli/bad-option',
    });
  if (!existsSync(values.report))
    throw new CbirError('report folder not found', {
      file: values.report,
      hint: 'pass the --out folder of `cbir report`',
      code: 'figures/no-report',
    });
  let data = values.data;
  if (!data) {
    const named = await reportManifestDir(values.report);
    if (named && existsSync(named)) {
      data = named;
      console.error(`using the manifest named in summary.md: ${named}`);
    }
  }
  const manifest = data ? await readManifest(data) : null;
  const seed = int(values.seed, 'seed', 0);
  const res = await writeFigures(values.report, manifest, {
    workDir: values.work,
    png: values.png ? true : values.html ? false : 'auto',
    plotly: values['shared-plotly'] ? 'shared' : 'inline',
    models: list(values.models),
    tsne: values['no-tsne']
      ? false
      : {
          models: list(values['tsne-models']),
          maxPoints: int(values['tsne-points'], 'tsne-points', 3),
          seed,
          subset: values.subset,
        },
    grids: values['no-grids'] ? false : { perModality: int(values['grid-queries'], 'grid-queries'), seed },
    onProgress: consoleProgress(),
    log: (l) => console.error(l),
  });
  for (const f of res.figures) console.log(`${f.name.padEnd(34)} ${[f.png, f.html].filter(Boolean).join('  ')}`);
  console.log(
    `${res.figures.length} figures in ${relative(process.cwd(), res.dir) || res.dir}; linked from summary.md`,
  );
  return 0;
}
