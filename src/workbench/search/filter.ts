/**
 * Filters of a search: `modality=CT,dataset=ct-head` keeps index rows whose modality is CT and
 * whose dataset is ct-head. Values of one key are alternatives (`modality=CT,modality=MR` or
 * `modality=CT|MR`); different keys must all hold. Filters apply before top-k: the search asks
 * the index for more neighbours until k rows pass (or every row has been seen).
 */
import { CbirError } from '../errors.js';
import { ROW_COLUMNS, type IndexRows, type RowColumn } from './rows.js';

/** Allowed values per label column; an absent column is not filtered. */
export type SearchFilter = Partial<Record<RowColumn, string[]>>;

const ALIASES: Readonly<Record<string, RowColumn>> = {
  class: 'class',
  label: 'class',
  dataset: 'dataset',
  modality: 'modality',
  region: 'region',
  anatomic_region: 'region',
  split: 'split',
};

/** Parse `key=value,key=value|value` (one or more texts, e.g. repeated options) into a filter. */
export function parseSearchFilter(...texts: (string | undefined)[]): SearchFilter {
  const out: SearchFilter = {};
  for (const text of texts) {
    if (!text) continue;
    for (const part of text.split(',')) {
      const item = part.trim();
      if (!item) continue;
      const eq = item.indexOf('=');
      const key = eq > 0 ? ALIASES[item.slice(0, eq).trim().toLowerCase()] : undefined;
      const values =
        eq > 0
          ? item
              .slice(eq + 1)
              .split('|')
              .map((v) => v.trim())
              .filter(Boolean)
          : [];
      if (!key || values.length === 0)
        throw new CbirError(`filter "${item}" is not key=value with key ${ROW_COLUMNS.join(', ')}`, {
          hint: 'e.g. modality=CT,dataset=ct-head (several values of one key: modality=CT|MR)',
          code: 'search/bad-filter',
        });
      out[key] = [...new Set([...(out[key] ?? []), ...values])];
    }
  }
  return out;
}

/** A filter as text (`modality=CT|MR,dataset=a`), keys in a fixed order; '' for none. */
export function filterText(filter: SearchFilter): string {
  return ROW_COLUMNS.filter((c) => filter[c]?.length)
    .map((c) => `${c}=${[...filter[c]!].sort().join('|')}`)
    .join(',');
}

/**
 * The rows a filter keeps (1 = kept), or null when it keeps all. A value no row has, or a column
 * the index has no labels for, is refused naming what there is.
 */
export function filterMask(rows: IndexRows, filter: SearchFilter): { mask: Uint8Array; kept: number } | null {
  const keys = ROW_COLUMNS.filter((c) => filter[c]?.length);
  if (keys.length === 0) return null;
  const allowed: Uint8Array[] = [];
  for (const c of keys) {
    const col = rows.columns[c];
    if (!rows.known(c))
      throw new CbirError(`this index has no ${c} labels, so it cannot be filtered by ${c}`, {
        hint: 'build (or import) the index with its manifest to have the labels',
        code: 'search/bad-filter',
      });
    const ok = new Uint8Array(col.values.length);
    for (const v of filter[c]!) {
      const code = col.values.indexOf(v);
      if (code <= 0)
        throw new CbirError(`no index image has ${c} "${v}"`, {
          hint: `${c} values in this index: ${col.values.slice(1).join(', ')}`,
          code: 'search/bad-filter',
        });
      ok[code] = 1;
    }
    allowed.push(ok);
  }
  const mask = new Uint8Array(rows.size);
  let kept = 0;
  for (let p = 0; p < rows.size; p++) {
    let keep = 1;
    for (let j = 0; j < keys.length && keep; j++) keep = allowed[j][rows.columns[keys[j]].codes[p]];
    mask[p] = keep;
    kept += keep;
  }
  return { mask, kept };
}
