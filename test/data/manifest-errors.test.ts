import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readManifest } from '../../src/workbench/data/manifest.js';
import { CbirError } from '../../src/workbench/errors.js';
import { tempDir } from '../helpers/datasets.js';

const HEADER = 'filepath,dataset,split,modality,anatomic_region,MR/brain/glioma,MR/brain/notumor';

async function readBad(text: string, check: (e: CbirError, file: string) => void): Promise<void> {
  const { dir, cleanup } = tempDir();
  try {
    const file = join(dir, 'manifest.csv');
    writeFileSync(file, text);
    await assert.rejects(readManifest(dir), (e: unknown) => {
      assert.ok(e instanceof CbirError, String(e));
      check(e, file);
      return true;
    });
  } finally {
    cleanup();
  }
}

test('readManifest: a missing column names the file, the header row and the expected layout', async () => {
  await readBad('filepath,dataset,modality,anatomic_region,MR/brain/glioma\na.png,mr,MR,brain,1\n', (e, file) => {
    assert.equal(e.file, file);
    assert.equal(e.row, 1);
    assert.match(e.message, /manifest\.csv:1: missing column "split" in the header/);
    assert.match(e.message, /the header must start with filepath,dataset,split,modality,anatomic_region/);
  });
});

test('readManifest: an unknown split names the row and the allowed splits', async () => {
  await readBad(`${HEADER}\na.png,mr,train,MR,brain,1,0\nb.png,mr,holdout,MR,brain,0,1\n`, (e) => {
    assert.equal(e.row, 3);
    assert.match(e.message, /manifest\.csv:3: unknown split "holdout"/);
    assert.match(e.message, /use train \(the index\), val \(model selection\) or test \(the queries\)/);
  });
});

test('readManifest: a class cell that is not 0/1 names the row and the column', async () => {
  await readBad(`${HEADER}\na.png,mr,train,MR,brain,1,0\nb.png,mr,test,MR,brain,yes,0\n`, (e) => {
    assert.equal(e.row, 3);
    assert.match(e.message, /manifest\.csv:3: class column "MR\/brain\/glioma" holds "yes", expected 0 or 1/);
  });
});

test('readManifest: several problems are reported together, each with its row', async () => {
  await readBad(`${HEADER}\na.png,mr,holdout,MR,brain,1,0\nb.png,mr,test,MR,brain,2,0\n`, (e) => {
    assert.match(e.message, /2 problems in the manifest/);
    assert.match(e.message, /manifest\.csv:2: unknown split/);
    assert.match(e.message, /manifest\.csv:3: class column/);
  });
});

test('readManifest: a multi-label row is excluded and listed, the rest is read', async () => {
  const { dir, cleanup } = tempDir();
  try {
    writeFileSync(
      join(dir, 'manifest.csv'),
      `${HEADER}\na.png,mr,train,MR,brain,1,0\nb.png,mr,test,MR,brain,1,1\nc.png,mr,val,MR,brain,0,1\n`,
    );
    const m = await readManifest(dir);
    assert.equal(m.size, 2);
    assert.deepEqual(m.filepaths, ['a.png', 'c.png']);
    assert.equal(m.excluded.length, 1);
    assert.equal(m.excluded[0].row, 3);
    assert.equal(m.excluded[0].filepath, 'b.png');
    assert.match(m.excluded[0].reason, /multi-label \(MR\/brain\/glioma \+ MR\/brain\/notumor\)/);
  } finally {
    cleanup();
  }
});
