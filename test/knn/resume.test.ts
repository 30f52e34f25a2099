import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { appendFileSync, existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { computeKnnTable, knnTablesCached } from '../../src/workbench/knn/index.js';
import { ProgressTracker, type ProgressEvent } from '../../src/workbench/util/progress.js';
import { tempDir } from '../helpers/datasets.js';
import { fixture } from './resume-fixture.js';

const f = fixture();
const BLOCK = '8'; // queries per block: the 120 test queries take 15 blocks

/** Run `fn` with CBIR_BLOCK_ROWS set (tiny blocks), restoring the environment after. */
async function withBlocks<T>(fn: () => Promise<T>): Promise<T> {
  const before = process.env.CBIR_BLOCK_ROWS;
  process.env.CBIR_BLOCK_ROWS = BLOCK;
  try {
    return await fn();
  } finally {
    if (before === undefined) delete process.env.CBIR_BLOCK_ROWS;
    else process.env.CBIR_BLOCK_ROWS = before;
  }
}

const reference = async (i: number) => computeKnnTable({ ...f.common, ...f.splits[i] });

test('knnTablesCached: one index build for both splits; the tables equal computeKnnTable and come from the cache the second time', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const events: ProgressEvent[] = [];
    const first = await knnTablesCached({ ...f.common, cacheDir: dir, onProgress: (e) => events.push(e) }, f.splits);
    const builds = events.filter((e) => e.unit === 'vectors' && e.done === e.total);
    assert.equal(builds.length, 1, 'the index is built once for test and val');
    for (let i = 0; i < 2; i++) {
      const ref = await reference(i);
      assert.deepEqual(first[i].table.ids, ref.ids);
      assert.deepEqual(first[i].table.sims, ref.sims);
      assert.equal(first[i].cached, false);
    }
    const again = await knnTablesCached({ ...f.common, cacheDir: dir }, f.splits);
    assert.deepEqual(
      again.map((t) => t.cached),
      [true, true],
    );
    assert.deepEqual(
      readdirSync(dir).filter((n) => n.endsWith('.partial')),
      [],
      'no journal is left once the tables are saved',
    );
  } finally {
    cleanup();
  }
});

test('knnTablesCached: a run killed with SIGKILL mid-search resumes after its last finished block, with the same table', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'resume-child.ts'), dir, '8'], {
      env: { ...process.env, CBIR_BLOCK_ROWS: BLOCK },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        if (d.toString().includes('ready')) {
          child.kill('SIGKILL');
          resolve();
        }
      });
      child.on('exit', (code) => reject(new Error(`the child exited (${code}) before it was killed`)));
    });
    await new Promise((r) => child.once('exit', r));
    const journal = readdirSync(dir).find((n) => n.endsWith('.partial'));
    assert.ok(journal, 'the killed run left its journal');
    const rowBytes = f.common.k * 4;
    const kept = statSync(join(dir, journal, 'ids.i32')).size / rowBytes;
    assert.equal(kept, 8, 'the first block was finished and kept');

    const lines: string[] = [];
    const events: ProgressEvent[] = [];
    const resumed = await withBlocks(() =>
      knnTablesCached(
        { ...f.common, cacheDir: dir, log: (l) => lines.push(l), onProgress: (e) => events.push(e) },
        f.splits,
      ),
    );
    assert.match(lines.join('\n'), new RegExp(`k-NN table \\(test\\): resuming after ${kept} of 120 queries`));
    assert.equal(resumed[0].table.meta.resumedQueries, kept);
    const searched = events.filter((e) => e.unit === 'queries' && e.phase.startsWith('knn search'));
    assert.equal(searched[0].done, kept + 8, 'progress counts on from the resumed queries');
    assert.ok(searched[0].rate < 1e6, `the rate counts only the queries searched now (${searched[0].rate}/s)`);
    for (let i = 0; i < 2; i++) {
      const ref = await reference(i);
      assert.deepEqual(resumed[i].table.ids, ref.ids, `split ${f.splits[i].split}: ids`);
      assert.deepEqual(resumed[i].table.sims, ref.sims, `split ${f.splits[i].split}: sims`);
    }
    assert.equal(existsSync(join(dir, journal)), false, 'the journal is gone once the table is saved');
  } finally {
    cleanup();
  }
});

/** Interrupt a run of the fixture after its first query block (the listener throws), leaving the journal. */
async function interrupted(dir: string): Promise<string> {
  const stop = new Error('stop');
  await assert.rejects(
    withBlocks(() =>
      knnTablesCached(
        {
          ...f.common,
          cacheDir: dir,
          onProgress: (e) => {
            if (e.unit === 'queries' && e.done >= 8) throw stop;
          },
        },
        f.splits,
      ),
    ),
    (e) => e === stop,
  );
  const journal = readdirSync(dir).find((n) => n.endsWith('.partial'));
  assert.ok(journal, 'the interrupted run left its journal');
  return join(dir, journal);
}

test('knnTablesCached: a torn last row is dropped on resume; a journal of other inputs is not read back', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const journal = await interrupted(dir);
    appendFileSync(join(journal, 'ids.i32'), Buffer.from([1, 2, 3])); // a write cut short by the kill
    const torn = await withBlocks(() => knnTablesCached({ ...f.common, cacheDir: dir }, f.splits));
    assert.equal(torn[0].table.meta.resumedQueries, 8);
    assert.deepEqual(torn[0].table.ids, (await reference(0)).ids);

    const { dir: dir2, cleanup: cleanup2 } = tempDir();
    try {
      const j2 = await interrupted(dir2);
      const head = JSON.parse(readFileSync(join(j2, 'journal.json'), 'utf8'));
      writeFileSync(join(j2, 'journal.json'), JSON.stringify({ ...head, key: 'another-table' }));
      const lines: string[] = [];
      const other = await knnTablesCached({ ...f.common, cacheDir: dir2, log: (l) => lines.push(l) }, f.splits);
      assert.equal(other[0].table.meta.resumedQueries, 0, "another table's journal is not read back");
      assert.deepEqual(lines, []);
      assert.deepEqual(other[0].table.ids, (await reference(0)).ids);
    } finally {
      cleanup2();
    }
  } finally {
    cleanup();
  }
});

test('ProgressTracker: the items a resumed run starts with count in done, not in its rate', async () => {
  const events: ProgressEvent[] = [];
  const t = new ProgressTracker('knn search (exact)', 2000, (e) => events.push(e), 'queries', 1000);
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, 60));
  t.add(10);
  const dt = (performance.now() - t0) / 1000;
  assert.equal(events[0].done, 1010);
  assert.ok(events[0].rate <= 10 / 0.055 && events[0].rate >= 10 / (dt + 0.05), `rate ${events[0].rate}/s`);
});
