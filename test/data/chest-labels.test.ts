/**
 * `cbir data chest-labels`: NIH ChestX-ray14 and CheXpert label CSVs (in their distributed
 * layouts, on generated images) → a multi-label manifest keeping every labelled row, then
 * `cbir embed` and `cbir report` on the NIH-layout set, as the README tells users.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readManifest } from '../../src/workbench/index.js';
import { encodePng } from '../../src/workbench/images/decode.js';
import { renderMultiLabel } from '../../src/workbench/data/multilabel.js';
import { CHEXPERT_LABELS } from '../../src/workbench/data/chestLabels.js';
import { Rng } from '../../src/workbench/util/rng.js';
import { cbir } from '../helpers/cli.js';
import { tempDir } from '../helpers/datasets.js';

// NIH finding names for the phantom's findings
const NIH = { effusion: 'Effusion', nodule: 'Nodule', pneumonia: 'Pneumonia' } as const;
const SETS: (keyof typeof NIH)[][] = [
  [],
  ['effusion'],
  ['nodule'],
  ['pneumonia'],
  ['effusion', 'nodule'],
  ['effusion', 'nodule', 'pneumonia'],
];

/** An NIH-layout folder: images_00k/images/<patient>_<n>.png and Data_Entry_2017.csv; one row has no image. */
async function nihFixture(root: string, n: number): Promise<string[][]> {
  const rng = new Rng(11);
  const lines = ['Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Gender,View Position'];
  const sets: string[][] = [];
  for (let i = 0; i < n; i++) {
    const set = SETS[i % SETS.length];
    const patient = 1 + Math.floor(i / 3);
    const name = `${String(patient).padStart(8, '0')}_${String(i % 3).padStart(3, '0')}.png`;
    const folder = join(root, `images_00${1 + (i % 2)}`, 'images');
    mkdirSync(folder, { recursive: true });
    const img = renderMultiLabel(set.length ? set : ['normal'], new Rng(rng.int(1e9)), 32);
    writeFileSync(join(folder, name), await encodePng(img));
    const labels = set.length ? set.map((s) => NIH[s]).join('|') : 'No Finding';
    lines.push(`${name},${labels},${i % 3},${patient},50,M,PA`);
    sets.push(set.length ? set.map((s) => NIH[s]) : ['No Finding']);
  }
  lines.push('99999999_000.png,Effusion|Mass,0,99999999,50,F,PA');
  writeFileSync(join(root, 'Data_Entry_2017.csv'), lines.join('\n') + '\n');
  return sets;
}

test('nih14: pipe-separated Finding Labels → every row kept with its label set, patients never split; embed + report score it', async () => {
  const { dir, cleanup } = tempDir('cbir-nih-');
  try {
    const nih = join(dir, 'nih');
    const sets = await nihFixture(nih, 96);
    const data = join(dir, 'manifest');
    const r = await cbir(
      'data',
      'chest-labels',
      '--format',
      'nih14',
      '--csv',
      join(nih, 'Data_Entry_2017.csv'),
      '--images',
      nih,
      '--out',
      data,
    );
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /96 of 97 rows \(32 with several labels\)/);
    assert.match(readFileSync(join(data, 'label-problems.csv'), 'utf8'), /99999999_000\.png,image not found/);
    assert.deepEqual(JSON.parse(readFileSync(join(data, 'relevance.json'), 'utf8')), { multiLabel: ['nih14'] });
    const m = await readManifest(data);
    assert.equal(m.size, 96);
    assert.equal(m.excluded.length, 0);
    assert.deepEqual(
      m.classes.filter((c) => !c.labels).map((c) => `${c.label}:${c.kind}`),
      ['No Finding:anatomical', 'Effusion:pathological', 'Nodule:pathological', 'Pneumonia:pathological'],
    );
    const byFile = new Map(Array.from({ length: m.size }, (_, i) => [m.filepaths[i].split('/').pop()!, i]));
    sets.forEach((set, k) => {
      const name = `${String(1 + Math.floor(k / 3)).padStart(8, '0')}_${String(k % 3).padStart(3, '0')}.png`;
      const e = m.entry(byFile.get(name)!);
      assert.deepEqual(e.labels?.map((l) => l.split('/')[2]) ?? [e.className.split('/')[2]], set, name);
    });
    const splitOf = new Map<string, number>();
    for (let i = 0; i < m.size; i++) {
      const patient = m.filepaths[i].split('/').pop()!.slice(0, 8);
      assert.equal(splitOf.get(patient) ?? m.split[i], m.split[i], `patient ${patient} in one split`);
      splitOf.set(patient, m.split[i]);
    }

    const emb = join(dir, 'emb');
    assert.equal((await cbir('embed', '--data', data, '--model', 'hog4x4x9', '--out', emb, '--quiet')).code, 0);
    const out = join(dir, 'report');
    const rep = await cbir('report', '--data', data, '--embeddings', emb, '--out', out, '--no-figures', '--no-probe');
    assert.equal(rep.code, 0, rep.err);
    const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'));
    assert.deepEqual(report.beyond.multiLabel, ['nih14']);
    assert.match(readFileSync(join(out, 'beyond_ranking.csv'), 'utf8'), /\nhog4x4x9,multi-label \(Jaccard\),0\.\d+/);
  } finally {
    cleanup();
  }
});

/** A CheXpert-layout train.csv (Path + demographics + the 14 observation columns) with empty image files. */
function chexpertFixture(root: string, cells: Record<string, string>[]): string {
  const header = ['Path', 'Sex', 'Age', 'Frontal/Lateral', 'AP/PA', ...CHEXPERT_LABELS];
  const lines = [header.join(',')];
  cells.forEach((c, i) => {
    const path = `CheXpert-v1.0-small/train/patient${String(1 + (i >> 1)).padStart(5, '0')}/study1/view${1 + (i % 2)}_frontal.jpg`;
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), 'x');
    lines.push([path, 'Female', '60', 'Frontal', 'AP', ...CHEXPERT_LABELS.map((l) => c[l] ?? '')].join(','));
  });
  const csv = join(root, 'CheXpert-v1.0-small', 'train.csv');
  writeFileSync(csv, lines.join('\n') + '\n');
  return csv;
}

test('chexpert: 1 positive, 0 and blank negative, -1 negative (U-Zeros) or positive with --uncertain one', async () => {
  const { dir, cleanup } = tempDir('cbir-chexpert-');
  try {
    const rows: Record<string, string>[] = [
      { 'No Finding': '1.0', 'Support Devices': '1.0' },
      { Cardiomegaly: '1.0', Edema: '-1.0', 'Pleural Effusion': '0.0' },
      { Edema: '-1.0' }, // only uncertain: skipped under U-Zeros
      { 'Lung Opacity': '1.0', Pneumonia: '1.0', Atelectasis: '1.0' },
    ];
    const csv = chexpertFixture(dir, rows);
    const labelsOf = async (out: string) => {
      const m = await readManifest(out);
      return Array.from({ length: m.size }, (_, i) => {
        const e = m.entry(i);
        return (e.labels ?? [e.className]).map((l) => l.split('/')[2]).join('+');
      });
    };
    const zero = join(dir, 'zero');
    const a = await cbir('data', 'chest-labels', '--format', 'chexpert', '--csv', csv, '--images', dir, '--out', zero);
    assert.equal(a.code, 0, a.err);
    assert.deepEqual(await labelsOf(zero), [
      'No Finding+Support Devices',
      'Cardiomegaly',
      'Lung Opacity+Pneumonia+Atelectasis',
    ]);
    assert.match(readFileSync(join(zero, 'label-problems.csv'), 'utf8'), /no positive label/);
    const one = join(dir, 'one');
    const b = await cbir(
      'data',
      'chest-labels',
      '--format',
      'chexpert',
      '--csv',
      csv,
      '--images',
      dir,
      '--out',
      one,
      '--uncertain',
      'one',
    );
    assert.equal(b.code, 0, b.err);
    assert.deepEqual(await labelsOf(one), [
      'No Finding+Support Devices',
      'Cardiomegaly+Edema',
      'Edema',
      'Lung Opacity+Pneumonia+Atelectasis',
    ]);
    // a cell that is none of 1, 0, -1, blank is a clear error with its row
    chexpertFixture(dir, [{ Edema: '2' }]);
    const c = await cbir(
      'data',
      'chest-labels',
      '--format',
      'chexpert',
      '--csv',
      csv,
      '--images',
      dir,
      '--out',
      join(dir, 'bad'),
    );
    assert.notEqual(c.code, 0);
    assert.match(c.err, /column "Edema" holds "2", expected 1, 0, -1 or blank/);
  } finally {
    cleanup();
  }
});
