/**
 * Relevance of an index image to a query, beyond the study's "same class" rule: graded gains
 * from the class structure (hierarchical `MODALITY/region/label`, ordinal grades) and label-set
 * overlap for multi-label data. The ranking metrics (ranking.ts) read relevance only through
 * this interface, so every metric works with every relevance.
 */
import { checkCodes, checkCounts, checkLength, metricsError, type Codes } from './check.js';

/** How relevant each index row is to each query. Gains lie in [0, 1]; 1 = fully relevant. */
export interface Relevance {
  readonly nQueries: number;
  readonly indexSize: number;
  /** Groups that macro averages run over (the query's class), 0..nGroups-1. */
  readonly nGroups: number;
  group(q: number): number;
  /** Binary relevance (the study's hit): same class, or intersecting label sets. */
  relevant(q: number, row: number): boolean;
  /** Graded gain g ∈ [0, 1] of `row` for query q (used by nDCG). */
  gain(q: number, row: number): number;
  /** R = number of index rows relevant to q. */
  relevantCount(q: number): number;
  /** Writes the k largest gains over the whole index for q into out[0..k), descending. */
  idealGains(q: number, k: number, out: Float64Array): void;
}

/**
 * Class-coded relevance: relevant = same class; gain(q, i) = gains[c(q) · C + c(i)], a C × C
 * matrix (default: the identity, i.e. binary relevance).
 */
export function classRelevance(
  queryLabels: Codes,
  indexLabels: Codes,
  indexClassCounts: Int32Array,
  gains?: Float32Array,
  source?: string,
): Relevance {
  const C = indexClassCounts.length;
  checkCounts('indexClassCounts', indexClassCounts, source);
  checkCodes('queryLabels', queryLabels, C, source);
  checkCodes('indexLabels', indexLabels, C, source);
  const G = gains ?? identityGains(C);
  checkGainMatrix(G, C, source);
  const ideal = idealByClass(G, indexClassCounts);
  return {
    nQueries: queryLabels.length,
    indexSize: indexLabels.length,
    nGroups: C,
    group: (q) => queryLabels[q],
    relevant: (q, row) => queryLabels[q] === indexLabels[row],
    gain: (q, row) => G[queryLabels[q] * C + indexLabels[row]],
    relevantCount: (q) => indexClassCounts[queryLabels[q]],
    idealGains(q, k, out) {
      const { gain, count } = ideal[queryLabels[q]];
      let j = 0;
      for (let t = 0; t < gain.length && j < k; t++) for (let n = 0; n < count[t] && j < k; n++) out[j++] = gain[t];
      out.fill(0, j, k);
    },
  };
}

function identityGains(C: number): Float32Array {
  const g = new Float32Array(C * C);
  for (let c = 0; c < C; c++) g[c * C + c] = 1;
  return g;
}

function checkGainMatrix(G: Float32Array, C: number, source?: string): void {
  checkLength('gains', G, C * C, `a ${C} × ${C} class gain matrix`, source);
  for (let i = 0; i < G.length; i++) {
    if (!(G[i] >= 0 && G[i] <= 1)) {
      metricsError(
        `gains[${Math.floor(i / C)}][${i % C}] = ${G[i]} is outside [0, 1]`,
        'metrics/bad-argument',
        'gains are relevance grades between 0 (irrelevant) and 1 (same class)',
        source,
      );
    }
  }
}

/** Per query class: the distinct gains over the index, descending, with how many rows have each. */
function idealByClass(G: Float32Array, counts: Int32Array): { gain: Float64Array; count: Int32Array }[] {
  const C = counts.length;
  const out: { gain: Float64Array; count: Int32Array }[] = [];
  for (let c = 0; c < C; c++) {
    const order = Array.from({ length: C }, (_, j) => j).filter((j) => counts[j] > 0 && G[c * C + j] > 0);
    order.sort((a, b) => G[c * C + b] - G[c * C + a]);
    out.push({
      gain: Float64Array.from(order, (j) => G[c * C + j]),
      count: Int32Array.from(order, (j) => counts[j]),
    });
  }
  return out;
}

/** Splits a study class name `MODALITY/region/label` (missing parts are ''). */
function classParts(name: string): { modality: string; region: string; label: string } {
  const [modality = '', region = '', ...rest] = name.split('/');
  return { modality, region, label: rest.join('/') };
}

/**
 * Hierarchical gains from the study's class names: 1 for the same class, `sameRegion` (default
 * 0.5) for the same modality and region, `sameModality` (default 0) for the same modality only.
 */
export function hierarchicalGains(
  classNames: readonly string[],
  opts: { sameRegion?: number; sameModality?: number } = {},
): Float32Array {
  const { sameRegion = 0.5, sameModality = 0 } = opts;
  const C = classNames.length;
  const parts = classNames.map(classParts);
  const g = new Float32Array(C * C);
  for (let a = 0; a < C; a++) {
    for (let b = 0; b < C; b++) {
      const pa = parts[a];
      const pb = parts[b];
      g[a * C + b] =
        a === b ? 1 : pa.modality !== pb.modality ? 0 : pa.region === pb.region ? sameRegion : sameModality;
    }
  }
  checkGainMatrix(g, C);
  return g;
}

/**
 * Ordinal gains: inside a region with a declared label order (e.g. KL grades 0–4),
 * gain = 1 − |Δgrade| / (grades − 1); classes outside any declared order get 1 for themselves
 * and `fallback` gains (default: hierarchical) otherwise. `orders` maps `MODALITY/region` (or a
 * region name) to its labels, lowest grade first.
 */
export function ordinalGains(
  classNames: readonly string[],
  orders: Readonly<Record<string, readonly string[]>>,
  fallback: Float32Array = hierarchicalGains(classNames),
): Float32Array {
  const C = classNames.length;
  const grade = classNames.map((name) => ordinalGrade(name, orders));
  const g = Float32Array.from(fallback);
  for (let a = 0; a < C; a++) {
    for (let b = 0; b < C; b++) {
      const ga = grade[a];
      const gb = grade[b];
      if (ga && gb && ga.scale === gb.scale) g[a * C + b] = 1 - Math.abs(ga.grade - gb.grade) / (ga.levels - 1);
    }
  }
  return g;
}

/** The grade of a class under the declared orders, or null when none declares it. */
export function ordinalGrade(
  name: string,
  orders: Readonly<Record<string, readonly string[]>>,
): { scale: string; grade: number; levels: number } | null {
  const { modality, region, label } = classParts(name);
  for (const scale of [`${modality}/${region}`, region]) {
    const order = orders[scale];
    if (!order) continue;
    if (order.length < 2) {
      metricsError(
        `the ordinal scale "${scale}" lists ${order.length} label(s)`,
        'metrics/bad-argument',
        'an ordinal scale needs at least two labels, lowest grade first',
      );
    }
    const grade = order.indexOf(label);
    if (grade >= 0) return { scale, grade, levels: order.length };
  }
  return null;
}

/**
 * Multi-label relevance: each row's labels as a bit mask (≤ 32 labels); relevant = the label
 * sets intersect, gain = Jaccard |A ∩ B| / |A ∪ B|. Macro groups are the query's label masks.
 * An empty label set (e.g. "No Finding" coded as no bits) is relevant only to empty sets.
 * R and the ideal gains are computed once per distinct query mask from the index's mask
 * histogram, so a large index with many queries costs O(index + masks²), not O(queries · index).
 */
export function labelSetRelevance(queryMasks: Uint32Array, indexMasks: Uint32Array): Relevance {
  const groups = new Map<number, number>();
  const groupOf = Int32Array.from(queryMasks, (m) => {
    if (!groups.has(m)) groups.set(m, groups.size);
    return groups.get(m)!;
  });
  const histogram = new Map<number, number>();
  for (const m of indexMasks) histogram.set(m, (histogram.get(m) ?? 0) + 1);
  const ideal: ({ gain: Float64Array; count: Int32Array; R: number } | undefined)[] = new Array(groups.size);
  const idealOf = (q: number) => (ideal[groupOf[q]] ??= idealGainsOfMask(queryMasks[q], histogram));
  return {
    nQueries: queryMasks.length,
    indexSize: indexMasks.length,
    nGroups: groups.size,
    group: (q) => groupOf[q],
    relevant: (q, row) => jaccard(queryMasks[q], indexMasks[row]) > 0,
    gain: (q, row) => jaccard(queryMasks[q], indexMasks[row]),
    relevantCount: (q) => idealOf(q).R,
    idealGains(q, k, out) {
      const { gain, count } = idealOf(q);
      let j = 0;
      for (let t = 0; t < gain.length && j < k; t++) for (let n = 0; n < count[t] && j < k; n++) out[j++] = gain[t];
      out.fill(0, j, k);
    },
  };
}

/** Jaccard |A ∩ B| / |A ∪ B| of two label masks (two empty sets: 1). */
function jaccard(a: number, b: number): number {
  return a === 0 && b === 0 ? 1 : popcount((a & b) >>> 0) / popcount((a | b) >>> 0);
}

/** The distinct positive gains of a query mask over the index's masks, descending, with counts and R. */
function idealGainsOfMask(m: number, histogram: Map<number, number>) {
  const byGain = new Map<number, number>();
  let R = 0;
  for (const [mask, n] of histogram) {
    const g = jaccard(m, mask);
    if (g <= 0) continue;
    byGain.set(g, (byGain.get(g) ?? 0) + n);
    R += n;
  }
  const gains = [...byGain.keys()].sort((a, b) => b - a);
  return { gain: Float64Array.from(gains), count: Int32Array.from(gains, (g) => byGain.get(g)!), R };
}

/**
 * Per-query choice of relevance: query q is scored with `b` when useB[q] is 1, else with `a`
 * (both over the same queries and index). Macro groups: a's groups, then b's (offset by a's count).
 */
export function perQueryRelevance(useB: Uint8Array, a: Relevance, b: Relevance): Relevance {
  if (useB.length !== a.nQueries || a.nQueries !== b.nQueries || a.indexSize !== b.indexSize) {
    metricsError(
      `the two relevances cover ${a.nQueries}/${b.nQueries} queries and ${a.indexSize}/${b.indexSize} index rows, the choice ${useB.length} queries`,
      'metrics/length-mismatch',
      'build both relevances over the same queries and index',
    );
  }
  const pick = (q: number) => (useB[q] ? b : a);
  return {
    nQueries: a.nQueries,
    indexSize: a.indexSize,
    nGroups: a.nGroups + b.nGroups,
    group: (q) => (useB[q] ? a.nGroups + b.group(q) : a.group(q)),
    relevant: (q, row) => pick(q).relevant(q, row),
    gain: (q, row) => pick(q).gain(q, row),
    relevantCount: (q) => pick(q).relevantCount(q),
    idealGains: (q, k, out) => pick(q).idealGains(q, k, out),
  };
}

function popcount(x: number): number {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return (((x + (x >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
}

/** Bit masks from label lists (each row's labels as indices into `labels`, ≤ 32 labels). */
export function labelMasks(rows: readonly (readonly string[])[], labels: readonly string[]): Uint32Array {
  if (labels.length > 32) {
    metricsError(
      `${labels.length} labels, more than the 32 a label mask holds`,
      'metrics/bad-argument',
      'group rare labels, or evaluate at most 32 labels at a time',
    );
  }
  const bit = new Map(labels.map((l, i) => [l, i]));
  return Uint32Array.from(rows, (r, i) => {
    let m = 0;
    for (const l of r) {
      const b = bit.get(l);
      if (b === undefined) {
        metricsError(
          `row ${i} has label "${l}", not among the ${labels.length} declared labels`,
          'metrics/bad-argument',
          'declare every label',
        );
      }
      m |= 1 << b!;
    }
    return m >>> 0;
  });
}
