import { join, relative } from 'node:path';
import { addFigures, CbirError, consoleProgress } from '../../workbench/index.js';
import { intOption, listOption, missingOption, parseOptions } from '../options.js';

export const summary = "the study's figures of a finished report (HTML, PNG via headless Chromium, query grids)";

export const usage = `usage: cbir figures --report <dir> [--data <manifest dir>] [--png | --html] [options]

Writes every figure of a finished \`cbir report\` folder into <report>/figures/, records them in
<report>/report.json and links them from <report>/summary.md (replaced on reruns):
  precision_at_n      P@N, N = 1…100, micro and macro, per model, with 95 % interval bands
  index_size          P@1 against index images per class, mean ± std (Fig. 2)
  per_class_p1_<m>    per-class P@1 against index images, anatomical vs pathological (Fig. 5)
  class_imbalance     classes per samples-per-class bin (Fig. 6)           [needs the manifest]
  tsne_<m>_*          t-SNE maps by modality, region, class, one modality (Fig. 4) [manifest + embeddings]
  grid_<m>            queries with their top-6 matches, framed by class match (Fig. 3) [manifest + images]
HTML works offline (plotly inlined). PNGs are drawn by headless Chromium when it is installed
(\`apt-get install chromium\`); grid PNGs need no browser.

options:
  --data <dir>          manifest folder (default: the report's, as report.json names it)
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

export async function run(args: string[]): Promise<number> {
  const { values } = parseOptions('figures', {
    args,
    options: {
      report: { type: 'string' },
      data: { type: 'string' },
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
  if (!values.report) throw missingOption('--report <dir> is required', usage);
  if (values.png && values.html) {
    throw new CbirError('--png and --html exclude each other', {
      hint: '--png requires PNGs, --html writes HTML only; without either, PNGs are drawn when Chromium is installed',
      code: 'cli/bad-option',
    });
  }
  const seed = intOption(values.seed, 'seed');
  const report = await addFigures(values.report, {
    manifest: values.data,
    png: values.png ? true : values.html ? false : 'auto',
    plotly: values['shared-plotly'] ? 'shared' : 'inline',
    models: listOption(values.models),
    tsne: values['no-tsne']
      ? false
      : {
          models: listOption(values['tsne-models']),
          maxPoints: intOption(values['tsne-points'], 'tsne-points', 3),
          seed,
          subset: values.subset,
        },
    grids: values['no-grids'] ? false : { perModality: intOption(values['grid-queries'], 'grid-queries', 1), seed },
    onProgress: consoleProgress(),
    log: (l) => console.error(l),
  });
  const figs = report.figures!;
  for (const f of figs.files) console.log(`${f.name.padEnd(34)} ${[f.png, f.html].filter(Boolean).join('  ')}`);
  const dir = join(report.dir!, 'figures');
  console.log(`${figs.files.length} figures in ${relative(process.cwd(), dir) || dir}; linked from summary.md`);
  return 0;
}
