/**
 * `cbir report --embeddings`: finished stores (here a `cbir embed` store and its `cbir adapt`
 * output) evaluated in one report, beside a --models id, as `cbir adapt --help` tells users to.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { generatePhantom } from '../../src/workbench/index.js';
import { cbir } from '../helpers/cli.js';
import { tempDir } from '../helpers/datasets.js';

const QUICK = ['--no-figures', '--no-probe', '--index-size', 'off', '--replicates', '0'];

test('cbir report --embeddings scores a store and its adapted copy beside --models, named by their model ids', async () => {
  const { dir, cleanup } = tempDir('cbir-report-emb-');
  try {
    const data = join(dir, 'data');
    await generatePhantom({ out: data, seed: 4, scale: 0.1, size: 32 });
    const emb = join(dir, 'emb');
    const adapted = join(dir, 'adapted');
    assert.equal((await cbir('embed', '--data', data, '--model', 'hog4x4x9', '--out', emb, '--quiet')).code, 0);
    const a = await cbir('adapt', '--data', data, '--embeddings', emb, '--out', adapted, '--epochs', '3');
    assert.equal(a.code, 0, a.err);

    const out = join(dir, 'report');
    const r = await cbir(
      'report',
      '--data',
      data,
      '--models',
      'tiny16',
      '--embeddings',
      `${emb},${adapted}`,
      '--out',
      out,
      ...QUICK,
    );
    assert.equal(r.code, 0, r.err);
    const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'));
    const ids: string[] = report.models.map((x: { id?: string; modelId?: string }) => x.id ?? x.modelId);
    assert.equal(ids.length, 3, JSON.stringify(ids));
    assert.ok(ids.includes('tiny16') && ids.includes('hog4x4x9'), JSON.stringify(ids));
    assert.ok(
      ids.some((id) => id.startsWith('hog4x4x9+')),
      `adapted store named after its model: ${ids}`,
    );
    // the given stores are not re-embedded: the work folder holds only tiny16's embeddings
    const work = readdirSync(join(out, 'work'), { recursive: true }).map(String);
    assert.ok(
      work.some((f) => f.includes('tiny16')),
      JSON.stringify(work),
    );
    assert.ok(!work.some((f) => f.includes('hog4x4x9')), JSON.stringify(work));
    assert.match(r.out, /hog4x4x9\+/);

    // only stores: --models may be left out; neither is an error naming both flags
    const only = await cbir('report', '--data', data, '--embeddings', emb, '--out', join(dir, 'only'), ...QUICK);
    assert.equal(only.code, 0, only.err);
    const none = await cbir('report', '--data', data, '--out', join(dir, 'none'));
    assert.notEqual(none.code, 0);
    assert.match(none.err, /--models or --embeddings/);
  } finally {
    cleanup();
  }
});
