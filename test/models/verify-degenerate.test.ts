import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GraphBuilder } from '../../src/workbench/onnx/builder.js';
import { findCard } from '../../src/workbench/models/registry.js';
import { verifyModel } from '../../src/workbench/models/pull.js';
import { cbir } from '../helpers/cli.js';
import { tempDir } from '../helpers/datasets.js';

/**
 * An ONNX file with resnet50's card interface (pixel_values [N,3,224,224] → logits [N,1000]) whose
 * output ignores the image: zeros, a constant vector, or (control) a linear map of the channel means.
 */
function writeGraph(file: string, kind: 'zero' | 'constant' | 'linear'): void {
  const dim = 1000;
  const g = new GraphBuilder(`verify-${kind}`);
  const x = g.input('pixel_values', 'float32', ['batch', 3, 224, 224]);
  const mean = g.op('ReduceMean', [x], { axes: { ints: [2, 3] }, keepdims: { int: 0 } });
  const w = new Float32Array(3 * dim);
  if (kind === 'linear') for (let i = 0; i < w.length; i++) w[i] = Math.sin(i + 1);
  const y = g.op('MatMul', [mean, g.initializer('w', w, [3, dim])]);
  const b = new Float32Array(dim);
  if (kind === 'constant') for (let i = 0; i < dim; i++) b[i] = 1 + (i % 7);
  g.node('Add', [y, g.initializer('b', b, [dim])], ['logits']);
  g.output('logits', 'float32', ['batch', dim]);
  writeFileSync(file, g.toBytes());
}

test('models verify fails a model whose output is all zeros or the same for every image (library)', async () => {
  const { dir, cleanup } = tempDir('cbir-verify-degenerate-');
  const card = findCard('resnet50')!;
  try {
    const files = Object.fromEntries(
      (['zero', 'constant', 'linear'] as const).map((k) => {
        const f = join(dir, `${k}.onnx`);
        writeGraph(f, k);
        return [k, f];
      }),
    );
    const zero = await verifyModel(card, { modelPath: files.zero });
    assert.equal(zero.ok, false);
    assert.equal(zero.problems.length, 1, zero.problems.join('; '));
    assert.match(
      zero.problems[0],
      /^zero-norm embeddings .* from model "resnet50" for 4 of 4 distinct phantom images: phantom image 1 \(CT\/head\/normal\)/,
    );
    assert.match(zero.problems[0], /\(verify\/zero-norm\); check the model/);
    const constant = await verifyModel(card, { modelPath: files.constant });
    assert.equal(constant.ok, false);
    assert.match(constant.problems.join('; '), /model "resnet50" gives the same embedding .* for all 4 images/);
    assert.match(constant.problems.join('; '), /verify\/constant/);
    // the control: the same graph with weights that depend on the image passes this check
    const linear = await verifyModel(card, { modelPath: files.linear });
    assert.deepEqual(linear.problems, []);
    assert.equal(linear.ok, true);
  } finally {
    cleanup();
  }
});

test('cbir models verify --json: ok false and the degenerate-output problem for a zero-output model', async () => {
  const { dir, cleanup } = tempDir('cbir-verify-degenerate-cli-');
  try {
    const zero = join(dir, 'zero.onnx');
    writeGraph(zero, 'zero');
    const r = await cbir('models', 'verify', 'resnet50', '--model', zero, '--json');
    assert.equal(r.code, 1, r.err);
    const v = JSON.parse(r.out) as { id: string; ok: boolean; path: string; problems: string[] };
    assert.deepEqual([v.id, v.ok, v.path], ['resnet50', false, zero]);
    assert.ok(
      v.problems.some((p) => /zero-norm embeddings .* for 4 of 4 distinct phantom images/.test(p)),
      v.problems.join('; '),
    );
    const constant = join(dir, 'constant.onnx');
    writeGraph(constant, 'constant');
    const c = await cbir('models', 'verify', 'resnet50', '--model', constant);
    assert.equal(c.code, 1);
    assert.match(c.out, /resnet50: FAILED/);
    assert.match(c.err, /problem: model "resnet50" gives the same embedding/);
  } finally {
    cleanup();
  }
});
