import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../helpers/datasets.js';
import { makeDataset } from './fixtures.js';
import { main } from '../../src/cli/main.js';

let tmp: { dir: string; cleanup: () => void };
let dataDir: string;

before(async () => {
  tmp = tempDir('cbir-cli-');
  await makeDataset(tmp.dir, { count: 10, size: 24 });
  dataDir = join(tmp.dir, 'data');
});
after(() => tmp.cleanup());

/** Run `cbir <args>` in this process, capturing stdout and stderr. */
async function cbir(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const log = console.log;
  const error = console.error;
  console.log = (...a: unknown[]) => {
    out.push(a.join(' '));
  };
  console.error = (...a: unknown[]) => {
    err.push(a.join(' '));
  };
  try {
    const code = await main(args);
    return { code, out: out.join('\n'), err: err.join('\n') };
  } finally {
    console.log = log;
    console.error = error;
  }
}

test('cbir embed, embeddings info --json, shards + merge, export-h5 and import-h5', async () => {
  const store = join(tmp.dir, 'store');
  const e = await cbir(
    'embed',
    '--data',
    dataDir,
    '--model',
    'hog4x4x9',
    '--out',
    store,
    '--batch',
    '4',
    '--workers',
    '0',
    '--quiet',
  );
  assert.equal(e.code, 0, e.err);
  const info = await cbir('embeddings', 'info', store, '--json', '--verify');
  assert.equal(info.code, 0, info.err);
  const j = JSON.parse(info.out);
  assert.equal(j.count, 10);
  assert.equal(j.dim, 144);
  assert.equal(j.modelId, 'hog4x4x9');
  assert.match(j.contentHash, /^[0-9a-f]{64}$/);
  assert.equal(j.verified, true);
  assert.ok(e.out.includes(j.contentHash), 'embed prints the content hash');
  const text = await cbir('embeddings', 'info', store);
  assert.match(text.out, /count × dim {2}10 × 144/);

  for (const i of [0, 1]) {
    const s = await cbir(
      'embed',
      '--data',
      dataDir,
      '--model',
      'hog4x4x9',
      '--out',
      join(tmp.dir, `s${i}`),
      '--batch',
      '4',
      '--shard',
      `${i}/2`,
      '--workers',
      '0',
      '--quiet',
    );
    assert.equal(s.code, 0, s.err);
    assert.match(s.out, /cbir embed merge/);
  }
  const m = await cbir(
    'embed',
    'merge',
    '--out',
    join(tmp.dir, 'merged'),
    '--quiet',
    join(tmp.dir, 's1'),
    join(tmp.dir, 's0'),
  );
  assert.equal(m.code, 0, m.err);
  assert.ok(m.out.includes(j.contentHash), 'merged store has the unsharded content hash');

  const x = await cbir('embeddings', 'export-h5', '--data', dataDir, '--out', join(tmp.dir, 'h5'), '--quiet', store);
  assert.equal(x.code, 0, x.err);
  assert.deepEqual(readdirSync(join(tmp.dir, 'h5')).sort(), ['brainset.h5', 'chestset.h5']);
  const im = await cbir(
    'embeddings',
    'import-h5',
    '--data',
    dataDir,
    '--out',
    join(tmp.dir, 'back'),
    '--quiet',
    join(tmp.dir, 'h5'),
  );
  assert.equal(im.code, 0, im.err);
  assert.ok(im.out.includes(j.contentHash), im.out);
});

test('user errors: exit code 1 and a message that names the file and what to do', async () => {
  const r = await cbir(
    'embed',
    '--data',
    dataDir,
    '--model',
    'tiny16',
    '--out',
    join(tmp.dir, 'store'),
    '--workers',
    '0',
    '--quiet',
    '--batch',
    '4',
  );
  assert.equal(r.code, 1);
  assert.match(r.err, /store[/\\]meta\.json: this folder holds embeddings of another model/);
  assert.match(r.err, /→ write to a new output folder, or start again from scratch/);
  assert.match(r.err, /\n {2}→ in the CLI: pass another --out, or --force to delete them and start again/);
  const s = await cbir('embed', '--data', dataDir, '--model', 'tiny16', '--out', join(tmp.dir, 'x'), '--shard', '3/3');
  assert.equal(s.code, 1);
  assert.match(s.err, /i\/n with 0 ≤ i < n/);
  const i = await cbir('embeddings', 'info', join(tmp.dir, 'nothing-here'));
  assert.equal(i.code, 1);
  assert.match(i.err, /nothing-here: embedding store folder not found/);
  const u = await cbir('embed', '--data', dataDir, '--model', 'no-such-model', '--out', join(tmp.dir, 'y'));
  assert.equal(u.code, 1);
  assert.match(u.err, /unknown model "no-such-model"/);
});
