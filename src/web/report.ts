/**
 * The report browser of `cbir serve --report`: a finished report (`openReport`) as the page shows
 * it. Tables 3 and 4 from the typed report; each test query with its neighbours from the cached
 * k-NN table the report names (with similarities), or from `<report>/<model>/knn.csv` when the
 * work folder is gone (no similarities); and a t-SNE map of a class-stratified sample.
 *
 * The report's t-SNE figures carry points but not which manifest row each point is, so the map
 * here is computed by the server (the core's `tsne` on ≤ 1000 sampled rows of the model's
 * embedding store, 500 iterations), once per model, on its first request.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import {
  CbirError,
  figures,
  openEmbeddings,
  openReport,
  openReportManifest,
  readCsvRecords,
  readKnnTable,
  tsne,
  type Manifest,
  type ReportData,
  type Table,
} from '../workbench/index.js';
import { HttpError, intParam } from './http.js';
import { imageAnswer, type ImageAnswer } from './search.js';

/** Neighbours kept per query (the page shows up to this many). */
const KEEP = 10;
/** Points of a t-SNE map at most, and its iterations. */
const MAP_POINTS = 1000;
const MAP_ITERATIONS = 500;

/** The test queries of one model with their neighbours (manifest rows), queries × k. */
interface QuerySet {
  k: number;
  queryRows: Int32Array;
  ids: Int32Array;
  sims: Float32Array | null;
  source: string;
  /** Query positions, misses first (top-1 of another class), then by hits in the top k, fewest first. */
  order: Int32Array;
  hits: Uint16Array;
}

/** A t-SNE map: point i is manifest row rows[i] at (x[i], y[i]). */
export interface TsneMap {
  model: string;
  rows: number[];
  x: number[];
  y: number[];
  /** Image path (as in the manifest) of each point. */
  paths: string[];
  /** Class and modality index of each point into `classes` and `modalities`. */
  cls: number[];
  classes: string[];
  modality: number[];
  modalities: string[];
  /** Points sampled, of how many. */
  sampled: number;
  total: number;
  note: string;
}

export class ReportBrowser {
  private sets = new Map<string, Promise<QuerySet>>();
  private maps = new Map<string, Promise<TsneMap>>();

  private constructor(
    readonly report: ReportData,
    readonly manifest: Manifest,
    readonly warning: string | null,
  ) {}

  /** Open a finished report folder and its manifest (`manifest`: another copy of it). */
  static async open(dir: string, opts: { manifest?: string } = {}): Promise<ReportBrowser> {
    const report = await openReport(dir);
    const { manifest, warning } = await openReportManifest(report, { override: opts.manifest, changed: 'warn' });
    return new ReportBrowser(report, manifest, warning);
  }

  /** GET /api/report: the dataset, the models, and Tables 3 and 4. */
  summary() {
    const r = this.report;
    const t = (name: 'table3_retrieval' | 'table4_modality'): Table | null => r.tables[name] ?? null;
    return {
      dir: r.dir,
      createdAt: r.createdAt,
      dataset: r.dataset,
      protocol: { k: r.protocol.k, definition: r.protocol.definition, index: r.protocol.index },
      models: r.models.map((m) => m.modelId),
      tables: { table3: t('table3_retrieval'), table4: t('table4_modality') },
      classes: this.manifest.classes.map((c) => c.name),
      warning: this.warning,
    };
  }

  private model(url: URL): string {
    const id = url.searchParams.get('model') ?? this.report.models[0]?.modelId;
    if (!id || !this.report.models.some((m) => m.modelId === id))
      throw new HttpError(
        404,
        `the report has no model "${id}"`,
        `models in this report: ${this.report.models.map((m) => m.modelId).join(', ')}`,
        'web/no-model',
      );
    return id;
  }

  /** GET /api/report/queries?model=&class=&offset=&limit=: test queries, misses first, with neighbours. */
  async queries(url: URL) {
    const model = this.model(url);
    let set = this.sets.get(model);
    if (!set) {
      set = this.loadSet(model);
      set.catch(() => this.sets.delete(model));
      this.sets.set(model, set);
    }
    const qs = await set;
    const m = this.manifest;
    const cls = url.searchParams.get('class') || null;
    const ci = cls === null ? -1 : m.classes.findIndex((c) => c.name === cls);
    if (cls !== null && ci < 0)
      throw new HttpError(
        404,
        `no class "${cls}" in the report's dataset`,
        'pick a class from the list',
        'web/no-class',
      );
    const order = ci < 0 ? qs.order : qs.order.filter((q) => m.classIndex[qs.queryRows[q]] === ci);
    const offset = intParam(url, 'offset', 0, 0, Math.max(0, order.length));
    const limit = intParam(url, 'limit', 20, 1, 200);
    let misses = 0;
    for (const q of order) if (this.isMiss(qs, q)) misses++;
    return {
      model,
      k: qs.k,
      source: qs.source,
      similarities: qs.sims !== null,
      total: order.length,
      misses,
      offset,
      queries: Array.from(order.subarray(offset, offset + limit), (q) => this.queryItem(qs, q)),
    };
  }

  private isMiss(qs: QuerySet, q: number): boolean {
    const r = qs.ids[q * qs.k];
    return r >= 0 && this.manifest.classIndex[r] !== this.manifest.classIndex[qs.queryRows[q]];
  }

  private queryItem(qs: QuerySet, q: number) {
    const m = this.manifest;
    const row = qs.queryRows[q];
    const e = m.entry(row);
    const neighbours = [];
    for (let j = 0; j < qs.k; j++) {
      const r = qs.ids[q * qs.k + j];
      if (r < 0) break;
      const n = m.entry(r);
      neighbours.push({
        rank: j + 1,
        row: r,
        path: n.filepath,
        class: n.className,
        dataset: n.dataset,
        similarity: qs.sims ? qs.sims[q * qs.k + j] : null,
        correct: m.classIndex[r] === m.classIndex[row],
      });
    }
    const item = { row, path: e.filepath, class: e.className, dataset: e.dataset, modality: e.modality };
    return { ...item, miss: this.isMiss(qs, q), hits: qs.hits[q], neighbours };
  }

  private async loadSet(model: string): Promise<QuerySet> {
    const entry = this.report.models.find((x) => x.modelId === model)!;
    const dir = entry.knn.test;
    if (dir && existsSync(join(dir, 'meta.json'))) {
      const t = await readKnnTable(dir);
      if (t.meta.manifestHash === null || t.meta.manifestHash === this.manifest.hash) {
        const k = Math.min(KEEP, t.k);
        const nq = t.queryRows.length;
        const ids = new Int32Array(nq * k);
        const sims = new Float32Array(nq * k);
        for (let q = 0; q < nq; q++) {
          ids.set(t.ids.subarray(q * t.k, q * t.k + k), q * k);
          sims.set(t.sims.subarray(q * t.k, q * t.k + k), q * k);
        }
        return this.ordered({ k, queryRows: t.queryRows, ids, sims, source: dir });
      }
    }
    return this.ordered(await this.readKnnCsv(join(this.report.dir ?? '.', model, 'knn.csv'), model));
  }

  /** `<report>/<model>/knn.csv` (query path, then neighbour paths) mapped to manifest rows. */
  private async readKnnCsv(file: string, model: string) {
    if (!existsSync(file))
      throw new HttpError(
        404,
        `no neighbours for ${model}: its k-NN table and knn.csv are both gone (${file})`,
        'run the report again for this model (it resumes from its work folder)',
        'web/no-knn',
      );
    const rowOf = new Map<string, number>();
    this.manifest.filepaths.forEach((p, i) => rowOf.set(p, i));
    let queries = new Int32Array(1024);
    let ids = new Int32Array(0);
    let k = 0;
    let nq = 0;
    for await (const rec of readCsvRecords(file)) {
      if (rec.line === 1) {
        k = Math.min(KEEP, rec.cells.length - 1);
        ids = new Int32Array(queries.length * k);
        continue;
      }
      const q = rowOf.get(rec.cells[0]);
      if (q === undefined)
        throw new CbirError(`query "${rec.cells[0]}" is not in the report's manifest`, {
          file,
          row: rec.line,
          hint: 'the report was made on another dataset: give its manifest',
          code: 'web/knn-mismatch',
        });
      if (nq === queries.length) [queries, ids] = [grow(queries), grow(ids)];
      queries[nq] = q;
      for (let j = 0; j < k; j++) ids[nq * k + j] = rowOf.get(rec.cells[j + 1] ?? '') ?? -1;
      nq++;
    }
    return { k, queryRows: queries.slice(0, nq), ids: ids.slice(0, nq * k), sims: null, source: file };
  }

  private ordered(s: Omit<QuerySet, 'order' | 'hits'>): QuerySet {
    const m = this.manifest;
    const nq = s.queryRows.length;
    const hits = new Uint16Array(nq);
    const miss = new Uint8Array(nq);
    for (let q = 0; q < nq; q++) {
      const c = m.classIndex[s.queryRows[q]];
      for (let j = 0; j < s.k; j++) {
        const r = s.ids[q * s.k + j];
        if (r >= 0 && m.classIndex[r] === c) hits[q]++;
      }
      const top = s.ids[q * s.k];
      miss[q] = top >= 0 && m.classIndex[top] !== c ? 1 : 0;
    }
    const order = Int32Array.from({ length: nq }, (_, i) => i).sort(
      (a, b) => miss[b] - miss[a] || hits[a] - hits[b] || a - b,
    );
    return { ...s, order, hits };
  }

  /** GET /api/report/image?row=N: the image of manifest row N (only files the manifest names). */
  async image(url: URL): Promise<ImageAnswer> {
    const row = intParam(url, 'row', undefined, 0, this.manifest.size - 1);
    return imageAnswer(this.manifest.resolvePath(row), this.manifest.filepaths[row]);
  }

  /** GET /api/report/tsne?model=: the map of that model (computed once, on its first request). */
  async tsne(url: URL): Promise<TsneMap> {
    const model = this.model(url);
    let map = this.maps.get(model);
    if (!map) {
      map = this.computeMap(model);
      map.catch(() => this.maps.delete(model));
      this.maps.set(model, map);
    }
    return map;
  }

  private async computeMap(model: string): Promise<TsneMap> {
    const entry = this.report.models.find((x) => x.modelId === model)!;
    if (!existsSync(join(entry.store.dir, 'meta.json')))
      throw new HttpError(
        404,
        `the embedding store of ${model} is gone (${entry.store.dir}), so its t-SNE map cannot be drawn`,
        "keep the report's work folder with the report",
        'web/no-store',
      );
    const m = this.manifest;
    const store = await openEmbeddings(entry.store.dir);
    const all = Int32Array.from({ length: m.size }, (_, i) => i);
    const sample = figures.mapSample(m, all, MAP_POINTS, 0);
    const n = sample.rows.length;
    if (n < 4) throw new HttpError(404, `only ${n} images: too few for a map`, 'use a larger dataset', 'web/no-data');
    const x = await figures.readStoreRows(store, m, sample.rows);
    const perplexity = Math.min(30, Math.floor((n - 1) / 3));
    const r = tsne(x, n, store.dim, { perplexity, iterations: MAP_ITERATIONS, seed: 0, source: store.dir });
    const round = (v: number) => Math.round(v * 1e3) / 1e3;
    return {
      model,
      rows: Array.from(sample.rows),
      x: Array.from({ length: n }, (_, i) => round(r.embedding[2 * i])),
      y: Array.from({ length: n }, (_, i) => round(r.embedding[2 * i + 1])),
      paths: Array.from(sample.rows, (row) => m.filepaths[row]),
      cls: Array.from(sample.rows, (row) => m.classIndex[row]),
      classes: m.classes.map((c) => c.name),
      modality: Array.from(sample.rows, (row) => m.modalityIndex[row]),
      modalities: m.modalities,
      sampled: n,
      total: sample.total,
      note: `t-SNE computed by the server on ${n === sample.total ? 'all' : 'a class-stratified sample of'} ${n} of ${sample.total} images (perplexity ${perplexity}, ${MAP_ITERATIONS} iterations, seed 0)`,
    };
  }
}

/** A typed array of twice the length, holding the same values. */
function grow(a: Int32Array): Int32Array<ArrayBuffer> {
  const b = new Int32Array(a.length * 2);
  b.set(a);
  return b;
}
