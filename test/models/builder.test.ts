import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { GraphBuilder } from '../../src/workbench/onnx/builder.js';

test('onnxruntime loads and runs a graph built with GraphBuilder (MatMul + Add + attributes)', async () => {
  const g = new GraphBuilder('tiny');
  const x = g.input('x', 'float32', ['batch', 3]);
  const w = g.initializer('w', Float32Array.from([1, 2, 3, 4, 5, 6]), [3, 2]);
  const b = g.initializer('b', Float32Array.from([0.5, -1]), [2]);
  const mm = g.op('MatMul', [x, w]);
  g.node('Add', [mm, b], ['y']);
  // ReduceSum over a negative axis exercises negative int64 varints; Transpose an ints attribute.
  const axes = g.constInt64([-1]);
  g.node('ReduceSum', ['y', axes], ['s'], { keepdims: { int: 0 } });
  g.node('Transpose', ['y'], ['yt'], { perm: { ints: [1, 0] } });
  g.node('LeakyRelu', ['y'], ['lr'], { alpha: { float: 0.25 } });
  g.output('y', 'float32', ['batch', 2]);
  g.output('s', 'float32', ['batch']);
  g.output('yt', 'float32', [2, 'batch']);
  g.output('lr', 'float32', ['batch', 2]);
  const session = await ort.InferenceSession.create(g.toBytes());
  try {
    assert.deepEqual([...session.inputNames], ['x']);
    assert.deepEqual([...session.outputNames], ['y', 's', 'yt', 'lr']);
    const input = new ort.Tensor('float32', Float32Array.from([1, 0, 0, 0, 1, -1]), [2, 3]);
    const out = await session.run({ x: input });
    // row0 = [1,2] + b = [1.5, 1]; row1 = [3,4] - [5,6] = [-2,-2] + b = [-1.5, -3]
    assert.deepEqual([...(out.y.data as Float32Array)], [1.5, 1, -1.5, -3]);
    assert.deepEqual([...(out.s.data as Float32Array)], [2.5, -4.5]);
    assert.deepEqual(out.yt.dims, [2, 2]);
    assert.deepEqual([...(out.yt.data as Float32Array)], [1.5, -1.5, 1, -3]);
    assert.deepEqual([...(out.lr.data as Float32Array)], [1.5, 1, -0.375, -0.75]);
  } finally {
    await session.release();
  }
});

test('GraphBuilder output is deterministic and rejects duplicate names', () => {
  const make = () => {
    const g = new GraphBuilder('det');
    const x = g.input('x', 'float32', [1, 2]);
    g.node('Relu', [x], ['y'], { z: { int: 1 }, a: { floats: [1, 2] } });
    g.output('y', 'float32', [1, 2]);
    return g.toBytes();
  };
  assert.deepEqual(make(), make());
  const g = new GraphBuilder('dup');
  g.input('x', 'float32', [1]);
  assert.throws(() => g.initializer('x', new Float32Array(1), [1]), /defined twice/);
  assert.throws(() => g.initializer('w', new Float32Array(2), [3]), /dims/);
});

test('int64 and tensor attributes round-trip through onnxruntime (Constant, Reshape, Gather)', async () => {
  const g = new GraphBuilder('consts');
  const x = g.input('x', 'float32', ['n', 4]);
  g.node('Constant', [], ['k'], { value: { tensor: { data: Float32Array.from([10, 20]), dims: [2] } } });
  const r = g.op('Reshape', [x, g.constInt64([-1, 2, 2])]);
  const idx = g.initializer('idx', BigInt64Array.from([1n]), []);
  const gathered = g.op('Gather', [r, idx], { axis: { int: 1 } });
  g.node('Add', [gathered, 'k'], ['out']);
  g.output('out', 'float32', ['n', 2]);
  const session = await ort.InferenceSession.create(g.toBytes());
  try {
    const out = await session.run({ x: new ort.Tensor('float32', Float32Array.from([1, 2, 3, 4]), [1, 4]) });
    assert.deepEqual(out.out.dims, [1, 2]);
    assert.deepEqual([...(out.out.data as Float32Array)], [13, 24]);
  } finally {
    await session.release();
  }
});
