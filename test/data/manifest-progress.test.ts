import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readManifest } from '../../src/workbench/data/manifest.js';
import type { ProgressEvent } from '../../src/workbench/util/progress.js';
import { tempDir } from '../helpers/datasets.js';

test('readManifest: progress while reading a large CSV, in MiB of the file, ending at its size', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const splits = ['train', 'val', 'test'];
    const lines = ['filepath,dataset,split,modality,anatomic_region,MR/brain/notumor,MR/brain/glioma'];
    for (let i = 0; i < 60_000; i++)
      lines.push(`images/some/longer/folder/name/${i}.png,mr,${splits[i % 3]},MR,brain,${i % 2},${1 - (i % 2)}`);
    writeFileSync(join(dir, 'manifest.csv'), lines.join('\n') + '\n'); // ≈ 3.8 MiB: a few 1 MiB chunks
    const events: ProgressEvent[] = [];
    const m = await readManifest(dir, { onProgress: (e) => events.push(e) });
    assert.equal(m.size, 60_000);
    assert.ok(events.length >= 2, `${events.length} events`);
    assert.ok(events.every((e) => e.phase === 'read manifest' && e.unit === 'MiB' && e.total === 4));
    const done = events.map((e) => e.done);
    assert.deepEqual(
      done,
      [...done].sort((a, b) => a - b),
      'done never goes back',
    );
    assert.equal(done.at(-1), 4, 'the last event is the whole file');
    const quiet = await readManifest(dir);
    assert.equal(quiet.hash, m.hash, 'progress changes nothing read');
  } finally {
    cleanup();
  }
});
