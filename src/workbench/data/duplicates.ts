import type { Split } from './manifest.js';

/** One decoded image as the duplicate finder sees it. */
export interface DuplicateItem {
  /** Stable name, e.g. `dataset/relative/path`; breaks ties (lexicographically first wins). */
  ref: string;
  /** sha256 of the file bytes. */
  byteHash: string;
  /** sha256 of the decoded pixels (dimensions + RGB). */
  pixelHash: string;
  /** Class name, MODALITY/region/label. */
  className: string;
  /** Split given by the source, if any. */
  split?: Split;
}

export interface DuplicateGroup {
  /** Item indices, kept copy first, then the rest by ref. */
  members: number[];
  /** Index of the copy kept, or -1 when the group is a label conflict (all dropped). */
  kept: number;
  /** Copies carry different classes. */
  conflict: boolean;
  /** Distinct classes of the copies, sorted. */
  classes: string[];
  /**
   * 'bytes' when every copy has identical bytes; 'pixels' when some copies only share decoded
   * pixels; 'near' for near-duplicates (thumbnails within the threshold, `findNearDuplicates`).
   */
  identical: 'bytes' | 'pixels' | 'near';
}

export interface DuplicateResult {
  groups: DuplicateGroup[];
  /** Per item: 0 kept (or not a duplicate), 1 dropped as a duplicate, 2 dropped as a label conflict. */
  drop: Uint8Array;
}

const RANK: Record<string, number> = { test: 0, val: 1, train: 2 };

/**
 * Exact duplicates by content: images sharing the sha256 of their bytes OR of their decoded
 * pixels (transitively) form one group. Policy:
 * (a) a group whose copies carry different classes is a label conflict: every copy is dropped
 *     (we cannot know which label is true);
 * (b) copies with the same class: one is kept — the copy in the query split wins (test, then
 *     val, then train, then copies without a given split), ties broken by the lexicographically
 *     first ref — so a query's twin never stays in the index; the rest are dropped.
 * Groups are returned ordered by their first ref.
 */
export function findDuplicates(items: readonly DuplicateItem[]): DuplicateResult {
  const uf = new UnionFind(items.length);
  for (const key of ['byteHash', 'pixelHash'] as const) {
    const first = new Map<string, number>();
    for (let i = 0; i < items.length; i++) {
      const h = items[i][key];
      const f = first.get(h);
      if (f === undefined) first.set(h, i);
      else uf.union(f, i);
    }
  }
  return resolveGroups(items, uf, (members) =>
    new Set(members.map((i) => items[i].byteHash)).size === 1 ? 'bytes' : 'pixels',
  );
}

/** One image as the near-duplicate finder sees it (its thumbnail pairs come separately). */
export type NearItem = Pick<DuplicateItem, 'ref' | 'className' | 'split'>;

/**
 * Near-duplicates: the pairs given (thumbnails within the threshold, from `findNearPairs`) are
 * joined transitively (union-find) into groups, and each group is resolved by the policy of
 * `findDuplicates` — a group whose copies carry different classes is a label conflict (all
 * dropped), otherwise the copy in the query split is kept and the others dropped.
 */
export function findNearDuplicates(
  items: readonly NearItem[],
  pairs: { a: Int32Array; b: Int32Array; count: number },
): DuplicateResult {
  const uf = new UnionFind(items.length);
  for (let k = 0; k < pairs.count; k++) uf.union(pairs.a[k], pairs.b[k]);
  return resolveGroups(items, uf, () => 'near');
}

/** Disjoint sets over 0..n-1 (path halving; the smaller index is the root). */
class UnionFind {
  readonly parent: Int32Array;
  constructor(n: number) {
    this.parent = new Int32Array(n).map((_, i) => i);
  }
  find(i: number): number {
    const p = this.parent;
    while (p[i] !== i) {
      p[i] = p[p[i]];
      i = p[i];
    }
    return i;
  }
  union(a: number, b: number): void {
    const ra = this.find(a);
    const rb = this.find(b);
    if (ra !== rb) this.parent[Math.max(ra, rb)] = Math.min(ra, rb);
  }
}

/** The groups of a union-find with the keep/drop policy applied (see `findDuplicates`), ordered by their first ref. */
function resolveGroups(
  items: readonly NearItem[],
  uf: UnionFind,
  how: (members: number[]) => DuplicateGroup['identical'],
): DuplicateResult {
  const n = items.length;
  const byRoot = new Map<number, number[]>();
  for (let i = 0; i < n; i++) {
    const r = uf.find(i);
    const g = byRoot.get(r);
    if (g) g.push(i);
    else byRoot.set(r, [i]);
  }
  const drop = new Uint8Array(n);
  const groups: DuplicateGroup[] = [];
  for (const members of byRoot.values()) {
    if (members.length < 2) continue;
    members.sort((a, b) => {
      const ra = RANK[items[a].split ?? ''] ?? 3;
      const rb = RANK[items[b].split ?? ''] ?? 3;
      if (ra !== rb) return ra - rb;
      return items[a].ref < items[b].ref ? -1 : items[a].ref > items[b].ref ? 1 : 0;
    });
    const classes = [...new Set(members.map((i) => items[i].className))].sort();
    const conflict = classes.length > 1;
    for (let k = 0; k < members.length; k++) if (conflict || k > 0) drop[members[k]] = conflict ? 2 : 1;
    groups.push({ members, kept: conflict ? -1 : members[0], conflict, classes, identical: how(members) });
  }
  const firstRef = (g: DuplicateGroup) =>
    g.members.reduce((m, i) => (items[i].ref < m ? items[i].ref : m), items[g.members[0]].ref);
  groups.sort((a, b) => (firstRef(a) < firstRef(b) ? -1 : 1));
  return { groups, drop };
}
