import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { prepareDataset } from '../../src/workbench/data/prepare.js';
import { loadRecipe } from '../../src/workbench/data/sources.js';
import { readManifest } from '../../src/workbench/data/manifest.js';
import { datasetStats } from '../../src/workbench/data/stats.js';
import { parseCsv } from '../../src/workbench/util/csv.js';
import { imageContents, openContentCache } from '../../src/workbench/data/content.js';
import { HASH_CACHE } from '../../src/workbench/data/prepare.js';
import type { Manifest } from '../../src/workbench/data/manifest.js';
import { realData, PROJECT_ROOT, DATASETS_DIR } from '../helpers/datasets.js';

/*
 * Expected counts of data-splits/radiology5.json, derived from ../shared/datasets/README.md and
 * verified independently (Python hashlib/numpy over the files and arrays, Node+sharp for pixels):
 *
 * mr-brain-tumor: 7,020 JPEGs on disk; Testing/meningioma/.ipynb_checkpoints/ (1 file) is hidden
 *   and ignored → 7,019 = README's 1,621 + 1,645 + 1,996 + 1,757. Byte-identical groups among all
 *   7,020: 300 groups, 427 extra copies; the hidden file is one of the extras (a copy of
 *   Testing/meningioma/Te-me_0011.jpg and Training/meningioma/Tr-me_0198.jpg), so the 7,019 hold
 *   300 groups / 426 extra copies → 6,593 kept. Decoded-pixel hashes find no further groups. No
 *   group spans two *class* folders in this copy: the README's "one group spans two class
 *   folders" is that meningioma group, whose third copy sits in the hidden .ipynb_checkpoints
 *   folder; so mr-brain-tumor has no label conflict. Of the 426 dropped copies 263 are Training
 *   copies of a Testing image (the Testing copy is kept), 133 Training and 30 Testing copies of
 *   an image in their own split. Per class kept: glioma 1,620, meningioma 1,531, notumor 1,702,
 *   pituitary 1,740; of which Testing 299 / 301 / 381 / 300 (= 1,281 test) and Training
 *   1,321 / 1,230 / 1,321 / 1,440, of which 10 % (largest remainder) is carved out as val:
 *   132 / 123 / 132 / 144.
 * us-breast-busi: 780 PNGs; benign/benign (433).png and malignant/malignant (145).png are
 *   byte-identical → label conflict, both dropped → benign 436, malignant 209, normal 133 (778);
 *   split 70/10/20 per class by largest remainder: 305/44/87, 146/21/42, 93/13/27.
 * ct-head-hemorrhage: 200 PNGs, labels.csv ids 0..199 → head_ct/000..199.png, 100 hemorrhage,
 *   100 normal. 188.png and 189.png differ in bytes but decode to identical RGBA pixels (both
 *   normal) → 189.png dropped → normal 99; split 70/10/20 / 69/10/20.
 * ct-chest-covid: 746 images (CT_COVID 349, CT_NonCOVID 397), no duplicates; split grouped by
 *   source publication (58 COVID groups, 271 NonCOVID groups), so per-class sizes are only near
 *   70/10/20.
 * xr-chest-pneumoniamnist: train 2,428 / val 270 / test 468, balanced (1,214 / 135 / 234 per
 *   label). Identical arrays: 7 groups, 8 extra copies, all same-label: train[211]=val[117],
 *   train[214]=train[714], train[217]=train[1140], train[235]=train[1079],
 *   train[494]=train[803]=val[39], train[689]=val[120] (pneumonia) and train[1712]=train[2314]
 *   (normal). Val copies win over train, else the lower index → 8 train images dropped (7
 *   pneumonia, 1 normal): train normal 1,213, pneumonia 1,207; val 135/135; test 234/234.
 * All: 11,911 candidates, 11,474 kept; 308 duplicate groups (300 + 1 + 7) with 435 copies
 * dropped (426 + 1 + 8); 1 label-conflict group with 2 images dropped.
 *
 * The counts above are those of exact duplicates alone (the near-duplicate check off). In that
 * manifest 270 of the 2,096 test images (259 MR, 10 BUSI, 1 head CT) have a train image whose
 * 16×16 thumbnail is within MAD 2/255 — checked below by brute force over all test × train pairs
 * (thumbnails checked against a numpy reference in thumbs.test.ts). With the default policy
 * (near-duplicates below MAD 2/255 grouped and resolved like exact duplicates, among the images
 * the exact stage kept; derived from the 1,797 pairs below 2/255 among those 11,474 images):
 *   469 near-duplicate groups, 925 copies dropped — mr-brain-tumor 866 (430 Training copies of a
 *   kept Testing image, 341 Training copies of a kept Training image, 95 Testing copies of a
 *   kept Testing image), us-breast-busi 58, ct-head-hemorrhage 1 —, and 2 label-conflict groups
 *   in BUSI (benign (131), benign (42) and malignant (51); benign (399) and malignant (93)), 5
 *   images dropped. Kept: 10,544 (mr 5,727, busi 715, head 198, covid 746, xr 3,158). The
 *   MR split is given (Testing → test, 10 % of Training carved out as val after dedupe); BUSI and
 *   head CT are re-split 70/10/20 per class over what is left; covid and xr are unchanged.
 *   Afterwards no pair of images in different splits is within MAD 2/255 (brute force below).
 *   Similar pairs across splits (MAD < 6/255, kept, reported): 5,649 — mr 5,596, busi 51,
 *   covid 2 (CT_NonCOVID/114.png vs 116.png and 1331.png vs 1332.png, adjacent slices).
 */
const EXACT_ONLY: Record<string, [number, number, number]> = {
  'MR/brain/glioma': [1189, 132, 299],
  'MR/brain/meningioma': [1107, 123, 301],
  'MR/brain/notumor': [1189, 132, 381],
  'MR/brain/pituitary': [1296, 144, 300],
  'US/breast/benign': [305, 44, 87],
  'US/breast/malignant': [146, 21, 42],
  'US/breast/normal': [93, 13, 27],
  'CT/head/hemorrhage': [70, 10, 20],
  'CT/head/normal': [69, 10, 20],
  'XR/chest/normal': [1213, 135, 234],
  'XR/chest/pneumonia': [1207, 135, 234],
};

/** Train / val / test per class with the default policy (near-duplicates removed too). */
const EXPECTED: Record<string, [number, number, number]> = {
  'MR/brain/glioma': [1147, 127, 299],
  'MR/brain/meningioma': [1104, 123, 292],
  'MR/brain/notumor': [541, 60, 295],
  'MR/brain/pituitary': [1295, 144, 300],
  'US/breast/benign': [275, 39, 79],
  'US/breast/malignant': [143, 21, 41],
  'US/breast/normal': [82, 12, 23],
  'CT/head/hemorrhage': [70, 10, 20],
  'CT/head/normal': [68, 10, 20],
  'CT/chest/CT_COVID': [242, 35, 72],
  'CT/chest/CT_NonCOVID': [277, 41, 79],
  'XR/chest/normal': [1213, 135, 234],
  'XR/chest/pneumonia': [1207, 135, 234],
};

/**
 * Pairs of rows in different splits whose thumbnails (read back through the prepare cache)
 * differ by Σ|a − b| < limit, by brute force over all pairs (only the totals prune, which is
 * exact: |Σa − Σb| ≤ Σ|a − b|). Returns [row a, row b] with split[a] < split[b].
 */
async function crossSplitPairs(m: Manifest, out: string, limit: number): Promise<[number, number][]> {
  const cache = await openContentCache(join(out, HASH_CACHE), { readOnly: true });
  const files = m.filepaths.map((_, i) => m.resolvePath(i));
  const c = await imageContents(files, { lookup: [cache] });
  assert.equal(c.problems.length, 0);
  const t = c.thumbs;
  const sums = Array.from({ length: m.size }, (_, i) => t.subarray(i * 256, i * 256 + 256).reduce((a, b) => a + b, 0));
  const found: [number, number][] = [];
  for (let i = 0; i < m.size; i++)
    for (let j = i + 1; j < m.size; j++) {
      if (m.split[i] === m.split[j] || Math.abs(sums[i] - sums[j]) >= limit) continue;
      let d = 0;
      for (let p = 0; p < 256 && d < limit; p++) d += Math.abs(t[i * 256 + p] - t[j * 256 + p]);
      if (d < limit) found.push(m.split[i] < m.split[j] ? [i, j] : [j, i]);
    }
  return found;
}

// The output folder is kept under .cache so the hash cache makes re-runs fast (about 45 s of
// decoding the first time on 2 busy cores, a few seconds after).
const OUT = join(PROJECT_ROOT, '.cache', 'test-radiology5');

test(
  'radiology5, exact duplicates only: the derived counts, and 270 test images with a near-identical train copy',
  { skip: realData(), timeout: 600_000 },
  async () => {
    const recipe = loadRecipe(join(PROJECT_ROOT, 'data-splits/radiology5.json'), {
      ...process.env,
      CBIR_DATASETS: DATASETS_DIR,
    });
    const r = await prepareDataset({
      sources: recipe.sources,
      out: OUT,
      seed: recipe.seed,
      ratios: recipe.ratios,
      valFraction: recipe.valFraction,
      name: recipe.name,
      nearDuplicateMad: 0,
      similarMad: 0,
    });
    const m = await readManifest(OUT);
    assert.equal(m.hash, r.manifest.hash);
    assert.equal(r.found, 11911);
    assert.equal(r.nearDuplicates.dropped, 0);
    assert.equal(m.size, 11474);
    assert.deepEqual(r.duplicates, { groups: 308, dropped: 435, conflictGroups: 1, conflictDropped: 2 });

    const s = datasetStats(m);
    const byClass = Object.fromEntries(s.classes.map((c) => [c.name, [c.train, c.val, c.test]]));
    for (const [name, counts] of Object.entries(EXACT_ONLY)) assert.deepEqual(byClass[name], counts, name);
    assert.equal(s.classes.length, 13);
    const covid = s.classes.filter((c) => c.region === 'chest' && c.modality === 'CT');
    assert.deepEqual(
      covid.map((c) => [c.label, c.total]),
      [
        ['CT_COVID', 349],
        ['CT_NonCOVID', 397],
      ],
    );
    for (const c of covid) {
      assert.ok(
        Math.abs(c.train / c.total - 0.7) < 0.05 &&
          Math.abs(c.val / c.total - 0.1) < 0.05 &&
          Math.abs(c.test / c.total - 0.2) < 0.05,
        `${c.name}: ${c.train}/${c.val}/${c.test}`,
      );
    }
    assert.deepEqual(
      s.classes
        .filter((c) => c.kind === 'anatomical')
        .map((c) => c.name)
        .sort(),
      ['CT/chest/CT_NonCOVID', 'CT/head/normal', 'MR/brain/notumor', 'US/breast/normal', 'XR/chest/normal'],
    );
    assert.deepEqual(
      s.datasets.map((d) => [d.name, d.total]),
      [
        ['mr-brain-tumor', 6593],
        ['us-breast-busi', 778],
        ['ct-head-hemorrhage', 199],
        ['ct-chest-covid', 746],
        ['xr-chest-pneumoniamnist', 3158],
      ],
    );

    // No preprint straddles splits in ct-chest-covid.
    const group = new RegExp(recipe.sources.find((x) => x.dataset === 'ct-chest-covid')!.group!);
    const seen = new Map<string, number>();
    for (let i = 0; i < m.size; i++) {
      if (m.datasets[m.datasetIndex[i]] !== 'ct-chest-covid') continue;
      const g = group.exec(m.filepaths[i].split('/').pop()!)![1];
      assert.equal(seen.get(g) ?? m.split[i], m.split[i], `group ${g} straddles splits`);
      seen.set(g, m.split[i]);
    }
    assert.equal(seen.size, 58 + 271);

    // Every case is in the report.
    const [h, ...rows] = [...parseCsv(readFileSync(join(OUT, 'report.csv'), 'utf8'))].map((x) =>
      Object.fromEntries(x.cells.map((c, i) => [i, c])),
    );
    void h;
    const kind = (k: string) => rows.filter((x) => x[0] === k);
    assert.deepEqual(
      kind('label-conflict')
        .map((x) => x[2])
        .sort(),
      ['benign/benign (433).png', 'malignant/malignant (145).png'],
    );
    assert.deepEqual(
      kind('ignored-hidden').map((x) => `${x[1]}/${x[2]}`),
      ['mr-brain-tumor/Testing/meningioma/.ipynb_checkpoints/'],
    );
    const mrDropped = kind('duplicate-dropped').filter((x) => x[1] === 'mr-brain-tumor');
    assert.equal(mrDropped.length, 426);
    assert.equal(mrDropped.filter((x) => x[2].startsWith('Training/') && /\(kept, in test\)/.test(x[5])).length, 263);
    assert.equal(mrDropped.filter((x) => x[2].startsWith('Training/') && /\(kept, in train\)/.test(x[5])).length, 133);
    assert.equal(mrDropped.filter((x) => x[2].startsWith('Testing/')).length, 30);
    assert.match(
      kind('duplicate-dropped').find((x) => x[2] === 'head_ct/189.png')![5],
      /identical decoded pixels to ct-head-hemorrhage\/head_ct\/188\.png/,
    );
    assert.deepEqual(
      kind('duplicate-dropped')
        .filter((x) => x[1] === 'xr-chest-pneumoniamnist')
        .map((x) => x[2])
        .sort(),
      [
        'train/00211.png',
        'train/00494.png',
        'train/00689.png',
        'train/00714.png',
        'train/00803.png',
        'train/01079.png',
        'train/01140.png',
        'train/02314.png',
      ],
    );
    assert.equal(kind('corrupt').length, 0);

    // The leak the near-duplicate check removes: test images with a train image within MAD 2/255.
    const leaks = (await crossSplitPairs(m, OUT, 2 * 256)).filter(([a, b]) => m.split[a] === 0 && m.split[b] === 2);
    const queries = new Map<number, string>(leaks.map(([, b]) => [b, m.datasets[m.datasetIndex[b]]]));
    const perDataset: Record<string, number> = {};
    for (const ds of queries.values()) perDataset[ds] = (perDataset[ds] ?? 0) + 1;
    assert.equal(queries.size, 270);
    assert.deepEqual(perDataset, { 'mr-brain-tumor': 259, 'us-breast-busi': 10, 'ct-head-hemorrhage': 1 });
    const pairNames = new Set(
      leaks.map(([a, b]) => `${m.filepaths[b].split('/').pop()} ${m.filepaths[a].split('/').pop()}`),
    );
    assert.ok(pairNames.has('Te-no_0267.jpg Tr-no_1346.jpg') && pairNames.has('Te-me_0018.jpg Tr-me_0596.jpg'));
  },
);

test(
  'radiology5, default policy: near-duplicates removed, no near-identical pair across splits, similar pairs reported',
  { skip: realData(), timeout: 600_000 },
  async () => {
    const recipe = loadRecipe(join(PROJECT_ROOT, 'data-splits/radiology5.json'), {
      ...process.env,
      CBIR_DATASETS: DATASETS_DIR,
    });
    const r = await prepareDataset({ ...recipe, out: OUT }); // the cache of the run above: decoding is skipped
    const m = await readManifest(OUT);
    assert.equal(m.size, 10544);
    assert.deepEqual(r.duplicates, { groups: 308, dropped: 435, conflictGroups: 1, conflictDropped: 2 });
    const { seconds: _s, pairs, ...near } = r.nearDuplicates;
    assert.equal(pairs, 1797);
    assert.deepEqual(near, { threshold: 2, groups: 469, dropped: 925, conflictGroups: 2, conflictDropped: 5 });
    const s = datasetStats(m);
    const byClass = Object.fromEntries(s.classes.map((c) => [c.name, [c.train, c.val, c.test]]));
    for (const [name, counts] of Object.entries(EXPECTED)) assert.deepEqual(byClass[name], counts, name);
    assert.deepEqual(
      s.datasets.map((d) => [d.name, d.total]),
      [
        ['mr-brain-tumor', 5727],
        ['us-breast-busi', 715],
        ['ct-head-hemorrhage', 198],
        ['ct-chest-covid', 746],
        ['xr-chest-pneumoniamnist', 3158],
      ],
    );
    // Done when: no image has a near-identical copy in another split (brute force, independent of the pruned search).
    assert.deepEqual(await crossSplitPairs(m, OUT, 2 * 256), []);

    const rows = [...parseCsv(readFileSync(join(OUT, 'report.csv'), 'utf8'))].slice(1).map((x) => x.cells);
    const kind = (k: string) => rows.filter((x) => x[0] === k);
    const dropped = kind('near-duplicate-dropped');
    const per = (ds: string) => dropped.filter((x) => x[1] === ds).length;
    assert.deepEqual([per('mr-brain-tumor'), per('us-breast-busi'), per('ct-head-hemorrhage')], [866, 58, 1]);
    const mr = dropped.filter((x) => x[1] === 'mr-brain-tumor');
    assert.equal(mr.filter((x) => x[2].startsWith('Training/') && /\(kept, in test\)/.test(x[5])).length, 430);
    assert.equal(mr.filter((x) => x[2].startsWith('Training/') && /\(kept, in train\)/.test(x[5])).length, 341);
    assert.equal(mr.filter((x) => x[2].startsWith('Testing/')).length, 95);
    assert.deepEqual(
      kind('near-label-conflict')
        .map((x) => x[2])
        .sort(),
      [
        'benign/benign (131).png',
        'benign/benign (399).png',
        'benign/benign (42).png',
        'malignant/malignant (51).png',
        'malignant/malignant (93).png',
      ],
    );
    // The examples are gone: the Testing copy kept, the Training copy dropped.
    for (const [te, tr] of [
      ['Te-no_0267.jpg', 'Tr-no_1346.jpg'],
      ['Te-me_0018.jpg', 'Tr-me_0596.jpg'],
    ]) {
      assert.ok(
        m.filepaths.some((f) => f.endsWith('/' + te)),
        te,
      );
      assert.ok(!m.filepaths.some((f) => f.endsWith('/' + tr)), tr);
    }
    // Similar pairs across splits are kept and reported, with counts per dataset.
    assert.equal(r.similar.pairs, 5649);
    assert.deepEqual(
      r.similar.byDataset.map((d) => [d.dataset, d.pairs]),
      [
        ['mr-brain-tumor', 5596],
        ['us-breast-busi', 51],
        ['ct-chest-covid', 2],
      ],
    );
    assert.ok(
      kind('similar-across-splits').some((x) => x[2] === 'CT_NonCOVID/114.png' && /CT_NonCOVID\/116\.png/.test(x[5])),
    );
    assert.match(r.warnings.join('\n'), /5649 pairs of similar but not near-identical images lie in different splits/);
    const md = readFileSync(join(OUT, 'report.md'), 'utf8');
    assert.match(md, /## Near-duplicates \(469 groups, 925 copies dropped; thumbnail MAD < 2\/255\)/);
    assert.match(md, /\| ct-chest-covid \| 2 \| 2 \|/);
  },
);
