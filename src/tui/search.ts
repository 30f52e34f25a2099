/**
 * The search screen's work: search an index with an image (or a folder of images) the user types
 * or pastes, and turn the core's `SearchResponse` into the query browser's data.
 *
 * Which index: the saved one given at start (`cbir tui --index <dir>`), else the train split of
 * the open report for the query browser's current model (the study's index: the same neighbours
 * as the report's knn.csv), built in memory from the embedding store the report names on the
 * first search with that model and kept for the next ones (two at most).
 */
import { homedir } from 'node:os';
import { isAbsolute, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { useEffect, useRef, type MutableRefObject } from 'react';
import {
  buildSavedIndex,
  CbirError,
  collectQueryFiles,
  errorMessage,
  IndexSearcher,
  loadExtractor,
  type IndexParams,
  type Manifest,
  type ProgressEvent,
  type ReportData,
  type SearchResponse,
} from '../workbench/index.js';
import type { BrowseQuery, SearchedQueries } from './browse.js';
import { openQueryManifest } from './queries.js';
import { modelIds, reportModel } from './report.js';
import { displayPath } from './layout.js';
import type { AppAction, AppState } from './app-state.js';

/** Matches kept per searched image (the browser shows `n` of them, `+` more). */
export const SEARCH_K = 20;

/** A finished search, as the query browser shows it. */
export interface SearchSet extends SearchedQueries {
  /** What was typed (searched again with another model on m). */
  text: string;
  model: string;
  /** The index, in words: `index runs/idx (120 images)` or `train split of runs/start (120 images)`. */
  where: string;
  /** The index is the open report's train split (m searches again with the next model). */
  fromReport: boolean;
  /** Images of a folder that could not be searched. */
  failed: number;
}

/** Where to search: a saved index folder, or the train split of a report for one of its models. */
export type SearchTarget =
  | { kind: 'index'; dir: string }
  | { kind: 'report'; report: ReportData; model: string; manifest?: Manifest; dataDir?: string; workDir?: string };

/**
 * A path as typed or pasted: surrounding spaces and quotes off, a `file://` URL as its path, `~/`
 * as the home folder, and a terminal's drag-and-drop escapes (`my\ scan.png`) undone.
 */
export function cleanQueryPath(text: string): string {
  let p = text.trim();
  if (p.length >= 2 && (p[0] === "'" || p[0] === '"') && p.endsWith(p[0])) p = p.slice(1, -1);
  else p = p.replace(/\\(.)/g, '$1');
  if (p.startsWith('file://')) {
    try {
      p = fileURLToPath(p);
    } catch {
      // not a file URL after all: searched as typed (and reported as not found)
    }
  }
  if (p === '~' || p.startsWith('~/')) p = join(homedir(), p.slice(1));
  return p;
}

/** The search's queries with their matches (absolute files for the image panel, ✓/✗ when the class is known). */
export function searchedQueries(r: SearchResponse, searcher: Pick<IndexSearcher, 'rowFile'>): BrowseQuery[] {
  return r.queries.map((q) => {
    const cls = q.class ?? null;
    const matches = q.results.map((h) => ({
      rank: h.rank,
      path: h.path,
      file: searcher.rowFile(h.row),
      className: h.class || '(no class)',
      sim: h.similarity,
      correct: cls === null ? null : h.class === cls,
    }));
    const hits = cls === null ? null : matches.filter((m) => m.correct).length;
    return { path: q.query, file: q.file ?? null, className: cls, matches, hits, error: q.error ?? null };
  });
}

/** The folder under `workDir` that `dir` (inside the report's work folder) has when the work folder moved. */
export function inWork(r: ReportData, dir: string, workDir?: string): string {
  if (!workDir) return dir;
  const rel = relative(r.work, dir);
  return rel.startsWith('..') || isAbsolute(rel) ? dir : join(workDir, rel);
}

/** The index parameters of a report's own k-NN tables (exact unless it used HNSW). */
function reportIndexParams(r: ReportData): IndexParams {
  const p = r.protocol.index;
  return p?.kind === 'hnsw' ? (p as unknown as IndexParams) : { kind: 'exact' };
}

/** An opened searcher, and for an index built here the classes of its manifest's images (by absolute file). */
export interface OpenedSearcher {
  searcher: IndexSearcher;
  classOf?: (file: string) => string | undefined;
}

/**
 * The class of a manifest image by its absolute file (the map is made on first use). The core
 * labels a query from the manifest of a saved index; an index built in memory is not saved, so
 * a test image searched in the report's train split gets its class here.
 */
function classLookup(m: Manifest): (file: string) => string | undefined {
  let byFile: Map<string, string> | null = null;
  return (file) => {
    if (!byFile) {
      byFile = new Map();
      for (let i = 0; i < m.size; i++) byFile.set(m.resolvePath(i), m.classes[m.classIndex[i]].name);
    }
    return byFile.get(file);
  };
}

/** Build the train-split index of one model of a report, with its model loaded. */
async function reportSearcher(
  t: Extract<SearchTarget, { kind: 'report' }>,
  onProgress: (e: ProgressEvent) => void,
): Promise<OpenedSearcher> {
  const rm = reportModel(t.report, t.model);
  if (!rm)
    throw new CbirError(`the report has no model "${t.model}"`, {
      file: t.report.dir ?? undefined,
      hint: 'pick one of its models (m)',
      code: 'tui/no-model',
    });
  const manifest = t.manifest ?? (await openQueryManifest(t.report, t.dataDir)).manifest;
  const store = inWork(t.report, rm.store.dir, t.workDir);
  const saved = await buildSavedIndex({
    store,
    manifest,
    split: 'train',
    index: reportIndexParams(t.report),
    onProgress,
  });
  try {
    return { searcher: new IndexSearcher(saved, await loadExtractor(t.model)), classOf: classLookup(manifest) };
  } catch (e) {
    await saved.index.close();
    throw e;
  }
}

/** Opened searchers, by index: a saved index once, report indices two at most (each holds the train vectors). */
export class Searchers {
  private cache = new Map<string, Promise<OpenedSearcher>>();

  /** The searcher of `t` (opened or built on first use; a failure is not kept). */
  get(t: SearchTarget, onProgress: (e: ProgressEvent) => void = () => {}): Promise<OpenedSearcher> {
    const key = t.kind === 'index' ? `index|${t.dir}` : `report|${t.report.dir}|${t.model}`;
    const had = this.cache.get(key);
    if (had) {
      this.cache.delete(key); // most recently used last
      this.cache.set(key, had);
      return had;
    }
    const made =
      t.kind === 'index' ? IndexSearcher.open(t.dir).then((searcher) => ({ searcher })) : reportSearcher(t, onProgress);
    this.cache.set(key, made);
    made.catch(() => this.cache.delete(key));
    const built = [...this.cache.keys()].filter((k) => k.startsWith('report|'));
    for (const old of built.slice(0, Math.max(0, built.length - 2))) {
      void this.cache.get(old)?.then(
        (x) => x.searcher.close(),
        () => undefined,
      );
      this.cache.delete(old);
    }
    return made;
  }

  /** Close every searcher (the App unmounts). */
  async closeAll(): Promise<void> {
    const all = [...this.cache.values()];
    this.cache.clear();
    await Promise.all(
      all.map((p) =>
        p.then(
          (x) => x.searcher.close(),
          () => undefined,
        ),
      ),
    );
  }
}

/** Search `text` (an image, DICOM or folder path) in `searcher`: the browser's data. */
export async function searchPath(
  searcher: IndexSearcher,
  text: string,
  o: {
    where: string;
    fromReport: boolean;
    k?: number;
    onProgress?: (e: ProgressEvent) => void;
    /** The class of a query file the index does not know (see `classLookup`). */
    classOf?: (file: string) => string | undefined;
  },
): Promise<SearchSet> {
  const files = await collectQueryFiles([cleanQueryPath(text)]);
  const k = o.k ?? SEARCH_K;
  const r = await searcher.searchFiles(files, { k, onProgress: o.onProgress });
  for (const q of r.queries) if (!q.class && q.file && o.classOf) q.class = o.classOf(q.file);
  const queries = searchedQueries(r, searcher);
  return {
    text,
    model: r.model,
    where: o.where,
    fromReport: o.fromReport,
    about: `${r.model} · ${o.where}`,
    k,
    queries,
    failed: queries.filter((q) => q.error).length,
  };
}

/** What to search now: the --index folder, else the open report's train split for `model` (default: the current one). */
export function searchTarget(
  s: AppState,
  o: { index?: string; dataDir?: string; workDir?: string },
  model?: string,
): SearchTarget | null {
  if (o.index) return { kind: 'index', dir: o.index };
  const r = s.report;
  if (!r) return null;
  const cursor = s.search?.set.fromReport ? s.search.cursor : s.query.cursor;
  const m = model ?? modelIds(r)[cursor.model];
  if (!m) return null;
  return { kind: 'report', report: r, model: m, manifest: s.query.manifest?.m, dataDir: o.dataDir, workDir: o.workDir };
}

/** The index of a target, in words. */
function targetWhere(t: SearchTarget, size: number): string {
  const where =
    t.kind === 'index' ? `index ${displayPath(t.dir)}` : `train split of ${displayPath(t.report.dir ?? '')}`;
  return `${where} (${size} images)`;
}

/**
 * The App's search: `start(text)` searches in the background and dispatches the results (or an
 * error on the status line); one search at a time; m on search results from a report searches
 * again with the chosen model. Searchers are closed when the App unmounts.
 */
export function useSearch(
  o: { index?: string; dataDir?: string; workDir?: string; k?: number },
  s: AppState,
  dispatch: (a: AppAction) => void,
  ref: MutableRefObject<AppState>,
): { start: (text: string, model?: string) => void } {
  const searchers = useRef(new Searchers()).current;
  const busy = useRef(false);
  const status = (text: string, color: string) => dispatch({ type: 'status', status: { text, color } });
  useEffect(
    () => () => {
      void searchers.closeAll();
    },
    [],
  );
  const start = (text: string, model?: string) => {
    if (busy.current) return status('a search is going already: wait for it to finish', 'yellow');
    const t = searchTarget(ref.current, o, model);
    if (!t)
      return status(
        'no index to search: start with `cbir tui --index <dir>` (a folder made by `cbir index build`), or open a report (0) to search its train split',
        'red',
      );
    busy.current = true;
    const label = t.kind === 'index' ? `index ${displayPath(t.dir)}` : `${t.model} (train split)`;
    status(`searching ${text} in ${label}…`, 'cyan');
    const onBuild = (e: ProgressEvent) => status(`building the ${label} index: ${e.done}/${e.total} vectors…`, 'cyan');
    const onSearch = (e: ProgressEvent) => status(`searching ${text}: ${e.done}/${e.total} images…`, 'cyan');
    (async () => {
      const { searcher, classOf } = await searchers.get(t, onBuild);
      const where = targetWhere(t, searcher.saved.info.size);
      const set = await searchPath(searcher, text, {
        where,
        fromReport: t.kind === 'report',
        k: o.k,
        onProgress: onSearch,
        classOf,
      });
      dispatch({ type: 'search-results', set });
    })()
      .catch((e) => status(`search failed: ${errorMessage(e)}`, 'red'))
      .finally(() => {
        busy.current = false;
      });
  };
  // m / M on results from a report: the same image searched with the model now chosen
  const sr = s.search;
  const wanted = sr?.set.fromReport && s.report ? modelIds(s.report)[sr.cursor.model] : undefined;
  useEffect(() => {
    if (sr && wanted && wanted !== sr.set.model) start(sr.set.text, wanted);
  }, [wanted]);
  return { start };
}
