/**
 * Multi-label datasets in a manifest: declared in relevance.json, their rows with several
 * classes are kept with their label sets; undeclared datasets keep the study's single-label rule.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Manifest, readManifest, writeManifest, MAX_LABELS } from '../../src/workbench/data/manifest.js';
import { CbirError } from '../../src/workbench/errors.js';
import { tempDir } from '../helpers/datasets.js';

const HEADER =
  'filepath,dataset,split,modality,anatomic_region,XR/chest/No Finding,XR/chest/Effusion,XR/chest/Nodule,XR/chest/Mass';
const ROWS = [
  'a.png,nih,train,XR,chest,1,0,0,0',
  'b.png,nih,train,XR,chest,0,1,1,0', // kept: Effusion+Nodule
  'c.png,nih,test,XR,chest,0,1,1,1', // kept: Effusion+Nodule+Mass
  'd.png,nih,test,XR,chest,0,0,1,0',
  'e.png,other,train,XR,chest,0,1,1,0', // excluded: "other" is single-label
  'f.png,other,test,XR,chest,0,1,0,0',
];

function write(dir: string, rows = ROWS, header = HEADER, relevance?: unknown): void {
  writeFileSync(join(dir, 'manifest.csv'), [header, ...rows].join('\n') + '\n');
  if (relevance !== undefined) writeFileSync(join(dir, 'relevance.json'), JSON.stringify(relevance));
}

const isCode = (code: string) => (e: unknown) => e instanceof CbirError && e.code === code;

test('declared multi-label rows are kept as label-set classes with bit masks; undeclared ones are excluded', async () => {
  const { dir, cleanup } = tempDir('cbir-ml-manifest-');
  try {
    write(dir, ROWS, HEADER, { multiLabel: ['nih'] });
    const m = await readManifest(dir);
    assert.deepEqual(m.filepaths, ['a.png', 'b.png', 'c.png', 'd.png', 'f.png']);
    assert.equal(m.excluded.length, 1);
    assert.equal(m.excluded[0].filepath, 'e.png');
    assert.match(m.excluded[0].reason, /single-label \(relevance.json declares only nih multi-label\)/);
    const names = Array.from(m.classIndex, (c) => m.classes[c].name);
    assert.deepEqual(names, [
      'XR/chest/No Finding',
      'XR/chest/Effusion+Nodule',
      'XR/chest/Effusion+Nodule+Mass',
      'XR/chest/Nodule',
      'XR/chest/Effusion',
    ]);
    const combo = m.classes[m.classIndex[2]];
    assert.deepEqual(combo.labels, ['XR/chest/Effusion', 'XR/chest/Nodule', 'XR/chest/Mass']);
    assert.equal(combo.kind, 'pathological');
    assert.deepEqual(m.entry(1).labels, ['XR/chest/Effusion', 'XR/chest/Nodule']);
    const sets = m.labelSets!;
    assert.deepEqual(sets.datasets, ['nih']);
    assert.deepEqual(Array.from(sets.multiLabel), [1, 1, 1, 1, 0]);
    // bits: No Finding, Effusion, Nodule, Mass (the columns marked in nih's rows, in column order)
    assert.deepEqual(
      Array.from(sets.bits, (k) => m.classes[k].name),
      ['XR/chest/No Finding', 'XR/chest/Effusion', 'XR/chest/Nodule', 'XR/chest/Mass'],
    );
    assert.deepEqual(Array.from(sets.masks), [0b0001, 0b0110, 0b1110, 0b0100, 0b0010]);

    // written and read back: the same rows, multi-hot columns only, relevance.json kept
    const out = join(dir, 'copy');
    await writeManifest(out, m);
    assert.equal(readFileSync(join(out, 'manifest.csv'), 'utf8').split('\n')[0], HEADER);
    assert.match(readFileSync(join(out, 'manifest.csv'), 'utf8'), /c\.png,nih,test,XR,chest,0,1,1,1/);
    assert.doesNotMatch(readFileSync(join(out, 'classes.csv'), 'utf8'), /\+/);
    assert.deepEqual(JSON.parse(readFileSync(join(out, 'relevance.json'), 'utf8')), { multiLabel: ['nih'] });
    const back = await readManifest(out);
    assert.equal(back.hash, m.hash);
    assert.deepEqual(Array.from(back.labelSets!.masks), Array.from(sets.masks));
  } finally {
    cleanup();
  }
});

test('without a declaration the study rule holds: every multi-label row is excluded, no label sets', async () => {
  const { dir, cleanup } = tempDir('cbir-ml-manifest-');
  try {
    write(dir);
    const m = await readManifest(dir);
    assert.deepEqual(
      m.excluded.map((e) => e.filepath),
      ['b.png', 'c.png', 'e.png'],
    );
    assert.equal(m.labelSets, null);
    assert.ok(m.classes.every((c) => !c.labels));
    write(dir, ROWS, HEADER, { ordinal: { 'XR/knee': ['0', '1'] } });
    assert.equal((await readManifest(dir)).excluded.length, 3, 'a relevance.json without multiLabel changes nothing');
  } finally {
    cleanup();
  }
});

test('clear errors: more labels than a mask holds, mixed regions, a bad declaration, undeclared entries', async () => {
  const { dir, cleanup } = tempDir('cbir-ml-manifest-');
  try {
    const n = MAX_LABELS + 1;
    const cols = Array.from({ length: n }, (_, i) => `XR/chest/f${i}`);
    const many = Array.from({ length: n }, (_, i) =>
      [`${i}.png`, 'nih', 'train', 'XR', 'chest', ...cols.map((_, j) => (j === i || j === (i + 1) % n ? 1 : 0))].join(
        ',',
      ),
    );
    write(dir, many, ['filepath,dataset,split,modality,anatomic_region', ...cols].join(','), { multiLabel: ['nih'] });
    await assert.rejects(
      readManifest(dir),
      (e) => isCode('manifest/too-many-labels')(e) && /33 labels/.test(String(e)),
    );

    write(
      dir,
      ['a.png,nih,train,XR,chest,1,1'],
      'filepath,dataset,split,modality,anatomic_region,XR/chest/Effusion,XR/knee/0',
      { multiLabel: ['nih'] },
    );
    await assert.rejects(readManifest(dir), isCode('manifest/multi-label-regions'));

    write(dir, ROWS, HEADER, { multiLabel: 'nih' });
    await assert.rejects(readManifest(dir), isCode('manifest/bad-relevance'));

    const classes = ['Effusion', 'Nodule'].map((label) => ({
      name: `XR/chest/${label}`,
      modality: 'XR',
      region: 'chest',
      label,
      kind: 'pathological' as const,
    }));
    const entry = {
      filepath: 'x.png',
      dataset: 'nih',
      split: 'train' as const,
      modality: 'XR',
      anatomicRegion: 'chest',
      className: 'XR/chest/Effusion+Nodule',
      labels: ['XR/chest/Effusion', 'XR/chest/Nodule'],
    };
    assert.throws(
      () => Manifest.fromEntries([entry], classes, { multiLabel: ['other'] }),
      isCode('manifest/multi-label-undeclared'),
    );
    const m = Manifest.fromEntries([entry], classes);
    assert.deepEqual(m.labelSets?.datasets, ['nih'], 'fromEntries declares the datasets of its multi-label entries');
  } finally {
    cleanup();
  }
});
