import { parseArgs } from 'node:util';
import { extname } from 'node:path';
import {
  CbirError,
  EVAL_DEPTH,
  EVAL_METRICS,
  IndexSearcher,
  RERANK_METHODS,
  SearchJournal,
  collectQueryFiles,
  consoleProgress,
  evaluateSearch,
  figures,
  manifestQueries,
  parseSearchFilter,
  rerankLabel,
  searchGridData,
  searchReranker,
  topOfResponse,
  withQueryClasses,
  writeFileAtomic,
  writeSearchCsv,
  type QueryFile,
  type SearchEvaluation,
  type SearchRerankOptions,
  type SearchResponse,
} from '../../workbench/index.js';
import { choiceOption, epOption, intOption } from '../options.js';

export const summary = 'search a saved index with your own images, DICOM files or folders';

export const usage = `usage:
  cbir search --index <index dir> [--k 10] [--filter modality=CT,dataset=…] [--exclude-self]
              [--json] [--csv <file>] [--grid <file.png|file.html>] [--resume <file>] [--quiet]
              [--eval] [--data <manifest dir> [--split test]]
              [--rerank qe|kreciprocal|dba [--qe-n 5] [--qe-alpha 3] [--k1 20] [--k2 6] [--lambda 0.3]]
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
                a rerun of the same command skips the queries it holds; deleted when done
  --data        search with the images of a manifest split (--split, default test); their classes
                come from that manifest
  --eval        score the queries of known class (P@1, P@10, mAP@10, recall@10, R-precision,
                majority@10, nDCG@10 with hierarchical gains; micro and macro, R from the index's
                class counts) on their top ${EVAL_DEPTH}; prints the scores instead of the results
                (--json adds "evaluation"); with --rerank, plain and re-ranked side by side
  --rerank      qe: αQE, the query + its top --qe-n hits weighted by similarity^--qe-alpha,
                searched again; kreciprocal: k-reciprocal re-ranking (--k1, --k2, --lambda) of
                the top --rerank-depth (default max(k, 2·k1)); dba: each index row expanded with
                its own top --qe-n (index held in memory; up to 20,000 rows)`;

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
  eval: { type: 'boolean' },
  data: { type: 'string' },
  split: { type: 'string' },
  rerank: { type: 'string' },
  'qe-n': { type: 'string' },
  'qe-alpha': { type: 'string' },
  k1: { type: 'string' },
  k2: { type: 'string' },
  lambda: { type: 'string' },
  'rerank-depth': { type: 'string' },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>['values'];

/** `--flag <x>`: a finite number, or undefined when absent. */
function numberOption(v: string | undefined, name: string, example: string): number | undefined {
  if (v === undefined) return undefined;
  const x = Number(v);
  if (v.trim() === '' || !Number.isFinite(x))
    throw new CbirError(`--${name} must be a number, got "${v}"`, {
      hint: `e.g. --${name} ${example}`,
      code: 'cli/bad-option',
    });
  return x;
}

/** The re-ranking the options ask for (null: none); a parameter of another method is refused. */
function rerankOptions(v: Values, k: number): SearchRerankOptions | null {
  const method = choiceOption(v.rerank, 'rerank', RERANK_METHODS);
  const given = (names: string[]) => names.filter((n) => v[n as keyof Values] !== undefined);
  const expansion = ['qe-n', 'qe-alpha'];
  const kr = ['k1', 'k2', 'lambda', 'rerank-depth'];
  const stray = method === 'kreciprocal' ? given(expansion) : method ? given(kr) : given([...expansion, ...kr]);
  if (stray.length)
    throw new CbirError(`--${stray[0]} does not apply ${method ? `to --rerank ${method}` : 'without --rerank'}`, {
      hint: '--qe-n and --qe-alpha go with --rerank qe or dba; --k1, --k2, --lambda and --rerank-depth with --rerank kreciprocal',
      code: 'cli/bad-option',
    });
  if (!method) return null;
  if (method === 'kreciprocal') {
    const k1 = intOption(v.k1, 'k1', 1) ?? 20;
    return {
      method,
      k1,
      k2: intOption(v.k2, 'k2', 1) ?? 6,
      lambda: numberOption(v.lambda, 'lambda', '0.3') ?? 0.3,
      depth: intOption(v['rerank-depth'], 'rerank-depth', 1) ?? Math.max(k, 2 * k1),
    };
  }
  return { method, n: intOption(v['qe-n'], 'qe-n', 1) ?? 5, alpha: numberOption(v['qe-alpha'], 'qe-alpha', '3') ?? 3 };
}

/** The query files: the positional images and folders, and the images of a manifest split. */
async function queryFiles(
  v: Values,
  positionals: string[],
): Promise<{ files: QueryFile[]; classes: Map<string, string> }> {
  if (v.split !== undefined && !v.data)
    throw new CbirError('--split needs --data', {
      hint: 'e.g. --data runs/radiology5 --split test',
      code: 'cli/bad-option',
    });
  const fromData = v.data ? await manifestQueries(v.data, v.split ?? 'test') : { files: [], classes: new Map() };
  const files = positionals.length > 0 || !v.data ? await collectQueryFiles(positionals) : [];
  return { files: [...files, ...fromData.files], classes: fromData.classes };
}

const f4 = (x: number) => (Number.isFinite(x) ? x.toFixed(4) : '-');

/** The evaluation as text: one line per metric, plain and re-ranked side by side. */
function printEvaluation(evals: SearchEvaluation[], labels: string[], rows: number): void {
  const e = evals[0];
  const lines = [
    `evaluation: ${e.scored} of ${e.queries} queries scored, ${e.skipped} skipped (no known class or unreadable); top ${e.depth}, R from the class counts of the index's ${rows} rows`,
  ];
  if (e.absentFromIndex)
    lines.push(
      `  ${e.absentFromIndex} scored queries are of a class the index lacks (P@N 0; left out of mAP, recall, R-precision, nDCG)`,
    );
  const width = labels.map((l) => Math.max(18, l.length + 2));
  lines.push((''.padEnd(13) + labels.map((l, i) => l.padEnd(width[i])).join('')).trimEnd());
  lines.push(('metric'.padEnd(13) + width.map((w) => 'micro   macro'.padEnd(w)).join('')).trimEnd());
  for (const m of EVAL_METRICS) {
    const cells = evals.map((x, i) => `${f4(x.metrics[m].micro)}  ${f4(x.metrics[m].macro)}`.padEnd(width[i]));
    const n = e.metrics[m].scored;
    lines.push((m.padEnd(13) + cells.join('')).trimEnd() + (n !== e.scored ? `   (${n} queries)` : ''));
  }
  console.log(lines.join('\n'));
}

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

/** What a search prints: the JSON object (with the evaluation), the evaluation, or the results. */
function printResponse(
  r: SearchResponse,
  evals: SearchEvaluation[] | null,
  label: string | null,
  json: boolean,
  rows: number,
): void {
  if (json) {
    const evaluation = evals ? { evaluation: { plain: evals[0], reranked: evals[1] ?? null } } : {};
    console.log(JSON.stringify({ ...r, ...(label ? { rerank: label } : {}), ...evaluation }, null, 2));
  } else if (evals) printEvaluation(evals, ['plain', ...(label ? [label] : [])], rows);
  else printText(r);
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
  const rerank = rerankOptions(v, k);
  const { files, classes } = await queryFiles(v, positionals);
  const depth = v.eval ? Math.max(k, EVAL_DEPTH) : k;
  const journal = v.resume ?? (v.csv ? `${v.csv}.partial.jsonl` : undefined);
  const searcher = await IndexSearcher.open(v.index, {
    threads: intOption(v.threads, 'threads', 1),
    expansionSearch: intOption(v.ef, 'ef', 1),
    executionProvider: epOption(v.ep),
  });
  const reranker = rerank
    ? await searchReranker(searcher, rerank).catch(async (e) => {
        await searcher.close();
        throw e;
      })
    : null;
  try {
    const quiet = v.quiet || files.length === 1;
    const all = withQueryClasses(
      await searcher.searchFiles(files, {
        k: depth,
        filter,
        excludeSelf: v['exclude-self'],
        journal,
        onProgress: quiet ? undefined : consoleProgress(),
        rerank: reranker ?? undefined,
      }),
      classes,
    );
    const rows = searcher.saved.rows;
    const evals = v.eval
      ? [
          evaluateSearch(all, rows, { ranking: 'plain', filter }),
          ...(reranker ? [evaluateSearch(all, rows, { filter })] : []),
        ]
      : null;
    const r = topOfResponse(all, k);
    printResponse(r, evals, rerank ? rerankLabel(rerank) : null, !!v.json, rows.size);
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
    await reranker?.close();
    await searcher.close();
  }
}
