import { createHash } from 'node:crypto';
import { Rng } from '../util/rng.js';
import { SPLIT_CODE, SPLITS, type Split } from './manifest.js';

/** One image as the splitter sees it. */
export interface SplitItem {
  /** Stratification key: images of one stratum are split in the given ratios (prepare uses dataset + class). */
  stratum: string;
  /** Patient/group key: all images of a group land in one split. Use a unique key for ungrouped images. */
  group: string;
  /** Split given by the source (kept as is), if any. */
  given?: Split;
  /** With given 'train': carve val out of it (the source gave train + test only). */
  carve?: boolean;
}

export interface SplitOptions {
  /** Train/val/test ratios for images without a given split (normalised; default 0.7/0.1/0.2). */
  ratios?: readonly [number, number, number];
  /** Fraction of a given train split carved out as val (default 0.1). */
  valFraction?: number;
  seed?: number;
}

/** How an image got its split. */
export const SPLIT_METHOD = { given: 0, assigned: 1, carved: 2, inherited: 3 } as const;
export type SplitMethod = keyof typeof SPLIT_METHOD;
export const SPLIT_METHODS: readonly SplitMethod[] = ['given', 'assigned', 'carved', 'inherited'];

export interface SplitAssignment {
  /** Split code per item (0 train, 1 val, 2 test). */
  split: Uint8Array;
  /** SPLIT_METHOD code per item. */
  method: Uint8Array;
}

/**
 * Integer split sizes for n images: n·ratio rounded by largest remainder (Hamilton), ties going
 * to test, then val, then train (so a small class still gets a query). Sums to n.
 */
export function splitQuotas(n: number, ratios: readonly [number, number, number]): [number, number, number] {
  const s = ratios[0] + ratios[1] + ratios[2];
  const exact = ratios.map((r) => (n * r) / s);
  const q = exact.map((x) => Math.floor(x + 1e-9)) as [number, number, number];
  let left = n - q[0] - q[1] - q[2];
  const order = [2, 1, 0].sort((a, b) => {
    const ra = Math.round((exact[a] - q[a]) * 1e9);
    const rb = Math.round((exact[b] - q[b]) * 1e9);
    return rb - ra; // stable sort keeps test, val, train order on ties
  });
  for (let k = 0; left > 0; k = (k + 1) % 3) {
    if (ratios[order[k]] > 0) {
      q[order[k]]++;
      left--;
    }
  }
  return q;
}

/** A 32-bit seed derived from the run seed and a key, so each stratum's shuffle is independent of the others. */
function subSeed(seed: number, key: string): number {
  return createHash('sha256').update(`${seed}\u0000${key}`).digest().readUInt32LE(0);
}

const PRIORITY: Split[] = ['test', 'val', 'train'];

/**
 * Seeded, stratified, grouped split assignment. Images with a split given by their source keep
 * it; images with given 'train' and `carve` get val carved out (ratios [1−valFraction,
 * valFraction, 0]); the rest are split in `ratios`. Within each pool every stratum is split
 * separately: its groups (sorted by key, then shuffled with a seed derived from `seed` and the
 * stratum) are placed one by one into the split with the most room left under its quota
 * (splitQuotas), so singleton groups hit the quotas exactly. A group never straddles splits; a
 * group spanning strata is placed by its most common stratum. Images without a given split whose
 * group has members with a given split inherit it (test before val before train).
 * Same items and seed → same result.
 */
export function assignSplits(items: readonly SplitItem[], options: SplitOptions = {}): SplitAssignment {
  const ratios = options.ratios ?? [0.7, 0.1, 0.2];
  const valFraction = options.valFraction ?? 0.1;
  const seed = options.seed ?? 0;
  const n = items.length;
  const split = new Uint8Array(n);
  const method = new Uint8Array(n);
  const pending: number[] = [];
  const carve: number[] = [];

  // Given splits, and what each group was given.
  const groupGiven = new Map<string, { split: Split; carve: boolean }>();
  for (let i = 0; i < n; i++) {
    const g = items[i].given;
    if (!g) continue;
    const prev = groupGiven.get(items[i].group);
    if (!prev || PRIORITY.indexOf(g) < PRIORITY.indexOf(prev.split))
      groupGiven.set(items[i].group, { split: g, carve: g === 'train' && !!items[i].carve });
    else if (prev.split === g && g === 'train' && items[i].carve) prev.carve = true;
  }
  for (let i = 0; i < n; i++) {
    const it = items[i];
    if (it.given) {
      split[i] = SPLIT_CODE[it.given];
      method[i] = SPLIT_METHOD.given;
      if (it.given === 'train' && it.carve) carve.push(i);
      continue;
    }
    const inherited = groupGiven.get(it.group);
    if (inherited) {
      split[i] = SPLIT_CODE[inherited.split];
      method[i] = SPLIT_METHOD.inherited;
      if (inherited.carve) carve.push(i);
      continue;
    }
    pending.push(i);
  }
  splitPool(items, pending, ratios, seed, 'assign', split, method, SPLIT_METHOD.assigned);
  if (valFraction > 0)
    splitPool(items, carve, [1 - valFraction, valFraction, 0], seed, 'carve', split, method, SPLIT_METHOD.carved);
  return { split, method };
}

function splitPool(
  items: readonly SplitItem[],
  pool: number[],
  ratios: readonly [number, number, number],
  seed: number,
  poolName: string,
  split: Uint8Array,
  method: Uint8Array,
  code: number,
): void {
  if (pool.length === 0) return;
  // Groups of the pool and their main stratum.
  const groups = new Map<string, number[]>();
  for (const i of pool) {
    const g = groups.get(items[i].group);
    if (g) g.push(i);
    else groups.set(items[i].group, [i]);
  }
  const byStratum = new Map<string, { key: string; members: number[] }[]>();
  for (const [key, members] of groups) {
    const counts = new Map<string, number>();
    for (const i of members) counts.set(items[i].stratum, (counts.get(items[i].stratum) ?? 0) + 1);
    let best = '';
    let bestN = -1;
    for (const [s, c] of counts)
      if (c > bestN || (c === bestN && s < best)) {
        best = s;
        bestN = c;
      }
    const list = byStratum.get(best);
    if (list) list.push({ key, members });
    else byStratum.set(best, [{ key, members }]);
  }
  for (const stratum of [...byStratum.keys()].sort()) {
    const list = byStratum.get(stratum)!.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    new Rng(subSeed(seed, `${poolName}\u0000${stratum}`)).shuffle(list);
    const total = list.reduce((a, g) => a + g.members.length, 0);
    const quota = splitQuotas(total, ratios);
    const count = [0, 0, 0];
    for (const g of list) {
      // The split with the most room left; ties: test, val, train.
      let s = -1;
      let room = -Infinity;
      for (const c of [2, 1, 0]) {
        if (ratios[c] <= 0) continue;
        const r = quota[c] - count[c];
        if (r > room) {
          room = r;
          s = c;
        }
      }
      count[s] += g.members.length;
      for (const i of g.members) {
        split[i] = s;
        method[i] = code;
      }
    }
  }
}

/** Name of a split code. */
export function splitName(code: number): Split {
  return SPLITS[code];
}
