import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, readFileSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { prepareDataset } from '../../src/workbench/data/prepare.js';
import { readImageBytes } from '../../src/workbench/data/content.js';
import { parseSourceSpec } from '../../src/workbench/data/sources.js';
import { readManifest } from '../../src/workbench/data/manifest.js';
import { CbirError } from '../../src/workbench/errors.js';
import { parseCsv } from '../../src/workbench/util/csv.js';
import { tempDir } from '../helpers/datasets.js';
import { writeRandomPng } from '../helpers/png.js';

const isRoot = process.getuid?.() === 0;
let seed = 900;
const png = (file: string) => writeRandomPng(file, seed++);
function rows(out: string): string[][] {
  return [...parseCsv(readFileSync(join(out, 'report.csv'), 'utf8'))].slice(1).map((r) => r.cells);
}
/** Six good images in each of two class folders. */
async function classes(root: string): Promise<void> {
  for (const c of ['glioma', 'meningioma']) for (let i = 0; i < 6; i++) await png(join(root, c, `${i}.png`));
}
const source = (root: string) => parseSourceSpec(`folder:path=${root},dataset=mr,modality=MR,region=brain`);
function mkfifo(path: string): boolean {
  return spawnSync('mkfifo', [path]).status === 0;
}

test(
  'prepare: FIFOs and devices named .png are skipped and reported, never read (no hang, no memory growth)',
  { timeout: 60_000 },
  async (t) => {
    const { dir, cleanup } = tempDir();
    try {
      const root = join(dir, 'mr');
      await classes(root);
      if (!mkfifo(join(dir, 'fifo')) || !mkfifo(join(root, 'glioma', 'pipe.png')))
        return t.skip('mkfifo is not available');
      symlinkSync(join(dir, 'fifo'), join(root, 'glioma', 'fifo-link.png'));
      if (existsSync('/dev/zero')) symlinkSync('/dev/zero', join(root, 'meningioma', 'zero.png'));
      const before = process.memoryUsage().rss;
      const r = await prepareDataset({ sources: [source(root)], out: join(dir, 'out') });
      assert.ok(process.memoryUsage().rss - before < 512 * 1024 * 1024, 'memory stayed bounded');
      assert.equal(r.manifest.size, 12);
      const special = rows(join(dir, 'out')).filter((x) => x[0] === 'ignored-special');
      assert.deepEqual(special.map((x) => x[2]).sort(), [
        'glioma/fifo-link.png',
        'glioma/pipe.png',
        ...(existsSync('/dev/zero') ? ['meningioma/zero.png'] : []),
      ]);
      assert.match(special.find((x) => x[2] === 'glioma/pipe.png')![5], /not a regular file \(a FIFO\)/);
      if (existsSync('/dev/zero'))
        assert.match(special.find((x) => x[2] === 'meningioma/zero.png')![5], /not a regular file \(a device\)/);
      assert.equal(r.counts.corrupt ?? 0, 0);
    } finally {
      cleanup();
    }
  },
);

test('readImageBytes: devices refused, a size cap, unreadable paths named as unreadable', async () => {
  const { dir, cleanup } = tempDir();
  try {
    if (existsSync('/dev/zero'))
      await assert.rejects(
        readImageBytes('/dev/zero'),
        (e: CbirError) => e.code === 'image/not-a-file' && /\/dev\/zero/.test(e.message),
      );
    writeFileSync(join(dir, 'big.png'), Buffer.alloc(5000));
    await assert.rejects(readImageBytes(join(dir, 'big.png'), 4096), (e: CbirError) => {
      assert.equal(e.code, 'image/too-large');
      assert.match(e.message, /big\.png.*over the 0 MiB limit/);
      return true;
    });
    assert.equal((await readImageBytes(join(dir, 'big.png'))).length, 5000);
    // A path through a file (ENOTDIR) and a missing file: unreadable, said in words.
    await assert.rejects(readImageBytes(join(dir, 'big.png', 'x.png')), (e: CbirError) => {
      assert.equal(e.code, 'image/unreadable');
      assert.match(e.message, /a part of its path is a file, not a folder/);
      return true;
    });
    await assert.rejects(
      readImageBytes(join(dir, 'gone.png')),
      (e: CbirError) => e.code === 'image/unreadable' && /does not exist/.test(e.message),
    );
  } finally {
    cleanup();
  }
});

test('prepare: names with line breaks are refused (reported), broken links and unreadable images are "unreadable", not "corrupt"', async (t) => {
  const { dir, cleanup } = tempDir();
  try {
    const root = join(dir, 'mr');
    await classes(root);
    await png(join(root, 'glioma', 'two\nlines.png'));
    symlinkSync(join(dir, 'nowhere.png'), join(root, 'glioma', 'gone.png'));
    writeFileSync(join(dir, 'afile'), 'x');
    symlinkSync(join(dir, 'afile', 'inner.png'), join(root, 'glioma', 'through-a-file.png'));
    await png(join(root, 'meningioma', 'locked.png'));
    chmodSync(join(root, 'meningioma', 'locked.png'), 0o000);
    // A sparse 600 MiB "image" (no disk space used): refused by size before any byte is read.
    writeFileSync(join(root, 'meningioma', 'huge.png'), '');
    truncateSync(join(root, 'meningioma', 'huge.png'), 600 * 1024 * 1024);
    const out = join(dir, 'out');
    const r = await prepareDataset({ sources: [source(root)], out });
    const m = await readManifest(out);
    assert.ok(
      m.filepaths.every((f) => !/[\r\n]/.test(f)),
      'no path with a line break in the manifest',
    );
    const rs = rows(out);
    const bad = rs.find((x) => x[0] === 'bad-name')!;
    assert.equal(bad[2], 'glioma/two\nlines.png');
    assert.match(bad[5], /holds a line break .*rename it/);
    const unreadable = Object.fromEntries(rs.filter((x) => x[0] === 'unreadable').map((x) => [x[2], x[5]]));
    assert.match(unreadable['glioma/gone.png'], /cannot be followed: it does not exist/);
    assert.match(unreadable['glioma/through-a-file.png'], /a part of the path is a file, not a folder/);
    assert.match(unreadable['meningioma/huge.png'], /the file is 600 MiB, over the 512 MiB limit for one image/);
    assert.equal(r.counts.corrupt ?? 0, 0);
    if (isRoot) {
      assert.equal(m.size, 13, 'as root the chmod 000 image is still readable');
      t.diagnostic('running as root: chmod 000 does not stop reading, so the permission case is not exercised');
    } else {
      assert.match(unreadable['meningioma/locked.png'], /permission denied/);
      assert.equal(m.size, 12);
    }
  } finally {
    cleanup();
  }
});

test(
  'prepare: a symlinked class folder is followed; a link back into a scanned folder is a reported loop',
  { timeout: 60_000 },
  async () => {
    const { dir, cleanup } = tempDir();
    try {
      const root = join(dir, 'mr');
      await classes(root);
      const elsewhere = join(dir, 'elsewhere', 'pit');
      for (let i = 0; i < 4; i++) await png(join(elsewhere, `p${i}.png`));
      symlinkSync(elsewhere, join(root, 'pituitary'));
      symlinkSync('.', join(elsewhere, 'again')); // pit/again → pit
      symlinkSync('..', join(root, 'glioma', 'up')); // glioma/up → the source root
      const out = join(dir, 'out');
      const r = await prepareDataset({ sources: [source(root)], out });
      const m = await readManifest(out);
      const pit = m.classes.findIndex((c) => c.label === 'pituitary');
      assert.ok(pit >= 0, 'the linked folder is a class');
      assert.equal([...m.classIndex].filter((c) => c === pit).length, 4);
      assert.equal(r.manifest.size, 16);
      const loops = rows(out).filter((x) => x[0] === 'ignored-loop');
      assert.deepEqual(loops.map((x) => x[2]).sort(), ['glioma/up/', 'pituitary/again/']);
      assert.ok(
        !rows(out).some((x) => x[0] === 'ignored-non-image' && x[2] === 'pituitary'),
        'not dropped as "not an image file"',
      );
    } finally {
      cleanup();
    }
  },
);

test('prepare: an output folder that cannot be made is a CbirError naming the path and what to do', async (t) => {
  const { dir, cleanup } = tempDir();
  try {
    const root = join(dir, 'mr');
    await classes(root);
    writeFileSync(join(dir, 'afile'), 'x');
    for (const out of [join(dir, 'afile', 'out'), join(dir, 'afile')]) {
      await assert.rejects(prepareDataset({ sources: [source(root)], out }), (e: CbirError) => {
        assert.ok(e instanceof CbirError);
        assert.equal(e.code, 'fs/path-blocked');
        assert.match(e.message, /afile" is a file, not a folder/);
        assert.match(e.message, /choose another output folder/);
        return true;
      });
    }
    // A folder nobody may write: as root only a kernel file system refuses (EPERM on /sys).
    const ro = isRoot ? '/sys/cbir-test-out' : join(dir, 'ro', 'out');
    if (!isRoot) {
      mkdirSync(join(dir, 'ro'));
      chmodSync(join(dir, 'ro'), 0o555);
    } else if (!existsSync('/sys/kernel')) return t.skip('no /sys to stand for a folder that cannot be written');
    await assert.rejects(prepareDataset({ sources: [source(root)], out: ro }), (e: CbirError) => {
      assert.equal(e.code, 'fs/not-writable');
      assert.match(e.message, /cannot write here/);
      return true;
    });
  } finally {
    cleanup();
  }
});

test('prepare: a class folder that cannot be listed is a CbirError naming it', async (t) => {
  if (isRoot) return t.skip('running as root: a chmod 000 folder can still be listed');
  const { dir, cleanup } = tempDir();
  try {
    const root = join(dir, 'mr');
    await classes(root);
    chmodSync(join(root, 'glioma'), 0o000);
    await assert.rejects(prepareDataset({ sources: [source(root)], out: join(dir, 'out') }), (e: CbirError) => {
      assert.equal(e.code, 'source/unreadable-folder');
      assert.match(
        e.message,
        /glioma: mr: cannot read the folder \(permission denied\)|cannot read the folder \(permission denied\)/,
      );
      return true;
    });
    chmodSync(join(root, 'glioma'), 0o755);
  } finally {
    cleanup();
  }
});
