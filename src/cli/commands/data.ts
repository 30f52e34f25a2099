import { parseArgs } from 'node:util';
import { basename } from 'node:path';
import {
  CbirError,
  consoleProgress,
  readManifest,
  parseSourceSpec,
  loadRecipe,
  checkRatios,
  checkFraction,
  type SourceSpec,
  prepareDataset,
  formatPrepareSummary,
  datasetStats,
  formatStats,
} from '../../workbench/index.js';

export const summary = 'datasets → manifest: `data prepare` builds one, `data stats` describes one';

export const usage = `usage:
  cbir data prepare (--source <spec> [--source <spec> ...] | --recipe <file.json>) --out <dir>
                    [--seed N] [--ratios 0.7,0.1,0.2] [--val-fraction 0.1] [--name NAME] [--concurrency N]
  cbir data stats <dir> [--json] [--imbalance-over all|train|val|test]

prepare scans the sources, decodes every image (corrupt ones are reported and skipped), removes
exact duplicates (same bytes or same decoded pixels: copies with different classes are all
dropped as label conflicts; otherwise the copy in the query split is kept), splits seeded and
stratified (grouped by patient/group) where a source gives no split, and writes
<dir>/manifest.csv, classes.csv, dataset.json, report.md and report.csv.

A source spec is type:key=value,... or a JSON object, e.g.
  folder:path=data/mr,dataset=mr-brain-tumor,modality=MR,region=brain,normal=notumor
  csv:path=data/head,images=head_ct,csv=labels.csv,labels=0:normal;1:hemorrhage,dataset=ct-head,modality=CT,region=head
  npz:path=data/pneumoniamnist.npz,labels=0:normal;1:pneumonia,dataset=xr-chest,modality=XR,region=chest
  dicom:path=data/ct,csv=labels.csv,key=sop,window=40:400,dataset=ct,modality=CT,region=head
Keys: type path dataset modality region normal group labels csv images id label key window.
A recipe JSON lists sources under "sources" (plus optional name, seed, ratios, valFraction);
\${CBIR_DATASETS} is expanded and relative paths are resolved against the recipe's folder.
See data-splits/radiology5.json.`;

async function prepare(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      source: { type: 'string', multiple: true },
      recipe: { type: 'string' },
      out: { type: 'string' },
      seed: { type: 'string' },
      ratios: { type: 'string' },
      'val-fraction': { type: 'string' },
      name: { type: 'string' },
      concurrency: { type: 'string' },
      quiet: { type: 'boolean', short: 'q' },
    },
    allowPositionals: false,
  });
  const sources: SourceSpec[] = [];
  let seed: number | undefined;
  let ratios: [number, number, number] | undefined;
  let valFraction: number | undefined;
  let name = values.name;
  if (values.recipe) {
    const recipe = loadRecipe(values.recipe);
    sources.push(...recipe.sources);
    seed = recipe.seed;
    ratios = recipe.ratios;
    valFraction = recipe.valFraction;
    name ??= recipe.name ?? basename(values.recipe).replace(/\.json$/i, '');
  }
  for (const s of values.source ?? []) sources.push(parseSourceSpec(s));
  // no sources / no --out: prepareDataset refuses them, and the CLI adds the flags (hints.ts)
  if (values.seed !== undefined) {
    seed = Number(values.seed);
    if (!Number.isInteger(seed))
      throw new CbirError(`seed "${values.seed}" is not an integer`, {
        file: '--seed',
        hint: 'e.g. --seed 0',
        code: 'cli/bad-option',
      });
  }
  if (values.ratios !== undefined) ratios = checkRatios(values.ratios, { file: '--ratios' });
  if (values['val-fraction'] !== undefined)
    valFraction = checkFraction(values['val-fraction'], { file: '--val-fraction' });
  const concurrency = values.concurrency !== undefined ? Number(values.concurrency) : undefined;
  if (concurrency !== undefined && !(Number.isInteger(concurrency) && concurrency >= 1))
    throw new CbirError(`concurrency "${values.concurrency}" must be a positive integer`, {
      file: '--concurrency',
      code: 'cli/bad-option',
    });
  const result = await prepareDataset({
    sources,
    out: values.out ?? '', // empty: prepareDataset refuses it
    seed,
    ratios,
    valFraction,
    name,
    concurrency,
    recipe: values.recipe,
    onProgress: values.quiet ? undefined : consoleProgress(),
  });
  console.log(formatPrepareSummary(result));
  return 0;
}

async function stats(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: { json: { type: 'boolean' }, 'imbalance-over': { type: 'string' } },
    allowPositionals: true,
  });
  if (positionals.length !== 1)
    throw new CbirError(`expected one manifest folder, got ${positionals.length}`, {
      hint: 'usage: cbir data stats <dir> [--json]',
      code: 'stats/usage',
    });
  const over = values['imbalance-over'] ?? 'all';
  if (!['all', 'train', 'val', 'test'].includes(over))
    throw new CbirError(`--imbalance-over "${over}" must be all, train, val or test`, {
      file: '--imbalance-over',
      code: 'stats/usage',
    });
  const m = await readManifest(positionals[0]);
  const s = datasetStats(m, { imbalanceOver: over as 'all' });
  if (values.json) console.log(JSON.stringify(s, (_, v) => (v === Infinity ? null : v), 2));
  else {
    console.log(formatStats(s));
    if (m.excluded.length)
      console.log(
        `\n${m.excluded.length} row(s) excluded while reading (multi-label): ${m.excluded
          .slice(0, 5)
          .map((e) => `row ${e.row}`)
          .join(', ')}${m.excluded.length > 5 ? ', …' : ''}`,
      );
  }
  return 0;
}

/** `cbir data prepare|stats`. */
export async function run(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === 'prepare') return prepare(rest);
  if (sub === 'stats') return stats(rest);
  if (sub === undefined || sub === 'help' || sub === '--help' || sub === '-h') {
    console.log(usage);
    return sub === undefined ? 1 : 0;
  }
  throw new CbirError(`unknown subcommand "${sub}"`, {
    hint: 'use `cbir data prepare ...` or `cbir data stats <dir>`; see `cbir data --help`',
    code: 'data/unknown-subcommand',
  });
}
