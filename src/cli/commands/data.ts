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
  checkMad,
  auditDataset,
  formatAudit,
  auditCsvLines,
  writeFileAtomic,
  CACHE_DIR,
  NEAR_DUPLICATE_MAD,
  SIMILAR_MAD,
  AUDIT_COSINE,
  generatePhantom,
  generateMultiLabelPhantom,
  MULTILABEL_FINDINGS,
  chestLabelManifest,
  CHEST_LABEL_FORMATS,
  type ChestLabelFormat,
} from '../../workbench/index.js';
import { join } from 'node:path';
import { missingOption, parseOptions } from '../options.js';

export const summary =
  'datasets → manifest: `data prepare` builds one, `data stats` describes one, `data audit` finds leaks across splits, `data phantom` and `data chest-labels` (NIH14, CheXpert) write one';

export const usage = `usage:
  cbir data prepare [--recipe <file.json>] [--source <spec> ...] --out <dir>
                    [--seed N] [--ratios 0.7,0.1,0.2] [--val-fraction 0.1] [--name NAME] [--concurrency N]
                    [--near-duplicates ${NEAR_DUPLICATE_MAD}|off] [--similar ${SIMILAR_MAD}|off]
  cbir data stats <dir> [--json] [--imbalance-over all|train|val|test]
  cbir data audit --data <dir> [--embeddings <store>] [--threshold ${NEAR_DUPLICATE_MAD}] [--similar ${SIMILAR_MAD}|off]
                  [--cosine ${AUDIT_COSINE}] [--csv <file.csv>] [--json]
  cbir data phantom --out <dir> [--seed N] [--size PX] [--scale X | --multi-label [--images N]]
  cbir data chest-labels --format nih14|chexpert --csv <labels.csv> --images <dir> --out <dir>
                  [--dataset NAME] [--uncertain zero|one] [--seed N] [--ratios 0.7,0.1,0.2]

phantom writes the synthetic phantom dataset (the one \`cbir start\` uses) into <dir>. With
--multi-label it writes a multi-label set instead: chest radiographs showing 1-3 of
${MULTILABEL_FINDINGS.join(', ')} at once, or normal (--images, default 300; --size default 48), and a
relevance.json declaring its dataset multi-label, so \`cbir report\` keeps every row and adds
"multi-label (Jaccard)" ranking rows (relevant = label sets intersect, gain = Jaccard).

prepare scans the sources, decodes every image (corrupt and unreadable ones are reported and
skipped; FIFOs, devices and names with line breaks too), removes exact duplicates (same bytes or
same decoded pixels: copies with different classes are all dropped as label conflicts; otherwise
the copy in the query split is kept), then near-duplicates by the same rules: images whose 16×16
grayscale thumbnails differ by a mean absolute difference below --near-duplicates gray levels of
255 (default ${NEAR_DUPLICATE_MAD}, i.e. ${NEAR_DUPLICATE_MAD}/255; "off" keeps them). It splits seeded and stratified
(grouped by patient/group) where a source gives no split, reports kept images in different splits
whose thumbnails differ by less than --similar (default ${SIMILAR_MAD}/255) as possible patient leaks, and
writes <dir>/manifest.csv, classes.csv, dataset.json, report.md and report.csv. The recipe keys
"nearDuplicateMad" and "similarMad" set the same thresholds.

audit lists pairs of images in different splits (the later one a val/test query) of any
manifest — prepared, hand-written or the study's CSVs — that are the same file (paths compared
after normalising, so a/./b/x.png is a/b/x.png), the same bytes, near-identical (thumbnail MAD
below --threshold) or similar (below --similar), and with --embeddings those whose embeddings
have cosine ≥ --cosine (exact search of every val/test row against train). It prints a table per
kind with counts per dataset; --csv writes every pair, --json the whole result.

Give a recipe, one or more --source, or both (each --source is added to the recipe's sources).
The dataset is named by --name, else by the recipe's name (plus "+N sources" when --source adds
some). dataset.json records every source spec in full. A source without normal= whose labels all
look pathological gets a warning (printed, and in report.md): all its classes count as pathological.

Image paths in manifest.csv are relative to the images root, the deepest folder holding every
source (images written out from npz/DICOM sources count as being in <dir>); dataset.json names it
("imagesRoot"). When the images move, edit that one field, or set CBIR_IMAGES_ROOT=<folder> for
any command that reads the manifest (it applies only to manifests whose images lie outside
their own folder).

A source spec is type:key=value,... or a JSON object, e.g.
  folder:path=data/mr,dataset=mr-brain-tumor,modality=MR,region=brain,normal=notumor
  folder:path=data/mr,labels=notumor:normal;pituitary:pituitary_tumor,normal=normal,dataset=mr,modality=MR,region=brain
  csv:path=data/head,images=head_ct,csv=labels.csv,labels=0:normal;1:hemorrhage,dataset=ct-head,modality=CT,region=head
  npz:path=data/pneumoniamnist.npz,labels=0:normal;1:pneumonia,dataset=xr-chest,modality=XR,region=chest
  dicom:path=data/ct,csv=labels.csv,key=sop,window=40:400,dataset=ct,modality=CT,region=head
Keys: type path dataset modality region normal group labels csv images id label key window.
A recipe JSON lists sources under "sources" (plus optional name, seed, ratios, valFraction);
\${CBIR_DATASETS} is expanded and relative paths are resolved against the recipe's folder.
See data-splits/radiology5.json.`;

/** The name of a dataset made from a recipe plus `extra` sources given with --source: "radiology5+1 source". */
export function combinedName(recipeName: string, extra: number): string {
  return extra > 0 ? `${recipeName}+${extra} source${extra === 1 ? '' : 's'}` : recipeName;
}

const PREPARE_OPTIONS = {
  source: { type: 'string', multiple: true },
  recipe: { type: 'string' },
  out: { type: 'string' },
  seed: { type: 'string' },
  ratios: { type: 'string' },
  'val-fraction': { type: 'string' },
  name: { type: 'string' },
  concurrency: { type: 'string' },
  'near-duplicates': { type: 'string' },
  similar: { type: 'string' },
  quiet: { type: 'boolean', short: 'q' },
} as const;

type PrepareValues = { [K in Exclude<keyof typeof PREPARE_OPTIONS, 'source' | 'quiet'>]?: string } & {
  source?: string[];
};

/** The sources and split settings of `data prepare`: the recipe's (if any), then each --source; flags win. */
function prepareInputs(values: PrepareValues) {
  const recipe = values.recipe ? loadRecipe(values.recipe) : undefined;
  const extra = (values.source ?? []).map((s) => parseSourceSpec(s));
  const sources: SourceSpec[] = [...(recipe?.sources ?? []), ...extra];
  // no sources / no --out: prepareDataset refuses them, and the CLI adds the flags (hints.ts)
  let seed = recipe?.seed;
  if (values.seed !== undefined) {
    seed = Number(values.seed);
    if (!Number.isInteger(seed))
      throw new CbirError(`seed "${values.seed}" is not an integer`, {
        file: '--seed',
        hint: 'e.g. --seed 0',
        code: 'cli/bad-option',
      });
  }
  const ratios = values.ratios !== undefined ? checkRatios(values.ratios, { file: '--ratios' }) : recipe?.ratios;
  const valFraction =
    values['val-fraction'] !== undefined
      ? checkFraction(values['val-fraction'], { file: '--val-fraction' })
      : recipe?.valFraction;
  const recipeName = values.recipe && (recipe?.name ?? basename(values.recipe).replace(/\.json$/i, ''));
  const name = values.name ?? (recipeName ? combinedName(recipeName, extra.length) : undefined);
  const nearDuplicateMad =
    values['near-duplicates'] !== undefined
      ? checkMad(values['near-duplicates'], { file: '--near-duplicates' })
      : recipe?.nearDuplicateMad;
  const similarMad =
    values.similar !== undefined ? checkMad(values.similar, { file: '--similar' }) : recipe?.similarMad;
  return { sources, seed, ratios, valFraction, name, nearDuplicateMad, similarMad, relevance: recipe?.relevance };
}

async function prepare(args: string[]): Promise<number> {
  const { values } = parseOptions('data prepare', { args, options: PREPARE_OPTIONS, allowPositionals: false });
  const concurrency = values.concurrency !== undefined ? Number(values.concurrency) : undefined;
  if (concurrency !== undefined && !(Number.isInteger(concurrency) && concurrency >= 1))
    throw new CbirError(`concurrency "${values.concurrency}" must be a positive integer`, {
      file: '--concurrency',
      code: 'cli/bad-option',
    });
  const result = await prepareDataset({
    ...prepareInputs(values),
    out: values.out ?? '', // empty: prepareDataset refuses it
    concurrency,
    recipe: values.recipe,
    onProgress: values.quiet ? undefined : consoleProgress(),
  });
  console.log(formatPrepareSummary(result)); // with its warnings
  return 0;
}

async function stats(args: string[]): Promise<number> {
  const { values, positionals } = parseOptions('data stats', {
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

const AUDIT_OPTIONS = {
  data: { type: 'string' },
  embeddings: { type: 'string' },
  threshold: { type: 'string' },
  similar: { type: 'string' },
  cosine: { type: 'string' },
  csv: { type: 'string' },
  json: { type: 'boolean' },
  quiet: { type: 'boolean', short: 'q' },
} as const;

/** `cbir data audit`: cross-split pairs by content (and by embedding), as tables, CSV or JSON. */
async function audit(args: string[]): Promise<number> {
  const { values } = parseOptions('data audit', { args, options: AUDIT_OPTIONS, allowPositionals: false });
  if (!values.data)
    throw missingOption(
      '--data is required',
      usage.split('\n').find((l) => l.includes('cbir data audit'))!,
    );
  const cosine = values.cosine !== undefined ? Number(values.cosine) : undefined;
  if (cosine !== undefined && !(cosine > -1 && cosine <= 1))
    throw new CbirError(`--cosine must be a number in (-1, 1], got "${values.cosine}"`, {
      hint: 'e.g. --cosine 0.9999',
      code: 'cli/bad-option',
    });
  const m = await readManifest(values.data);
  const result = await auditDataset({
    data: m,
    embeddings: values.embeddings,
    cosine,
    nearMad: values.threshold !== undefined ? checkMad(values.threshold, { file: '--threshold' }) : undefined,
    similarMad: values.similar !== undefined ? checkMad(values.similar, { file: '--similar' }) : undefined,
    cacheFile: join(CACHE_DIR, 'content', `${m.hash.slice(0, 16)}.csv`),
    onProgress: values.quiet || values.json ? undefined : consoleProgress(),
  });
  if (values.csv) await writeFileAtomic(values.csv, auditCsvLines(result, m).join('\n') + '\n');
  if (values.json) console.log(JSON.stringify(result, (_, v) => (Number.isNaN(v) ? null : v), 2));
  else {
    console.log(formatAudit(result, m));
    if (result.cosineTruncated)
      console.log(`(${result.cosineTruncated} queries have more than 32 embedding pairs; only 32 are listed each)`);
    if (values.csv) console.log(`wrote ${values.csv} (${result.pairs.length} pairs)`);
  }
  return 0;
}

const PHANTOM_OPTIONS = {
  out: { type: 'string' },
  seed: { type: 'string' },
  size: { type: 'string' },
  scale: { type: 'string' },
  images: { type: 'string' },
  'multi-label': { type: 'boolean' },
  quiet: { type: 'boolean', short: 'q' },
} as const;

/** `cbir data phantom`: the phantom dataset, or with --multi-label the generated multi-label set. */
async function phantom(args: string[]): Promise<number> {
  const { values } = parseOptions('data phantom', { args, options: PHANTOM_OPTIONS, allowPositionals: false });
  if (!values.out)
    throw missingOption(
      '--out is required',
      usage.split('\n').find((l) => l.includes('cbir data phantom'))!,
    );
  const num = (flag: string, v: string | undefined) => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isFinite(n))
      throw new CbirError(`${flag} "${v}" is not a number`, {
        file: flag,
        hint: `e.g. ${flag} 0`,
        code: 'cli/bad-option',
      });
    return n;
  };
  const multi = values['multi-label'] === true;
  const wrong = multi
    ? values.scale !== undefined
      ? '--scale'
      : null
    : values.images !== undefined
      ? '--images'
      : null;
  if (wrong)
    throw new CbirError(`${wrong} does not apply ${multi ? 'with' : 'without'} --multi-label`, {
      file: wrong,
      hint: 'the phantom takes --scale; the multi-label set (--multi-label) takes --images',
      code: 'cli/bad-option',
    });
  const common = {
    out: values.out,
    seed: num('--seed', values.seed),
    size: num('--size', values.size),
    onProgress: values.quiet ? undefined : consoleProgress(),
  };
  const m = multi
    ? await generateMultiLabelPhantom({ ...common, images: num('--images', values.images) })
    : await generatePhantom({ ...common, scale: num('--scale', values.scale) });
  const kept = m.labelSets ? Array.from(m.classIndex).filter((c) => m.classes[c].labels).length : 0;
  console.log(
    `wrote ${m.size} images, ${m.classes.length} classes${multi ? ` (${kept} rows with several findings; relevance.json declares ${m.labelSets?.datasets.join(', ')} multi-label)` : ''} to ${values.out}`,
  );
  return 0;
}

const CHEST_OPTIONS = {
  format: { type: 'string' },
  csv: { type: 'string' },
  images: { type: 'string' },
  out: { type: 'string' },
  dataset: { type: 'string' },
  uncertain: { type: 'string' },
  seed: { type: 'string' },
  ratios: { type: 'string' },
} as const;

/** `cbir data chest-labels`: NIH14 / CheXpert label CSV → a multi-label manifest keeping every labelled row. */
async function chestLabels(args: string[]): Promise<number> {
  const { values } = parseOptions('data chest-labels', { args, options: CHEST_OPTIONS, allowPositionals: false });
  const line = usage.split('\n').find((l) => l.includes('cbir data chest-labels'))!;
  for (const k of ['format', 'csv', 'images', 'out'] as const)
    if (!values[k]) throw missingOption(`--${k} is required`, line);
  if (!CHEST_LABEL_FORMATS.includes(values.format as ChestLabelFormat))
    throw new CbirError(`--format "${values.format}" must be ${CHEST_LABEL_FORMATS.join(' or ')}`, {
      file: '--format',
      code: 'cli/bad-option',
    });
  if (values.uncertain !== undefined && values.uncertain !== 'zero' && values.uncertain !== 'one')
    throw new CbirError(`--uncertain "${values.uncertain}" must be zero or one`, {
      file: '--uncertain',
      hint: 'zero: CheXpert -1 cells are negative (U-Zeros); one: positive (U-Ones)',
      code: 'cli/bad-option',
    });
  const seed = values.seed === undefined ? undefined : Number(values.seed);
  if (seed !== undefined && !Number.isInteger(seed))
    throw new CbirError(`seed "${values.seed}" is not an integer`, { file: '--seed', code: 'cli/bad-option' });
  const r = await chestLabelManifest({
    format: values.format as ChestLabelFormat,
    csv: values.csv!,
    images: values.images!,
    out: values.out!,
    dataset: values.dataset,
    uncertain: values.uncertain as 'zero' | 'one' | undefined,
    seed,
    ratios: values.ratios !== undefined ? checkRatios(values.ratios, { file: '--ratios' }) : undefined,
  });
  const m = r.manifest;
  console.log(
    `wrote ${values.out}: ${m.size} of ${r.rows} rows (${r.multiLabel} with several labels), ${m.classes.filter((c) => !c.labels).length} labels; relevance.json declares ${m.labelSets!.datasets.join(', ')} multi-label`,
  );
  if (r.problems.length)
    console.log(`${r.problems.length} row(s) skipped (no positive label or no image): label-problems.csv`);
  return 0;
}

/** `cbir data prepare|stats|audit|phantom|chest-labels`. */
export async function run(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === 'prepare') return prepare(rest);
  if (sub === 'stats') return stats(rest);
  if (sub === 'audit') return audit(rest);
  if (sub === 'phantom') return phantom(rest);
  if (sub === 'chest-labels') return chestLabels(rest);
  if (sub === undefined || sub === 'help' || sub === '--help' || sub === '-h') {
    console.log(usage);
    return sub === undefined ? 1 : 0;
  }
  throw new CbirError(`unknown subcommand "${sub}"`, {
    hint: 'use `cbir data prepare ...`, `cbir data stats <dir>`, `cbir data audit --data <dir>` or `cbir data phantom --out <dir>`; see `cbir data --help`',
    code: 'data/unknown-subcommand',
  });
}
