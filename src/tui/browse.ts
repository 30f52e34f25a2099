/**
 * What the query browser shows, whatever it comes from: a list of queries, each with its
 * matches best first. Two sources: the test queries of a report (`testBrowse`, neighbours from
 * its k-NN table) and images searched in an index (`searchBrowse`, see search.ts). The browser
 * (QueryView) and its keys read only this.
 */
import type { Manifest } from '../workbench/index.js';
import { findQuery, nextMiss, queryMatches, type QuerySet } from './queries.js';

/** One match of a query, ready to show. */
export interface BrowseMatch {
  rank: number;
  /** The image path as the index or manifest records it. */
  path: string;
  /** Its absolute file (for the image panel), or null when unknown. */
  file: string | null;
  className: string;
  sim: number | null;
  /** Same class as the query; null when the query's class is unknown. */
  correct: boolean | null;
}

/** One query with its first matches. */
export interface BrowseQuery {
  path: string;
  file: string | null;
  /** The query's class, or null when unknown (an image that is not in the dataset). */
  className: string | null;
  matches: BrowseMatch[];
  /** Matches of the query's class, or null when its class is unknown. */
  hits: number | null;
  /** Why this query has no matches (an unreadable image of a searched folder). */
  error: string | null;
}

/** The browser's data. */
export interface Browse {
  kind: 'test' | 'search';
  /** For searches: the model and the index, as the title line shows them. */
  about: string;
  count: number;
  /** Matches kept per query (the most `+` shows). */
  k: number;
  /** Whether similarities are known. */
  sims: boolean;
  /** Query q with its first n matches. */
  query(q: number, n: number): BrowseQuery;
  /** The next query after `from` (wrapping) whose top-1 match has another class, or -1. */
  nextMiss(from: number, step: 1 | -1): number;
  /** The next query after `from` (wrapping) whose number, path or class matches `text`, or -1. */
  find(from: number, text: string): number;
}

/** The test queries of a report for one model. */
export function testBrowse(qs: QuerySet, m: Manifest): Browse {
  return {
    kind: 'test',
    about: qs.model,
    count: qs.queryRows.length,
    k: qs.k,
    sims: !!qs.sims,
    query(q, n) {
      const info = queryMatches(qs, m, q, n);
      return {
        path: info.path,
        file: m.resolvePath(info.row),
        className: info.className,
        matches: info.matches.map((x) => ({ ...x, file: m.resolvePath(x.row) })),
        hits: info.hits,
        error: null,
      };
    },
    nextMiss: (from, step) => nextMiss(qs, m, from, step),
    find: (from, text) => findQuery(qs, m, from, text),
  };
}

/** A finished search as the browser's queries (`query` in search.ts builds them). */
export interface SearchedQueries {
  about: string;
  k: number;
  queries: BrowseQuery[];
}

/** Searched images with their matches (all k kept; `n` cuts them). */
export function searchBrowse(s: SearchedQueries): Browse {
  const qs = s.queries;
  const nq = qs.length;
  return {
    kind: 'search',
    about: s.about,
    count: nq,
    k: s.k,
    sims: true,
    query(q, n) {
      const x = qs[q];
      const matches = x.matches.slice(0, n);
      const hits = x.className === null ? null : matches.filter((h) => h.correct).length;
      return { ...x, matches, hits };
    },
    nextMiss(from, step) {
      for (let i = 1; i <= nq; i++) {
        const q = (((from + i * step) % nq) + nq) % nq;
        if (qs[q].matches[0]?.correct === false) return q;
      }
      return -1;
    },
    find(from, text) {
      const t = text.trim().toLowerCase();
      if (/^\d+$/.test(t)) return Number(t) >= 1 && Number(t) <= nq ? Number(t) - 1 : -1;
      for (let i = 1; i <= nq; i++) {
        const q = (from + i) % nq;
        if (qs[q].path.toLowerCase().includes(t) || (qs[q].className ?? '').toLowerCase().includes(t)) return q;
      }
      return -1;
    },
  };
}
