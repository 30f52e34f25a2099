import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { tempDir } from '../helpers/datasets.js';
import { sha256File } from '../../src/workbench/util/fsx.js';
import { decodeImage } from '../../src/workbench/images/decode.js';
import { readManifest } from '../../src/workbench/data/manifest.js';
import { CbirError } from '../../src/workbench/errors.js';
import {
  generatePhantom,
  ensurePhantom,
  phantomCacheDir,
  PROJECT_ROOT,
  PHANTOM_VERSION,
  PHANTOM_CLASSES,
} from '../../src/workbench/data/phantom.js';

/** sha256 of every file under `dir`, by relative path. */
async function treeHashes(dir: string, sub = ''): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const name of readdirSync(join(dir, sub))) {
    const rel = sub ? `${sub}/${name}` : name;
    if (statSync(join(dir, rel)).isDirectory()) for (const [k, v] of await treeHashes(dir, rel)) out.set(k, v);
    else out.set(rel, await sha256File(join(dir, rel)));
  }
  return out;
}

test('generatePhantom is deterministic: same seed and scale give byte-identical files and manifest hash; another seed differs', async () => {
  const { dir, cleanup } = tempDir('cbir-phantom-');
  try {
    const a = await generatePhantom({ out: join(dir, 'a'), seed: 3, scale: 0.05 });
    const b = await generatePhantom({ out: join(dir, 'b'), seed: 3, scale: 0.05 });
    const c = await generatePhantom({ out: join(dir, 'c'), seed: 4, scale: 0.05 });
    assert.equal(a.hash, b.hash);
    assert.notEqual(a.hash, c.hash);
    const ha = await treeHashes(join(dir, 'a'));
    const hb = await treeHashes(join(dir, 'b'));
    const hc = await treeHashes(join(dir, 'c'));
    assert.equal(ha.size, a.size + 3, 'one PNG per row plus manifest.csv, classes.csv, dataset.json');
    assert.deepEqual(hb, ha);
    let same = 0;
    for (const [k, v] of ha) if (k.endsWith('.png') && hc.get(k) === v) same++;
    assert.equal(same, 0, 'a different seed changes every image');
  } finally {
    cleanup();
  }
});

test('generated dataset: manifest round-trips, every split holds every class, images decode at the configured size', async () => {
  const { dir, cleanup } = tempDir('cbir-phantom-');
  try {
    const out = join(dir, 'ds');
    const events: number[] = [];
    const m = await generatePhantom({ out, seed: 1, scale: 0.02, size: 48, onProgress: (e) => events.push(e.done) });
    assert.equal(events.at(-1), m.size, 'progress reaches the total');
    const back = await readManifest(out);
    assert.equal(back.hash, m.hash);
    assert.equal(back.size, m.size);
    assert.deepEqual(
      back.classes.map((c) => [c.name, c.kind]),
      PHANTOM_CLASSES.map((c) => [c.name, c.kind]),
    );
    assert.deepEqual(back.datasets.slice().sort(), ['phantom-ct', 'phantom-mr', 'phantom-us', 'phantom-xr']);
    for (const split of ['train', 'val', 'test'] as const) {
      for (const [k, n] of back.classCounts(split).entries())
        assert.ok(n >= 1, `${back.classes[k].name} has no ${split} image`);
    }
    const meta = JSON.parse(readFileSync(join(out, 'dataset.json'), 'utf8'));
    assert.equal(meta.generator, 'radcbir-phantom');
    assert.equal(meta.version, PHANTOM_VERSION);
    assert.equal(meta.seed, 1);
    assert.equal(meta.scale, 0.02);
    assert.equal(meta.size, 48);
    assert.equal(meta.imagesRoot, '.');
    assert.equal(meta.manifestHash, m.hash);
    for (let i = 0; i < back.size; i++) {
      assert.ok(back.filepaths[i].startsWith('images/'));
      assert.ok(back.resolvePath(i).startsWith(out));
    }
    for (let i = 0; i < back.size; i += 7) {
      const img = await decodeImage(back.resolvePath(i));
      assert.equal(img.width, 48);
      assert.equal(img.height, 48);
      assert.equal(img.grayscale, true);
    }
    await assert.rejects(generatePhantom({ out: join(dir, 'bad'), scale: -1 }), CbirError);
    assert.ok(!existsSync(join(dir, 'bad')), 'nothing written for bad options');
  } finally {
    cleanup();
  }
});

test('ensurePhantom reuses a complete dataset without rewriting it and regenerates an incomplete one', async () => {
  const { dir, cleanup } = tempDir('cbir-phantom-');
  try {
    const ds = join(dir, 'cache', 'phantom');
    const opts = { dir: ds, seed: 2, scale: 0.01, size: 32 };
    const first = await ensurePhantom(opts);
    assert.equal(first.dir, ds);
    const files = ['manifest.csv', 'dataset.json', first.filepaths[0], first.filepaths[first.size - 1]];
    const mtimes = files.map((f) => statSync(join(ds, f)).mtimeMs);
    const second = await ensurePhantom(opts);
    assert.equal(second.hash, first.hash);
    assert.deepEqual(
      files.map((f) => statSync(join(ds, f)).mtimeMs),
      mtimes,
      'second call rewrote files',
    );
    assert.deepEqual(readdirSync(join(dir, 'cache')), ['phantom'], 'no temporary folders left');

    // a missing image makes the folder incomplete: regenerated, same content
    const victim = join(ds, first.filepaths[5]);
    const before = await sha256File(victim);
    unlinkSync(victim);
    // a temporary folder left by a killed run (dead pid) is cleaned up on the way
    const dead = spawnSync(process.execPath, ['-e', '0']).pid;
    const stale = `${ds}.tmp-${dead}-zzz`;
    mkdirSync(join(stale, 'images'), { recursive: true });
    const third = await ensurePhantom(opts);
    assert.equal(third.hash, first.hash);
    assert.equal(await sha256File(victim), before);
    assert.ok(!existsSync(stale), 'stale temporary folder removed');

    // no dataset.json (e.g. a copy interrupted half-way) is not a finished dataset either
    unlinkSync(join(ds, 'dataset.json'));
    const fourth = await ensurePhantom(opts);
    assert.equal(fourth.hash, first.hash);
    assert.ok(existsSync(join(ds, 'dataset.json')));

    // other parameters in the same folder: rebuilt for the new ones
    const other = await ensurePhantom({ ...opts, seed: 9 });
    assert.notEqual(other.hash, first.hash);
    assert.equal(JSON.parse(readFileSync(join(ds, 'dataset.json'), 'utf8')).seed, 9);
    assert.deepEqual(readdirSync(join(dir, 'cache')), ['phantom']);
  } finally {
    cleanup();
  }
});

test('ensurePhantom never replaces a folder that is not a phantom dataset', async () => {
  const { dir, cleanup } = tempDir('cbir-phantom-');
  try {
    const mine = join(dir, 'mine');
    mkdirSync(mine);
    writeFileSync(join(mine, 'notes.txt'), 'keep me');
    await assert.rejects(
      ensurePhantom({ dir: mine, scale: 0.01, size: 32 }),
      (e: unknown) => e instanceof CbirError && e.file === mine && /not part of a phantom/.test(e.message),
    );
    assert.equal(readFileSync(join(mine, 'notes.txt'), 'utf8'), 'keep me');
  } finally {
    cleanup();
  }
});

test('default cache folder is <project root>/.cache/phantom-v<version>-s<seed>-x<scale>', () => {
  assert.ok(existsSync(join(PROJECT_ROOT, 'package.json')));
  assert.equal(phantomCacheDir(), join(PROJECT_ROOT, '.cache', `phantom-v${PHANTOM_VERSION}-s0-x1`));
  assert.equal(
    phantomCacheDir({ seed: 7, scale: 0.1 }),
    join(PROJECT_ROOT, '.cache', `phantom-v${PHANTOM_VERSION}-s7-x0.1`),
  );
  assert.equal(phantomCacheDir({ size: 128 }), join(PROJECT_ROOT, '.cache', `phantom-v${PHANTOM_VERSION}-s0-x1-128px`));
  assert.throws(() => phantomCacheDir({ seed: -1 }), CbirError);
  assert.throws(() => phantomCacheDir({ size: 8 }), CbirError);
});
