import { parseArgs } from 'node:util';
import { extname } from 'node:path';
import {
  CbirError,
  IndexSearcher,
  SearchJournal,
  collectQueryFiles,
  consoleProgress,
  figures,
  parseSearchFilter,
  searchGridData,
  writeFileAtomic,
  writeSearchCsv,
  type SearchResponse,
} from '../../workbench/index.js';
import { epOption, intOption } from '../options.js';

export const summary = 'search a saved index with your own images, DICOM files or folders';

export const usage = `usage:
  cbir search --index <index dir> [--k 10] [--filter modality=CT,dataset=…] [--exclude-self]
              [--json] [--csv <file>] [--grid <file.png|file.html>] [--resume <file>] [--quiet]
              <image|folder|dicom>...

Each query is embedded with the index's own model and preprocessing (\`cbir index info\` shows
them); an index whose model card or weights no longer match is refused. A folder is searched
recursively (PNG, JPEG, TIFF, WebP, DICOM), with progress.

  --filter      keep only index rows with these labels, before top-k: keys class, dataset,
                modality, region, split; one key's values are alternatives (modality=CT|MR)
  --exclude-self  drop results that are the query's own image (same file, or same bytes)
  --json        print {"index", "model", "queries": [{"query", "class"?, "results": [{"rank",
                "path", "similarity", "class", "dataset", "modality", …}]}]}
  --csv         write the study's results.csv layout (query_path,similar_1,…,similar_k) and
                <name>_long.csv (query_path,rank,path,similarity,class,dataset,modality)
  --grid        draw the query grid (study Fig. 3): PNG or standalone HTML
  --ef          HNSW index: search beam width instead of the saved one (recall/latency trade-off;
                ≈ 1 M rows need 256 for recall@10 ≥ 0.99, see BENCHMARKS.md)
  --resume      the partial results file of a long run (default with --csv: <csv>.partial.jsonl);
                a rerun of the same command skips the queries it holds; deleted when done`;

const OPTIONS = {
  index: { type: 'string' },
  k: { type: 'string' },
  filter: { type: 'string', multiple: true },
  'exclude-self': { type: 'boolean' },
  json: { type: 'boolean' },
  csv: { type: 'string' },
  grid: { type: 'string' },
  resume: { type: 'string' },
  threads: { type: 'string' },
  ef: { type: 'string' },
  ep: { type: 'string' },
  quiet: { type: 'boolean', short: 'q' },
} as const;

const pct = (s: number) => s.toFixed(4);
/** Queries drawn in a grid at most (one row each). */
const GRID_QUERIES = 50;

/** The results as text, one block per query. */
function printText(r: SearchResponse): void {
  const lines: string[] = [];
  for (const q of r.queries) {
    lines.push(`${q.query}${q.class ? ` (${q.class})` : ''}`);
    if (q.error) {
      lines.push(`  error: ${q.error}`);
      continue;
    }
    for (const h of q.results) {
      const mark = q.class ? (h.class === q.class ? '✓' : '✗') + ' ' : '';
      lines.push(
        `  ${String(h.rank).padStart(3)}  ${pct(h.similarity)}  ${mark}${h.class || '-'}  ${h.dataset || '-'}  ${h.modality || '-'}  ${h.path}`,
      );
    }
    if (q.results.length < r.k) lines.push(`  (${q.results.length} of ${r.k}: no more index rows pass the filter)`);
  }
  console.log(lines.join('\n'));
}

async function writeGrid(r: SearchResponse, searcher: IndexSearcher, file: string): Promise<void> {
  const ext = extname(file).toLowerCase();
  if (ext !== '.png' && ext !== '.html')
    throw new CbirError(`the grid file must end in .png or .html, got "${file}"`, {
      hint: 'e.g. --grid results.png or --grid results.html',
      code: 'cli/bad-option',
    });
  const data = searchGridData(r, searcher, Math.min(r.k, 10), GRID_QUERIES);
  const drawn = r.queries.filter((q) => !q.error).length;
  if (drawn > GRID_QUERIES) console.error(`note: the grid shows the first ${GRID_QUERIES} of ${drawn} queries`);
  const grid = await figures.renderQueryGrid(data.manifest, data.queries, {
    matches: Math.min(r.k, 10),
    title: `${r.model}: top ${Math.min(r.k, 10)} of ${r.index.size}`,
  });
  await writeFileAtomic(file, ext === '.png' ? grid.png : grid.html);
  for (const w of grid.warnings) console.error(`warning: ${w}`);
}

export async function run(args: string[]): Promise<number> {
  const { values: v, positionals } = parseArgs({ args, options: OPTIONS, allowPositionals: true });
  if (!v.index)
    throw new CbirError('--index is required', {
      file: '--index',
      hint: 'pass --index <dir> made by `cbir index build` or `cbir index import-faiss`',
      code: 'cli/missing-option',
    });
  const k = intOption(v.k, 'k', 1) ?? 10;
  const filter = parseSearchFilter(...(v.filter ?? []));
  const files = await collectQueryFiles(positionals);
  const journal = v.resume ?? (v.csv ? `${v.csv}.partial.jsonl` : undefined);
  const searcher = await IndexSearcher.open(v.index, {
    threads: intOption(v.threads, 'threads', 1),
    expansionSearch: intOption(v.ef, 'ef', 1),
    executionProvider: epOption(v.ep),
  });
  try {
    const quiet = v.quiet || files.length === 1;
    const r = await searcher.searchFiles(files, {
      k,
      filter,
      excludeSelf: v['exclude-self'],
      journal,
      onProgress: quiet ? undefined : consoleProgress(),
    });
    if (v.json) console.log(JSON.stringify(r, null, 2));
    else printText(r);
    if (v.csv) {
      const w = await writeSearchCsv(r, v.csv);
      console.error(`wrote ${w.wide} and ${w.long}`);
    }
    if (v.grid) {
      await writeGrid(r, searcher, v.grid);
      console.error(`wrote ${v.grid}`);
    }
    if (journal) await SearchJournal.remove(journal);
    const failed = r.queries.filter((q) => q.error);
    if (failed.length)
      console.error(`${failed.length} of ${r.queries.length} images could not be searched (see above)`);
    return 0;
  } finally {
    await searcher.close();
  }
}
