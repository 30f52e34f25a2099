import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_ROOT, tempDir } from '../helpers/datasets.js';
import { makeDataset, FakeExtractor } from './fixtures.js';
import type { Manifest } from '../../src/workbench/data/manifest.js';
import { embedManifest } from '../../src/workbench/embeddings/pipeline.js';
import { createDescriptor } from '../../src/workbench/models/descriptors/index.js';

// Crash tests with real SIGKILLs of child processes: at each crash window of the pipeline
// (the child kills itself there), and from outside at an arbitrary moment, including the
// `cbir embed` CLI started through bin/cbir.js.
let tmp: { dir: string; cleanup: () => void };
let manifest: Manifest;
let dataDir: string;
let refHash: string;

const CHILD = join(PROJECT_ROOT, 'test', 'embeddings', 'child.ts');

before(async () => {
  tmp = tempDir('cbir-resume-');
  manifest = await makeDataset(tmp.dir, { count: 24, size: 32 });
  dataDir = join(tmp.dir, 'data');
  refHash = (
    await embedManifest({
      manifest,
      extractor: new FakeExtractor(),
      out: join(tmp.dir, 'ref'),
      batchSize: 3,
      workers: 0,
    })
  ).meta.contentHash;
});
after(() => tmp.cleanup());

function runChild(out: string, stage = '', nth = 1, delayMs = 0) {
  return spawnSync(
    process.execPath,
    ['--import', 'tsx', CHILD, dataDir, out, 'fake', '3', '0', stage, String(nth), String(delayMs)],
    { cwd: PROJECT_ROOT, encoding: 'utf8' },
  );
}

/** The rerun after a kill: the same call in this process (the child's command, without its crash hook). */
async function rerun(out: string) {
  const r = await embedManifest({
    manifest,
    extractor: new FakeExtractor(),
    out,
    batchSize: 3,
    workers: 0,
    chunkRows: 8,
  });
  return { contentHash: r.meta.contentHash, resumed: r.resumed };
}

test('kill -9 at every crash window, then the same command again: identical content hash', async () => {
  const cases: [string, number][] = [
    ['batch-written', 5],
    ['batch-recorded', 3],
    ['before-meta', 1],
    ['after-meta', 1],
  ];
  for (const [stage, nth] of cases) {
    const out = join(tmp.dir, `kill-${stage}-${nth}`);
    const killed = runChild(out, stage, nth);
    assert.equal(killed.signal, 'SIGKILL', `child should die at ${stage} #${nth}: ${killed.stderr}`);
    const r = await rerun(out);
    assert.equal(r.contentHash, refHash, `after kill -9 at ${stage} #${nth}`);
    if (stage === 'batch-recorded') assert.equal(r.resumed, 9, 'three recorded batches were kept');
    if (stage === 'batch-written') assert.equal(r.resumed, 3 * (nth - 1), 'the written but unrecorded batch is redone');
    assert.equal(existsSync(join(out, 'partial')), false);
  }
});

test('kill -9 from outside at arbitrary moments, several times, then finish', async () => {
  const out = join(tmp.dir, 'kill-outside');
  const journal = join(out, 'partial', 'journal.jsonl');
  const lines = () => (existsSync(journal) ? readFileSync(journal, 'utf8').split('\n').length - 1 : 0);
  for (const after of [1, 4]) {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, dataDir, out, 'fake', '3', '0', '', '1', '40'], {
      cwd: PROJECT_ROOT,
      stdio: 'ignore',
    });
    const exited = new Promise<NodeJS.Signals | null>((res) => child.on('exit', (_code, sig) => res(sig)));
    let finished = false;
    void exited.then(() => {
      finished = true;
    });
    while (!finished && lines() < after) await new Promise((r) => setTimeout(r, 5));
    child.kill('SIGKILL');
    const sig = await exited;
    assert.equal(sig, 'SIGKILL', 'the child was still running when killed');
    assert.equal(existsSync(join(out, 'meta.json')), false);
  }
  const done = runChild(out);
  assert.equal(done.status, 0, done.stderr);
  const r = JSON.parse(done.stdout.trim().split('\n').pop()!);
  assert.ok(r.resumed >= 12, `resumed ${r.resumed} rows`);
  assert.equal(r.contentHash, refHash);
});

test('`cbir embed` through bin/cbir.js (worker threads under register()), killed and rerun', async () => {
  const out = join(tmp.dir, 'cli');
  const args = [
    join(PROJECT_ROOT, 'bin', 'cbir.js'),
    'embed',
    '--data',
    dataDir,
    '--model',
    'tiny16',
    '--out',
    out,
    '--batch',
    '2',
    '--workers',
    '2',
    '--quiet',
  ];
  const journal = join(out, 'partial', 'journal.jsonl');
  const child = spawn(process.execPath, args, { cwd: PROJECT_ROOT, stdio: 'ignore' });
  const exited = new Promise<void>((res) => child.on('exit', () => res()));
  let finished = false;
  void exited.then(() => {
    finished = true;
  });
  while (!finished && !(existsSync(journal) && readFileSync(journal, 'utf8').length > 0))
    await new Promise((r) => setTimeout(r, 5));
  child.kill('SIGKILL');
  await exited;
  const rerun = spawnSync(process.execPath, args, { cwd: PROJECT_ROOT, encoding: 'utf8' });
  assert.equal(rerun.status, 0, rerun.stderr);
  const ref = await embedManifest({
    manifest,
    extractor: createDescriptor('tiny16'),
    out: join(tmp.dir, 'cli-ref'),
    batchSize: 2,
    workers: 0,
  });
  assert.ok(rerun.stdout.includes(ref.meta.contentHash), rerun.stdout);
  assert.equal(JSON.parse(readFileSync(join(out, 'meta.json'), 'utf8')).contentHash, ref.meta.contentHash);
});
