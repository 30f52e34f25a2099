import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../helpers/datasets.js';
import { makeDataset, FakeExtractor } from './fixtures.js';
import { Manifest } from '../../src/workbench/data/manifest.js';
import { embedManifest } from '../../src/workbench/embeddings/pipeline.js';
import { CbirError } from '../../src/workbench/errors.js';
import { main } from '../../src/cli/main.js';

let tmp: { dir: string; cleanup: () => void };
let manifest: Manifest;

before(async () => {
  tmp = tempDir('cbir-faults-');
  manifest = await makeDataset(tmp.dir, { count: 16, size: 24 });
});
after(() => tmp.cleanup());

const run = (m: Manifest, out: string, extra: Partial<Parameters<typeof embedManifest>[0]> = {}) =>
  embedManifest({ manifest: m, extractor: new FakeExtractor(), out, batchSize: 4, workers: 0, ...extra });

/** A copy of the manifest with row `row` given another path (same folder, same images root). */
function withPath(m: Manifest, row: number, path: string): Manifest {
  const entries = [...Array(m.size).keys()].map((i) => ({ ...m.entry(i), ...(i === row ? { filepath: path } : {}) }));
  return Manifest.fromEntries(entries, m.classes, { dir: m.dir, imagesRoot: m.imagesRoot });
}

test(
  'a full disk while embedding (writes to /dev/full): a CbirError naming the store; finished batches are kept and the run resumes',
  {
    skip: existsSync('/dev/full') ? false : 'no /dev/full on this system',
  },
  async () => {
    const out = join(tmp.dir, 'enospc');
    let n = 0;
    await assert.rejects(
      run(manifest, out, {
        chunkRows: 4, // one chunk file per batch: the second batch's chunk is the device
        onStage: (s, r) => {
          if (s === 'batch-recorded' && ++n === 1)
            symlinkSync('/dev/full', join(out, 'partial', `chunk-${String(r.end).padStart(10, '0')}.f32`));
        },
      }),
      (e: CbirError) => {
        assert.ok(e instanceof CbirError, String(e));
        assert.equal(e.code, 'fs/no-space');
        assert.equal(e.file, out);
        assert.match(e.message, /no space left on the device while writing the embedding store/);
        assert.match(e.message, /the rows embedded so far are kept in .*partial/);
        assert.match(e.hint!, /free disk space/);
        return true;
      },
    );
    const r = await run(manifest, out);
    assert.equal(r.resumed, 4, 'the batch written before the disk filled up is kept');
    const fresh = await run(manifest, join(tmp.dir, 'enospc-fresh'));
    assert.equal(r.meta.contentHash, fresh.meta.contentHash);
  },
);

test('an output folder that cannot be written (read-only /sys, or a folder without write permission) is a CbirError', async (t) => {
  const cases: string[] = [];
  if (existsSync('/sys')) cases.push('/sys/cbir-test-store');
  const locked = join(tmp.dir, 'locked');
  if (process.getuid?.() !== 0) {
    mkdirSync(locked);
    chmodSync(locked, 0o555);
    cases.push(join(locked, 'store'));
  }
  if (cases.length === 0) return t.skip('running as root without /sys: no folder here refuses writes');
  try {
    for (const out of cases) {
      await assert.rejects(run(manifest, out), (e: CbirError) => {
        if (existsSync(out)) rmSync(out, { recursive: true, force: true }); // a writable /sys: nothing to test
        assert.ok(e instanceof CbirError, String(e));
        assert.equal(e.code, 'fs/not-writable');
        assert.ok(e.file!.startsWith(out.slice(0, out.lastIndexOf('/'))), e.file);
        assert.match(e.message, /cannot write here \((permission denied|the file system is read-only)\)/);
        assert.match(e.hint!, /choose an output folder you can write to/);
        return true;
      });
    }
  } finally {
    if (existsSync(locked)) chmodSync(locked, 0o755);
  }
});

test('a file where the output folder should be (EEXIST, ENOTDIR) is a CbirError naming that file', async () => {
  const file = join(tmp.dir, 'a-file');
  writeFileSync(file, 'not a folder');
  for (const out of [file, join(file, 'store')]) {
    await assert.rejects(run(manifest, out), (e: CbirError) => {
      assert.ok(e instanceof CbirError, String(e));
      assert.equal(e.code, 'fs/path-blocked');
      assert.match(e.message, new RegExp(`"${file}" is a file, not a folder`));
      return true;
    });
  }
  // through the CLI: one message, the CLI line, no stack trace
  const err: string[] = [];
  const error = console.error;
  console.error = (...a: unknown[]) => void err.push(a.join(' '));
  try {
    const code = await main([
      'embed',
      '--data',
      manifest.dir,
      '--model',
      'tiny16',
      '--out',
      join(file, 's'),
      '--quiet',
    ]);
    assert.equal(code, 1);
  } finally {
    console.error = error;
  }
  assert.match(err.join('\n'), /is a file, not a folder/);
  assert.doesNotMatch(err.join('\n'), /\n\s+at /);
});

test('bad rows are refused before any work: a path with a line break, a missing image, a FIFO', async () => {
  const last = manifest.size - 1;
  const cases: [string, Manifest, string, RegExp][] = [
    [
      'newline',
      withPath(manifest, last, 'brainset/c0/bad\nname.png'),
      'embed/bad-path',
      /manifest row 16 .*line break/,
    ],
  ];
  const gone = manifest.resolvePath(last - 1);
  const missing = withPath(manifest, last - 1, manifest.filepaths[last - 1].replace('.png', '-gone.png'));
  cases.push(['missing', missing, 'embed/missing-images', /1 of 16 images are missing: row 15 ".*-gone\.png"/]);
  let fifo: string | null = join(manifest.imagesRoot, 'fifo.png');
  try {
    execFileSync('mkfifo', [fifo]);
    cases.push([
      'fifo',
      withPath(manifest, last, 'fifo.png'),
      'image/not-a-file',
      /not image files: row 16 "fifo\.png"/,
    ]);
  } catch {
    fifo = null; // no mkfifo here
  }
  try {
    for (const [what, m, code, re] of cases) {
      const ex = new FakeExtractor();
      const out = join(tmp.dir, `bad-${what}`);
      await assert.rejects(
        embedManifest({ manifest: m, extractor: ex, out, batchSize: 4, workers: 0 }),
        (e: CbirError) => {
          assert.ok(e instanceof CbirError, `${what}: ${e}`);
          assert.equal(e.code, code, what);
          assert.match(e.message, re, what);
          return true;
        },
      );
      assert.equal(ex.calls, 0, `${what}: nothing was embedded`);
      assert.ok(!existsSync(join(out, 'partial')), `${what}: no partial run was started`);
    }
    assert.ok(existsSync(gone));
  } finally {
    if (fifo) unlinkSync(fifo);
  }
});
