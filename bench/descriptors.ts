/**
 * Retrieval quality of the built-in descriptors on real images: for each real dataset with
 * class folders, a seeded sample of images per class (byte-identical duplicates dropped),
 * brute-force cosine retrieval leave-one-out, precision@1 and @5 (micro, over all queries).
 * `node --import tsx bench/descriptors.ts [perClass]` prints a Markdown table.
 */
import { readdirSync, statSync, readFileSync, existsSync } from 'node:fs';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeImage } from '../src/workbench/images/decode.js';
import { createDescriptor, listDescriptors } from '../src/workbench/models/descriptors/index.js';
import { Rng } from '../src/workbench/util/rng.js';
import { sha256 } from '../src/workbench/util/fsx.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const DATASETS = resolve(ROOT, process.env.CBIR_DATASETS ?? '../shared/datasets');

/** Image files per class label under the given class folders (recursively, skipping dot-folders). */
function listImages(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    if (name.startsWith('.')) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...listImages(p));
    else if (/\.(png|jpe?g)$/i.test(name)) out.push(p);
  }
  return out;
}

const SETS: { name: string; classes: Record<string, string[]> }[] = [
  {
    name: 'MR brain (4 classes)',
    classes: Object.fromEntries(
      ['glioma', 'meningioma', 'notumor', 'pituitary'].map((c) => [
        c,
        ['mr-brain-tumor/Training/' + c, 'mr-brain-tumor/Testing/' + c],
      ]),
    ),
  },
  {
    name: 'US breast (3 classes)',
    classes: Object.fromEntries(['benign', 'malignant', 'normal'].map((c) => [c, ['us-breast-busi/' + c]])),
  },
  {
    name: 'CT chest COVID (2 classes)',
    classes: { covid: ['ct-chest-covid/CT_COVID'], noncovid: ['ct-chest-covid/CT_NonCOVID'] },
  },
];

/** Leave-one-out precision@k by brute-force cosine on L2-normalised rows. */
function looPrecision(x: Float32Array, n: number, dim: number, labels: Int32Array, k: number): number {
  let hits = 0;
  const sims = new Float64Array(n);
  for (let q = 0; q < n; q++) {
    for (let j = 0; j < n; j++) {
      if (j === q) {
        sims[j] = -Infinity;
        continue;
      }
      let s = 0;
      for (let d = 0; d < dim; d++) s += x[q * dim + d] * x[j * dim + d];
      sims[j] = s;
    }
    const order = Array.from({ length: n }, (_, j) => j).sort((a, b) => sims[b] - sims[a] || a - b);
    for (let r = 0; r < k; r++) if (labels[order[r]] === labels[q]) hits++;
  }
  return hits / (n * k);
}

/** Run the check and return a Markdown table. */
export async function run(perClass = 75, seed = 1): Promise<string> {
  if (!existsSync(DATASETS)) return `real datasets not found at ${DATASETS}`;
  const ids = listDescriptors().map((d) => d.id);
  const rows: string[] = [
    `| data | images | ${ids.map((i) => `${i} P@1 / P@5`).join(' | ')} |`,
    `|---|---|${ids.map(() => '---').join('|')}|`,
  ];
  for (const set of SETS) {
    const rng = new Rng(seed);
    const files: string[] = [];
    const labels: number[] = [];
    const seen = new Set<string>();
    Object.values(set.classes).forEach((folders, c) => {
      const all = folders.flatMap((f) => (existsSync(join(DATASETS, f)) ? listImages(join(DATASETS, f)) : []));
      rng.shuffle(all);
      let taken = 0;
      for (const f of all) {
        if (taken >= perClass) break;
        const h = sha256(readFileSync(f));
        if (seen.has(h)) continue;
        seen.add(h);
        files.push(f);
        labels.push(c);
        taken++;
      }
    });
    if (files.length === 0) continue;
    const images = [];
    for (const f of files) images.push(await decodeImage(f));
    const cells: string[] = [];
    for (const id of ids) {
      const ex = createDescriptor(id);
      const x = await ex.embed(images);
      const lab = Int32Array.from(labels);
      cells.push(
        `${looPrecision(x, files.length, ex.dim, lab, 1).toFixed(3)} / ${looPrecision(x, files.length, ex.dim, lab, 5).toFixed(3)}`,
      );
    }
    rows.push(`| ${set.name} | ${files.length} | ${cells.join(' | ')} |`);
  }
  return rows.join('\n');
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  console.log(await run(Number(process.argv[2] ?? 75)));
}
