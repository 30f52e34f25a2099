/**
 * Query grids (study Fig. 3): one row per query, the query framed orange, then its top matches in
 * order of similarity, framed green when the match has the query's class and red when not (grey
 * when the query's class is unknown, as for a user's own image), with
 * the class and the similarity under each image. Rendered to PNG (sharp composite, text by an SVG
 * overlay through librsvg) and to HTML (tiles embedded as data URIs).
 */
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { CbirError, errorMessage } from '../errors.js';
import type { Manifest } from '../data/manifest.js';
import { decodeImage } from '../images/decode.js';
import { readCsvRecords } from '../util/csv.js';
import { Rng } from '../util/rng.js';
import type { KnnTable } from '../knn/table.js';
import { VECTORS_FILE, type EmbeddingStore } from '../embeddings/store.js';
import { GRID_COLORS } from './colors.js';
import { FONT_FAMILY } from './specs.js';
import { escapeHtml } from './html.js';

/** One row of a grid: the query's manifest row and its neighbours' rows, best first. */
export interface GridQuery {
  query: number;
  /** Manifest rows of the neighbours, best first; -1 = none. */
  neighbours: ArrayLike<number>;
  /** Cosine similarity of each neighbour (NaN or absent when unknown). */
  sims?: ArrayLike<number>;
  /** The query's class is unknown (a user's own image): matches get a neutral frame, neither ✓ nor ✗. */
  unlabelled?: boolean;
}

export interface GridOptions {
  /** Matches shown per query (default 6, as the study). */
  matches?: number;
  /** Image side in pixels (default 150). */
  tile?: number;
  /** Frame width in pixels (default 6). */
  frame?: number;
  /** Space between tiles (default 12). */
  gap?: number;
  /** Outer margin (default 16). */
  margin?: number;
  /** Caption font size (default 13). */
  fontSize?: number;
  /** Heading over the grid. */
  title?: string;
}

/** Where one framed image sits in the grid. */
export interface GridCell {
  /** Grid row (0-based, one per query). */
  line: number;
  /** 0 = the query, 1… = the rank of the match. */
  column: number;
  /** Top-left corner of the frame's outer edge, and its side (image + 2 × frame). */
  x: number;
  y: number;
  size: number;
  frame: 'query' | 'match' | 'mismatch' | 'neutral' | 'empty';
  /** Manifest row shown (-1 for an empty cell). */
  row: number;
  className: string;
  sim: number;
  /** The similarity as captioned (`similarityLabels` of the row); '' when unknown. */
  simLabel: string;
}

export interface GridLayout {
  width: number;
  height: number;
  tile: number;
  frame: number;
  fontSize: number;
  title?: string;
  /** y of the column headings' baseline. */
  headerY: number;
  /** Space between tiles: captions may run into it. */
  gap: number;
  cells: GridCell[];
}

/** Geometry of a grid (pure): canvas size and every cell's position, frame kind, class and similarity. */
export function gridLayout(manifest: Manifest, queries: readonly GridQuery[], opts: GridOptions = {}): GridLayout {
  if (queries.length === 0)
    throw new CbirError('no queries for the grid', {
      hint: 'choose at least one query row (chooseGridQueries)',
      code: 'figures/no-data',
    });
  const matches = opts.matches ?? 6;
  const tile = opts.tile ?? 150,
    frame = opts.frame ?? 6,
    gap = opts.gap ?? 12,
    margin = opts.margin ?? 16,
    fontSize = opts.fontSize ?? 13;
  const outer = tile + 2 * frame;
  const titleH = opts.title ? Math.round(fontSize * 2.2) : 0;
  const headerH = Math.round(fontSize * 1.8);
  const captionH = Math.round(fontSize * 2.9);
  const cols = matches + 1;
  const width = 2 * margin + cols * outer + (cols - 1) * gap;
  const height = 2 * margin + titleH + headerH + queries.length * (outer + captionH) + (queries.length - 1) * gap;
  const cells: GridCell[] = [];
  queries.forEach((q, line) => {
    const y = margin + titleH + headerH + line * (outer + captionH + gap);
    cells.push(...gridRowCells(manifest, q, line, y, { matches, margin, outer, gap }));
  });
  return {
    width,
    height,
    tile,
    frame,
    fontSize,
    title: opts.title,
    headerY: margin + titleH + Math.round(fontSize * 1.2),
    gap,
    cells,
  };
}

/** The cells of grid row `line` (top edge y): the query, then one per match (checked against the manifest). */
function gridRowCells(
  manifest: Manifest,
  q: GridQuery,
  line: number,
  y: number,
  geometry: { matches: number; margin: number; outer: number; gap: number },
): GridCell[] {
  const { matches, margin, outer, gap } = geometry;
  if (!(q.query >= 0 && q.query < manifest.size))
    throw new CbirError(`query row ${q.query} is not in the manifest (${manifest.size} rows)`, {
      file: join(manifest.dir, 'manifest.csv'),
      hint: 'pick query rows of this manifest',
      code: 'figures/bad-row',
    });
  const qc = manifest.classIndex[q.query];
  const cells: GridCell[] = [
    {
      line,
      column: 0,
      x: margin,
      y,
      size: outer,
      frame: 'query',
      row: q.query,
      className: q.unlabelled ? 'unknown class' : manifest.classes[qc].name,
      sim: NaN,
      simLabel: '',
    },
  ];
  const sims = Array.from({ length: matches }, (_, j) => (q.sims && j < q.sims.length ? q.sims[j] : NaN));
  const labels = similarityLabels(sims);
  for (let j = 0; j < matches; j++) {
    const r = j < q.neighbours.length ? q.neighbours[j] : -1;
    const x = margin + (j + 1) * (outer + gap);
    if (r === undefined || r < 0) {
      cells.push({
        line,
        column: j + 1,
        x,
        y,
        size: outer,
        frame: 'empty',
        row: -1,
        className: '',
        sim: NaN,
        simLabel: '',
      });
      continue;
    }
    if (r >= manifest.size)
      throw new CbirError(`neighbour row ${r} of query row ${q.query} is not in the manifest (${manifest.size} rows)`, {
        file: join(manifest.dir, 'manifest.csv'),
        hint: "the k-NN table was made for another manifest; use the report's own manifest",
        code: 'figures/bad-row',
      });
    const c = manifest.classIndex[r];
    const sim = sims[j];
    cells.push({
      line,
      column: j + 1,
      x,
      y,
      size: outer,
      frame: q.unlabelled ? 'neutral' : c === qc ? 'match' : 'mismatch',
      row: r,
      className: manifest.classes[c].name,
      sim,
      simLabel: labels[j],
    });
  }
  return cells;
}

const xml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** Shorten text to about `maxWidth` pixels at `fontSize` (average glyph ≈ 0.6 em), with an ellipsis. */
export function fitText(s: string, maxWidth: number, fontSize: number): string {
  const max = Math.max(3, Math.floor(maxWidth / (0.6 * fontSize)));
  return s.length <= max ? s : `${s.slice(0, max - 1)}…`;
}

function caption(cell: GridCell): [string, string] {
  if (cell.frame === 'empty') return ['(no match)', ''];
  if (cell.column === 0) return [cell.className, 'query'];
  return [cell.className, cell.simLabel ? `sim ${cell.simLabel}` : `#${cell.column}`];
}

/**
 * Similarity captions of one grid row (pure): 4 decimals, or more (up to 6) while two values that
 * differ by at least 1e-6 would read alike, or a value below 1 would read as 1 (e.g. 0.99996 with
 * 4 decimals); '' for unknown (NaN) values. Equal values (ties) read alike.
 */
export function similarityLabels(sims: readonly number[]): string[] {
  const fmt = (d: number) => sims.map((v) => (Number.isFinite(v) ? v.toFixed(d) : ''));
  for (let d = 4; d < 6; d++) {
    const s = fmt(d);
    let clear = true;
    for (let i = 0; i < sims.length && clear; i++) {
      if (!s[i]) continue;
      if (Number(s[i]) >= 1 && sims[i] < 1 - 5e-7) clear = false;
      for (let j = i + 1; j < sims.length && clear; j++)
        if (s[j] && s[i] === s[j] && Math.abs(sims[i] - sims[j]) >= 1e-6) clear = false;
    }
    if (clear) return s;
  }
  return fmt(6);
}

/** The SVG overlay of a grid: frames, captions, column headings and title (text via a generic sans-serif font). */
export function gridSvg(layout: GridLayout): string {
  const { width, height, frame, fontSize } = layout;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="${xml(FONT_FAMILY)}">`,
  ];
  if (layout.title)
    parts.push(
      `<text x="${width / 2}" y="${Math.round(16 + fontSize * 1.3)}" font-size="${Math.round(fontSize * 1.3)}" font-weight="bold" text-anchor="middle" fill="#222">${xml(layout.title)}</text>`,
    );
  for (const cell of layout.cells) {
    if (cell.line === 0)
      parts.push(
        `<text x="${cell.x + cell.size / 2}" y="${layout.headerY}" font-size="${fontSize}" font-weight="bold" text-anchor="middle" fill="#444">${cell.column === 0 ? 'query' : `match ${cell.column}`}</text>`,
      );
    const color = cell.frame === 'empty' ? '#bbbbbb' : GRID_COLORS[cell.frame];
    // Stroke centred on a rect inset by frame/2: the frame covers exactly the outer `frame` pixels.
    parts.push(
      `<rect x="${cell.x + frame / 2}" y="${cell.y + frame / 2}" width="${cell.size - frame}" height="${cell.size - frame}" fill="none" stroke="${color}" stroke-width="${frame}"/>`,
    );
    const [l1, l2] = caption(cell);
    const cx = cell.x + cell.size / 2;
    const y1 = cell.y + cell.size + Math.round(fontSize * 1.25);
    parts.push(
      `<text x="${cx}" y="${y1}" font-size="${fontSize}" text-anchor="middle" fill="#222">${xml(fitText(l1, cell.size + layout.gap - 2, fontSize))}</text>`,
    );
    if (l2)
      parts.push(
        `<text x="${cx}" y="${y1 + Math.round(fontSize * 1.25)}" font-size="${fontSize}" text-anchor="middle" fill="${cell.column === 0 ? GRID_COLORS.query : '#555'}">${xml(l2)}</text>`,
      );
  }
  parts.push('</svg>');
  return parts.join('\n');
}

/** Cache of decoded, resized tiles (raw RGB, tile × tile) by manifest row; share it across grids of one dataset. */
export type TileCache = Map<number, Buffer>;

async function tileOf(
  manifest: Manifest,
  row: number,
  tile: number,
  cache: TileCache | undefined,
  warnings: string[],
): Promise<Buffer> {
  const hit = cache?.get(row);
  if (hit && hit.length === tile * tile * 3) return hit;
  let buf: Buffer;
  try {
    const img = await decodeImage(manifest.resolvePath(row));
    buf = await sharp(Buffer.from(img.data.buffer, img.data.byteOffset, img.data.byteLength), {
      raw: { width: img.width, height: img.height, channels: 3 },
    })
      .resize(tile, tile, { fit: 'contain', background: { r: 0, g: 0, b: 0 } })
      .raw()
      .toBuffer();
  } catch (e) {
    warnings.push(`${manifest.filepaths[row]}: ${errorMessage(e).split('\n')[0]}`);
    buf = Buffer.alloc(tile * tile * 3, 0x80); // grey placeholder; the caption still names the class
  }
  cache?.set(row, buf);
  return buf;
}

/** A rendered grid: PNG bytes, a standalone HTML page (images as data URIs), the layout and unreadable-image warnings. */
export interface QueryGrid {
  png: Buffer;
  html: string;
  layout: GridLayout;
  warnings: string[];
}

/**
 * Render a query grid (study Fig. 3) to PNG and HTML. Images are decoded with the workbench's
 * decoder (16-bit, DICOM, … as everywhere) and letterboxed on black to square tiles; an image
 * that cannot be read becomes a grey tile and a warning.
 */
export async function renderQueryGrid(
  manifest: Manifest,
  queries: readonly GridQuery[],
  opts: GridOptions & { tileCache?: TileCache } = {},
): Promise<QueryGrid> {
  const layout = gridLayout(manifest, queries, opts);
  const { tile, frame } = layout;
  const warnings: string[] = [];
  const composites: sharp.OverlayOptions[] = [];
  const dataUris = new Map<number, string>();
  for (const cell of layout.cells) {
    if (cell.row < 0) continue;
    const raw = await tileOf(manifest, cell.row, tile, opts.tileCache, warnings);
    composites.push({
      input: raw,
      raw: { width: tile, height: tile, channels: 3 },
      left: cell.x + frame,
      top: cell.y + frame,
    });
    if (!dataUris.has(cell.row))
      dataUris.set(
        cell.row,
        `data:image/png;base64,${(
          await sharp(raw, { raw: { width: tile, height: tile, channels: 3 } })
            .png()
            .toBuffer()
        ).toString('base64')}`,
      );
  }
  composites.push({ input: Buffer.from(gridSvg(layout)), left: 0, top: 0 });
  const png = await sharp({
    create: { width: layout.width, height: layout.height, channels: 3, background: { r: 255, g: 255, b: 255 } },
  })
    .composite(composites)
    .png()
    .toBuffer();
  return { png, html: gridHtml(manifest, layout, dataUris), layout, warnings };
}

function gridHtml(manifest: Manifest, layout: GridLayout, dataUris: Map<number, string>): string {
  const lines = Math.max(...layout.cells.map((c) => c.line)) + 1;
  const cols = Math.max(...layout.cells.map((c) => c.column)) + 1;
  const rows: string[] = [];
  rows.push(
    `<tr>${Array.from({ length: cols }, (_, c) => `<th>${c === 0 ? 'query' : `match ${c}`}</th>`).join('')}</tr>`,
  );
  for (let l = 0; l < lines; l++) {
    const cells = layout.cells.filter((c) => c.line === l).sort((a, b) => a.column - b.column);
    rows.push(
      `<tr>${cells
        .map((c) => {
          const color = c.frame === 'empty' ? '#bbbbbb' : GRID_COLORS[c.frame];
          const [l1, l2] = caption(c);
          const img =
            c.row >= 0
              ? `<img src="${dataUris.get(c.row)}" width="${layout.tile}" height="${layout.tile}" alt="${escapeHtml(manifest.filepaths[c.row])}" title="${escapeHtml(`${manifest.filepaths[c.row]}\n${c.className}`)}">`
              : `<div style="width:${layout.tile}px;height:${layout.tile}px"></div>`;
          return `<td><div class="f" style="border-color:${color}">${img}</div><div class="c">${escapeHtml(l1)}</div><div class="c s">${escapeHtml(l2)}</div></td>`;
        })
        .join('')}</tr>`,
    );
  }
  const title = layout.title ?? 'Query grid';
  const neutral = layout.cells.some((c) => c.frame === 'neutral')
    ? `<span style="background:${GRID_COLORS.neutral}"></span>query class unknown`
    : '';
  return [
    '<!DOCTYPE html>',
    '<html lang="en"><head><meta charset="utf-8">',
    `<title>${escapeHtml(title)}</title>`,
    `<style>body{font-family:${FONT_FAMILY};margin:16px;color:#222}table{border-collapse:separate;border-spacing:${Math.max(4, layout.frame * 2)}px}th{font-size:13px;color:#444}td{vertical-align:top;text-align:center;width:${layout.tile + 2 * layout.frame}px}.f{display:inline-block;border:${layout.frame}px solid;line-height:0;background:#000}.c{font-size:12px;max-width:${layout.tile + 2 * layout.frame}px;overflow-wrap:anywhere}.s{color:#555}.legend span{display:inline-block;width:14px;height:14px;vertical-align:middle;margin:0 4px 0 12px}</style>`,
    '</head><body>',
    `<h2>${escapeHtml(title)}</h2>`,
    `<p class="legend"><span style="background:${GRID_COLORS.query}"></span>query<span style="background:${GRID_COLORS.match}"></span>same class<span style="background:${GRID_COLORS.mismatch}"></span>other class${neutral}</p>`,
    `<table>${rows.join('\n')}</table>`,
    '</body></html>',
    '',
  ].join('\n');
}

/**
 * Default query rows of a grid: `perModality` queries of each modality (in manifest order),
 * drawn with a seeded RNG from `candidates` (e.g. the test split), preferring distinct classes.
 */
export function chooseGridQueries(
  manifest: Manifest,
  candidates: Int32Array,
  opts: { perModality?: number; seed?: number } = {},
): Int32Array {
  const per = opts.perModality ?? 2;
  const rng = new Rng(opts.seed ?? 0);
  const out: number[] = [];
  for (let m = 0; m < manifest.modalities.length; m++) {
    const pool: number[] = [];
    for (const r of candidates) if (manifest.modalityIndex[r] === m) pool.push(r);
    rng.shuffle(pool);
    const picked: number[] = [];
    const seen = new Set<number>();
    for (const r of pool) {
      if (picked.length >= per) break;
      if (!seen.has(manifest.classIndex[r])) {
        seen.add(manifest.classIndex[r]);
        picked.push(r);
      }
    }
    for (const r of pool) {
      if (picked.length >= per) break;
      if (!picked.includes(r)) picked.push(r);
    }
    out.push(...picked);
  }
  return Int32Array.from(out);
}

/** Grid rows from an in-memory k-NN table (rows and similarities as computed). */
export function gridQueriesFromTable(
  table: Pick<KnnTable, 'k' | 'queryRows' | 'ids' | 'sims'>,
  queryRows: ArrayLike<number>,
  matches = 6,
): GridQuery[] {
  const pos = new Map<number, number>();
  table.queryRows.forEach((r, q) => pos.set(r, q));
  const m = Math.min(matches, table.k);
  return Array.from(queryRows, (r) => {
    const q = pos.get(r);
    if (q === undefined)
      throw new CbirError(`row ${r} is not a query of the k-NN table`, {
        hint: "choose grid queries among the table's query rows (the test split)",
        code: 'figures/bad-row',
      });
    return {
      query: r,
      neighbours: table.ids.slice(q * table.k, q * table.k + m),
      sims: table.sims.slice(q * table.k, q * table.k + m),
    };
  });
}

/**
 * Grid rows read from a report's `knn.csv` (query path, then neighbour paths best first),
 * streamed: only the wanted queries are kept. Similarities are unknown (NaN); add them with
 * `addSimilarities`. A CbirError names the file and line of a path not in the manifest.
 */
export async function gridQueriesFromKnnCsv(
  file: string,
  manifest: Manifest,
  queryRows: ArrayLike<number>,
  matches = 6,
): Promise<GridQuery[]> {
  const byPath = new Map<string, number>();
  for (let i = 0; i < manifest.size; i++) byPath.set(manifest.filepaths[i], i);
  const wanted = new Map<string, number>();
  for (const r of Array.from(queryRows)) wanted.set(manifest.filepaths[r], r);
  const found = new Map<number, GridQuery>();
  let header = true;
  for await (const rec of readCsvRecords(file)) {
    if (header) {
      header = false;
      if (rec.cells[0] !== 'query')
        throw new CbirError(`first column is "${rec.cells[0]}", expected "query"`, {
          file,
          row: rec.line,
          hint: 'use a knn.csv written by the benchmark report (header query,1,2,…)',
          code: 'figures/bad-knn-csv',
        });
      continue;
    }
    const q = wanted.get(rec.cells[0]);
    if (q === undefined) continue;
    const n = Math.min(matches, rec.cells.length - 1);
    const neighbours = new Int32Array(n).fill(-1);
    for (let j = 0; j < n; j++) {
      const p = rec.cells[j + 1];
      if (p === '') continue;
      const r = byPath.get(p);
      if (r === undefined)
        throw new CbirError(`neighbour "${p}" (column ${j + 1}) is not in the manifest`, {
          file,
          row: rec.line,
          hint: 'use the manifest the report was made with',
          code: 'figures/unknown-path',
        });
      neighbours[j] = r;
    }
    found.set(q, { query: q, neighbours, sims: new Float32Array(n).fill(NaN) });
  }
  const missing = Array.from(queryRows).filter((r) => !found.has(r));
  if (missing.length)
    throw new CbirError(
      `${missing.length} chosen queries are not in knn.csv (e.g. "${manifest.filepaths[missing[0]]}")`,
      { file, hint: 'choose queries among the test split the report was made with', code: 'figures/missing-query' },
    );
  return Array.from(queryRows, (r) => found.get(r)!);
}

/**
 * Fill in the cosine similarities of grid rows from an embedding store (inner products of the
 * stored L2-normalised vectors), reading only the rows needed. Store rows are matched to the
 * manifest by id (file path).
 */
export async function addSimilarities(
  queries: GridQuery[],
  manifest: Manifest,
  store: Pick<EmbeddingStore, 'dir' | 'dim' | 'ids'>,
): Promise<GridQuery[]> {
  const dim = store.dim;
  let byId: Map<string, number> | undefined;
  const storeRow = (r: number): number => {
    if (store.ids[r] === manifest.filepaths[r]) return r;
    if (!byId) {
      byId = new Map();
      store.ids.forEach((id, i) => byId!.set(id, i));
    }
    const i = byId.get(manifest.filepaths[r]) ?? -1;
    if (i < 0)
      throw new CbirError(`"${manifest.filepaths[r]}" has no embedding in the store`, {
        file: store.dir,
        hint: "the store was made for another manifest; use the report's own manifest and work folder",
        code: 'figures/store-mismatch',
      });
    return i;
  };
  const file = join(store.dir, VECTORS_FILE);
  const fh = await open(file, 'r');
  const vec = async (r: number) => {
    const v = new Float32Array(dim);
    const { bytesRead } = await fh.read(new Uint8Array(v.buffer), 0, dim * 4, storeRow(r) * dim * 4);
    if (bytesRead !== dim * 4)
      throw new CbirError(`short read of row ${r}`, {
        file,
        hint: 'the store is damaged; embed again',
        code: 'figures/store-short',
      });
    return v;
  };
  try {
    const out: GridQuery[] = [];
    for (const q of queries) {
      const a = await vec(q.query);
      const sims = new Float32Array(q.neighbours.length).fill(NaN);
      for (let j = 0; j < q.neighbours.length; j++) {
        if (q.neighbours[j] < 0) continue;
        const b = await vec(q.neighbours[j]);
        let s = 0;
        for (let d = 0; d < dim; d++) s += a[d] * b[d]; // cosine = a·b for unit vectors
        sims[j] = s;
      }
      out.push({ ...q, sims });
    }
    return out;
  } finally {
    await fh.close();
  }
}
