import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { writeKnnCsv } from '../../src/workbench/knn/index.js';
import { parseCsv } from '../../src/workbench/util/csv.js';
import { CbirError } from '../../src/workbench/errors.js';
import { tempDir } from '../helpers/datasets.js';

test('knn.csv: header query,1..k, one row per query with file paths, best first', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const filepaths = ['a/0.png', 'a/1.png', 'b/2,comma.png', 'b/3.png', 'c/4.png', 'c/"5".png'];
    const table = {
      k: 3,
      queryRows: Int32Array.of(4, 5),
      ids: Int32Array.of(2, 0, 1, 3, -1, -1),
    };
    const file = join(dir, 'out', 'knn.csv');
    await writeKnnCsv(table, filepaths, file);
    const text = readFileSync(file, 'utf8');
    const rows = [...parseCsv(text)].map((r) => r.cells);
    assert.deepEqual(rows[0], ['query', '1', '2', '3']);
    assert.deepEqual(rows[1], ['c/4.png', 'b/2,comma.png', 'a/0.png', 'a/1.png']);
    assert.deepEqual(rows[2], ['c/"5".png', 'b/3.png', '', '']);
    assert.equal(rows.length, 3);
    assert.ok(text.startsWith('query,1,2,3\n'));
  } finally {
    cleanup();
  }
});

test('knn.csv refuses a table from another manifest and leaves no file', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const file = join(dir, 'knn.csv');
    await assert.rejects(
      () =>
        writeKnnCsv({ k: 2, queryRows: Int32Array.of(0, 1), ids: Int32Array.of(1, 0, 0, 9) }, ['x.png', 'y.png'], file),
      (e: unknown) => e instanceof CbirError && /row id 9/.test(e.message) && e.file === file && e.row === 3,
    );
    assert.equal(existsSync(file), false);
  } finally {
    cleanup();
  }
});
