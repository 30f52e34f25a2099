/**
 * The search side of `cbir serve`, over one `IndexSearcher`: the JSON of `cbir search --json` for
 * an uploaded image, for an index row (click-through), and for a query vector (the load test),
 * plus the index's facets and its images for display. Embeds and searches go through one bounded
 * `WorkQueue`.
 *
 * An upload is recognised as a manifest image (so its class is known and results get ✓/✗) when
 * its file name and its bytes match one: same base name, same size, same sha256.
 */
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import {
  decodeQueryImage,
  encodePng,
  readManifest,
  type IndexSearcher,
  type SearchFilter,
  type SearchResponse,
} from '../workbench/index.js';
import { boolParam, HttpError, intParam } from './http.js';
import { WorkQueue } from './queue.js';
import { BROWSER_TYPES, sniffImage } from './sniff.js';

/** Settings of the search service. */
export interface SearchServiceOptions {
  /** Neighbours per query when the request names none (default 10). */
  k?: number;
  /** The most neighbours a request may ask for (default 1000). */
  maxK?: number;
  /** Searches running at once (default 2) and waiting at most (default 32). */
  concurrency?: number;
  maxQueued?: number;
}

/** An image ready to send: its MIME type and bytes. */
export interface ImageAnswer {
  type: string;
  bytes: Uint8Array;
}

const FILTER_KEYS = ['modality', 'dataset', 'class', 'region', 'split'] as const;
/** Same-named index and manifest rows looked at for an upload, at most (one stat each; a hash only on equal size). */
const NAME_CANDIDATES = 4096;

/** The filter of a request: `?modality=CT&dataset=a|b` (a key may repeat; '|' separates alternatives). */
export function requestFilter(url: URL): SearchFilter {
  const f: SearchFilter = {};
  for (const key of FILTER_KEYS) {
    const values = url.searchParams
      .getAll(key)
      .flatMap((v) => v.split('|'))
      .map((v) => v.trim())
      .filter(Boolean);
    if (values.length) f[key] = [...new Set(values)];
  }
  return f;
}

/** An image file as the browser can show it: PNG/JPEG/WebP as they are, DICOM and TIFF as PNG. */
export async function imageAnswer(file: string, label: string): Promise<ImageAnswer> {
  const bytes = await readFile(file).catch(() => {
    throw new HttpError(
      404,
      `image file not found: ${label}`,
      'check that the images are where the index says',
      'web/no-image',
    );
  });
  const kind = sniffImage(bytes);
  const type = kind ? BROWSER_TYPES[kind] : undefined;
  if (type) return { type, bytes };
  return { type: 'image/png', bytes: await encodePng(await decodeQueryImage(bytes, label, file)) };
}

export class SearchService {
  readonly queue: WorkQueue;
  readonly k: number;
  readonly maxK: number;
  private byName: ReturnType<SearchService['nameMap']> | null = null;

  constructor(
    readonly searcher: IndexSearcher,
    opts: SearchServiceOptions = {},
  ) {
    this.k = opts.k ?? 10;
    this.maxK = opts.maxK ?? 1000;
    this.queue = new WorkQueue(opts.concurrency ?? 2, opts.maxQueued ?? 32);
  }

  /** GET /api/index: the index summary, its model, and the distinct labels to filter by. */
  info() {
    const s = this.searcher;
    const rows = s.saved.rows;
    return {
      index: s.summary(),
      model: s.saved.info.model,
      k: this.k,
      maxK: this.maxK,
      facets: { modality: rows.counts('modality'), dataset: rows.counts('dataset') },
      classes: Object.keys(rows.counts('class')).length,
      imagesRoot: s.saved.imagesRoot,
    };
  }

  private options(url: URL) {
    return {
      k: intParam(url, 'k', this.k, 1, this.maxK),
      filter: requestFilter(url),
      excludeSelf: boolParam(url, 'excludeSelf'),
    };
  }

  /** POST /api/search: an uploaded image (bytes) → the `cbir search --json` object. */
  async searchUpload(bytes: Uint8Array, url: URL): Promise<SearchResponse> {
    const opts = this.options(url);
    checkImage(bytes);
    const given = url.searchParams.get('name');
    const name = given ? basename(given.replace(/\\/g, '/')).slice(0, 200) : '<upload>';
    const r = await this.queue.run(() => this.searcher.searchBytes(bytes, { ...opts, name }));
    const cls = given ? await this.uploadClass(name, bytes) : undefined;
    if (cls) r.queries[0].class = cls;
    return r;
  }

  /** GET|POST /api/search?row=N: search with index row N's image; its class is the row's. */
  async searchRow(url: URL): Promise<SearchResponse> {
    const p = this.row(url);
    const opts = this.options(url);
    const file = this.searcher.rowFile(p);
    if (!file) throw noImages();
    const bytes = await readFile(file).catch(() => {
      throw new HttpError(404, `the image of row ${p} is missing: ${file}`, 'check the images folder', 'web/no-image');
    });
    const name = this.searcher.saved.rows.paths[p];
    const r = await this.queue.run(() => this.searcher.searchBytes(bytes, { ...opts, name }));
    const cls = this.searcher.saved.rows.labels(p).class;
    if (cls) r.queries[0].class = cls;
    return r;
  }

  /** POST /api/search-vector: a query vector (dim little-endian float32, body) → the same JSON, no embedding. */
  async searchVector(body: Uint8Array, url: URL): Promise<SearchResponse> {
    const opts = this.options(url);
    const dim = this.searcher.saved.info.dim;
    if (body.byteLength !== dim * 4)
      throw new HttpError(
        400,
        `the body holds ${body.byteLength} bytes; a query vector of this index is ${dim} float32 = ${dim * 4} bytes`,
        'send the vector as raw little-endian float32 values',
        'web/bad-vector',
      );
    const v = new Float32Array(dim);
    new Uint8Array(v.buffer).set(body);
    let s = 0;
    for (let i = 0; i < dim; i++) s += v[i] * v[i];
    if (!Number.isFinite(s) || s === 0)
      throw new HttpError(
        400,
        'the query vector is zero or not finite',
        'send a non-zero finite vector',
        'web/bad-vector',
      );
    for (let i = 0; i < dim; i++) v[i] /= Math.sqrt(s);
    return this.queue.run(async () => {
      const [results] = await this.searcher.searchVectors(v, opts);
      return this.searcher.response(opts, [{ query: '<vector>', results }]);
    });
  }

  /** POST /api/preview: an uploaded image as PNG (for DICOM and TIFF, which browsers do not show). */
  async preview(bytes: Uint8Array): Promise<ImageAnswer> {
    const kind = checkImage(bytes);
    const type = BROWSER_TYPES[kind];
    if (type) return { type, bytes };
    return this.queue.run(async () => ({
      type: 'image/png',
      bytes: await encodePng(await decodeQueryImage(bytes, '<upload>')),
    }));
  }

  /** GET /api/image?row=N: the image of index row N (only files the index names). */
  async image(url: URL): Promise<ImageAnswer> {
    const p = this.row(url);
    const file = this.searcher.rowFile(p);
    if (!file) throw noImages();
    return imageAnswer(file, this.searcher.saved.rows.paths[p]);
  }

  private row(url: URL): number {
    return intParam(url, 'row', undefined, 0, this.searcher.saved.info.size - 1);
  }

  /** The class of an upload that is a manifest (or index) image: same base name, size and sha256. */
  private async uploadClass(name: string, bytes: Uint8Array): Promise<string | undefined> {
    this.byName ??= this.nameMap();
    const { map, manifest } = await this.byName;
    const files = new Set<string>();
    for (const c of (map.get(name) ?? []).slice(0, NAME_CANDIDATES)) {
      const f = c >= 0 ? this.searcher.rowFile(c) : manifest!.resolvePath(-c - 1);
      if (f) files.add(f);
    }
    let hash: string | null = null;
    for (const f of files) {
      const st = await stat(f).catch(() => null);
      if (!st?.isFile() || st.size !== bytes.byteLength) continue;
      hash ??= sha256(bytes);
      if (sha256(await readFile(f)) !== hash) continue;
      const cls = (await this.searcher.queryLabels(f))?.class;
      if (cls) return cls;
    }
    return undefined;
  }

  /**
   * Base name → candidates over the index rows (p ≥ 0) and the rows of the index's manifest
   * (−i − 1): numbers, not paths, so a large index costs one small array per distinct name.
   */
  private async nameMap() {
    const map = new Map<string, number[]>();
    const add = (path: string, code: number) => {
      const b = basename(path);
      const list = map.get(b);
      if (list) list.push(code);
      else map.set(b, [code]);
    };
    const s = this.searcher.saved;
    for (let p = 0; p < s.rows.size; p++) add(s.rows.paths[p], p);
    const mi = s.info.manifest;
    const manifest =
      mi && s.dir
        ? await readManifest(resolve(s.dir, mi.dir)).catch(() => readManifest(mi.absoluteDir).catch(() => null))
        : null;
    if (manifest) for (let i = 0; i < manifest.size; i++) add(manifest.filepaths[i], -i - 1);
    return { map, manifest };
  }
}

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

function noImages(): HttpError {
  return new HttpError(
    404,
    'this index does not know where its images are (it was built or imported without an images root)',
    'build or import the index with the images folder to show and search its images',
    'web/no-images-root',
  );
}

/** Refuse an empty body (400) and bytes that are no image kind searched (415). */
function checkImage(bytes: Uint8Array) {
  if (bytes.byteLength === 0)
    throw new HttpError(400, 'the upload is empty', 'send the image file as the request body', 'web/empty');
  const kind = sniffImage(bytes);
  if (!kind)
    throw new HttpError(
      415,
      'the upload is not an image this server can search (PNG, JPEG, DICOM, TIFF, WebP, GIF or BMP)',
      'drop or pick an image file: PNG, JPEG or DICOM',
      'web/not-an-image',
    );
  return kind;
}
