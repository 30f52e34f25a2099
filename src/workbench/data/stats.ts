import { type Manifest, type Split, type ClassKind } from './manifest.js';

/** Image counts of one group (a class, modality, region, dataset or kind) per split. */
export interface CountRow {
  name: string;
  train: number;
  val: number;
  test: number;
  total: number;
}

export interface ClassCountRow extends CountRow {
  modality: string;
  region: string;
  label: string;
  kind: ClassKind;
  /** Datasets contributing images of this class. */
  datasets: string[];
}

/** One bin of the class-imbalance histogram: classes with lo ≤ samples < hi. */
export interface ImbalanceBin {
  lo: number;
  hi: number;
  classes: number;
  names: string[];
}

export interface DatasetStats {
  images: number;
  splits: CountRow;
  classes: ClassCountRow[];
  modalities: CountRow[];
  regions: CountRow[];
  datasets: CountRow[];
  kinds: CountRow[];
  /** Class imbalance (study Fig. 6): number of classes per samples-per-class bin (log-spaced, 1-2-5 edges). */
  imbalance: {
    /** Which images were counted: 'all' or one split. */
    over: 'all' | Split;
    bins: ImbalanceBin[];
    min: number;
    max: number;
    median: number;
    /** max / min (Infinity when a class has no samples). */
    ratio: number;
  };
}

function emptyRow(name: string): CountRow {
  return { name, train: 0, val: 0, test: 0, total: 0 };
}

const SPLIT_KEYS = ['train', 'val', 'test'] as const;

/** Log-spaced bin edges 1, 2, 5, 10, 20, 50, … up to the first edge above `max`. */
export function logBinEdges(max: number): number[] {
  const edges = [1];
  for (let k = 0; edges[edges.length - 1] <= max; k++) {
    const decade = 10 ** Math.floor(k / 3);
    edges.push([2, 5, 10][k % 3] * decade);
  }
  return edges;
}

/**
 * Counts of a manifest per class, modality, region, dataset and class kind, each split into
 * train/val/test, and the class-imbalance histogram (number of classes against samples per
 * class in log-spaced bins [1,2), [2,5), [5,10), …; a [0,1) bin holds classes without samples).
 * Pure: reads the manifest's columns only; the result is plain data for tables and figures.
 */
export function datasetStats(m: Manifest, options: { imbalanceOver?: 'all' | Split } = {}): DatasetStats {
  const over = options.imbalanceOver ?? 'all';
  const cls = m.classes.map((c): ClassCountRow => ({
    ...emptyRow(c.name),
    modality: c.modality,
    region: c.region,
    label: c.label,
    kind: c.kind,
    datasets: [],
  }));
  const mods = m.modalities.map(emptyRow);
  const regs = m.regions.map(emptyRow);
  const dss = m.datasets.map(emptyRow);
  const kinds = [emptyRow('anatomical'), emptyRow('pathological')];
  const splits = emptyRow('all');
  const clsDatasets = m.classes.map(() => new Set<number>());
  for (let i = 0; i < m.size; i++) {
    const key = SPLIT_KEYS[m.split[i]];
    const c = m.classIndex[i];
    for (const row of [
      cls[c],
      mods[m.modalityIndex[i]],
      regs[m.regionIndex[i]],
      dss[m.datasetIndex[i]],
      kinds[m.classes[c].kind === 'anatomical' ? 0 : 1],
      splits,
    ]) {
      row[key]++;
      row.total++;
    }
    clsDatasets[c].add(m.datasetIndex[i]);
  }
  cls.forEach((r, c) => {
    r.datasets = [...clsDatasets[c]].sort((a, b) => a - b).map((d) => m.datasets[d]);
  });

  const samples = cls.map((r) => (over === 'all' ? r.total : r[over]));
  const sorted = [...samples].sort((a, b) => a - b);
  const max = sorted.length ? sorted[sorted.length - 1] : 0;
  const min = sorted.length ? sorted[0] : 0;
  const median =
    sorted.length === 0
      ? 0
      : sorted.length % 2
        ? sorted[(sorted.length - 1) / 2]
        : (sorted[sorted.length / 2 - 1] + sorted[sorted.length / 2]) / 2;
  const edges = logBinEdges(Math.max(1, max));
  const bins: ImbalanceBin[] = [];
  if (min === 0) bins.push({ lo: 0, hi: 1, classes: 0, names: [] });
  for (let b = 0; b + 1 < edges.length; b++) bins.push({ lo: edges[b], hi: edges[b + 1], classes: 0, names: [] });
  samples.forEach((n, c) => {
    const bin = bins.find((b) => n >= b.lo && n < b.hi)!;
    bin.classes++;
    bin.names.push(cls[c].name);
  });
  // Trim empty bins below the smallest class (keep the range min..max contiguous).
  while (bins.length > 1 && bins[0].classes === 0) bins.shift();
  return {
    images: m.size,
    splits,
    classes: cls,
    modalities: mods,
    regions: regs,
    datasets: dss,
    kinds,
    imbalance: { over, bins, min, max, median, ratio: min > 0 ? max / min : Infinity },
  };
}

function table(title: string, rows: readonly CountRow[], extra?: (r: CountRow) => string): string[] {
  const w = Math.max(title.length, ...rows.map((r) => r.name.length));
  const num = (v: number) => String(v).padStart(7);
  const L = [
    `${title.padEnd(w)} ${'train'.padStart(7)} ${'val'.padStart(7)} ${'test'.padStart(7)} ${'total'.padStart(7)}${extra ? '  ' + extra({ name: '', train: -1, val: -1, test: -1, total: -1 }) : ''}`,
  ];
  L.push('-'.repeat(L[0].length));
  for (const r of rows)
    L.push(
      `${r.name.padEnd(w)} ${num(r.train)} ${num(r.val)} ${num(r.test)} ${num(r.total)}${extra ? '  ' + extra(r) : ''}`,
    );
  return L;
}

/** Text rendering of datasetStats: tables per split, modality, region, dataset, class kind and class, then the imbalance histogram with text bars. */
export function formatStats(s: DatasetStats, options: { barWidth?: number } = {}): string {
  const barWidth = options.barWidth ?? 40;
  const pct = (n: number) => (s.images ? `${((100 * n) / s.images).toFixed(1)} %` : '-');
  const L: string[] = [];
  L.push(
    `${s.images} images, ${s.classes.length} classes (${s.classes.filter((c) => c.kind === 'anatomical').length} anatomical, ${s.classes.filter((c) => c.kind === 'pathological').length} pathological)`,
  );
  L.push(
    `splits: train ${s.splits.train} (${pct(s.splits.train)}), val ${s.splits.val} (${pct(s.splits.val)}), test ${s.splits.test} (${pct(s.splits.test)})`,
    '',
  );
  L.push(...table('modality', s.modalities), '');
  L.push(...table('region', s.regions), '');
  L.push(...table('dataset', s.datasets), '');
  L.push(...table('kind', s.kinds), '');
  L.push(...table('class', s.classes, (r) => (r.total < 0 ? 'kind' : (r as ClassCountRow).kind)), '');
  const im = s.imbalance;
  L.push(
    `class imbalance (${im.over === 'all' ? 'all splits' : im.over}): samples per class min ${im.min}, median ${im.median}, max ${im.max}, max/min ${Number.isFinite(im.ratio) ? im.ratio.toFixed(1) : '∞'}`,
  );
  const most = Math.max(1, ...im.bins.map((b) => b.classes));
  const labels = im.bins.map((b) => `[${b.lo}, ${b.hi})`);
  const lw = Math.max(...labels.map((l) => l.length), 'samples/class'.length);
  L.push(`${'samples/class'.padEnd(lw)}  classes`);
  im.bins.forEach((b, k) => {
    const n = Math.round((b.classes / most) * barWidth);
    L.push(`${labels[k].padEnd(lw)}  ${'█'.repeat(n)}${b.classes > 0 && n === 0 ? '▏' : ''} ${b.classes}`);
  });
  return L.join('\n');
}
