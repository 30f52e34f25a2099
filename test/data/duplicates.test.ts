import { test } from 'node:test';
import assert from 'node:assert/strict';
import { findDuplicates, type DuplicateItem } from '../../src/workbench/data/duplicates.js';

const item = (
  ref: string,
  byteHash: string,
  pixelHash: string,
  className: string,
  split?: DuplicateItem['split'],
): DuplicateItem => ({ ref, byteHash, pixelHash, className, split });

test('findDuplicates: the copy in the query split wins, then the lexicographically first ref', () => {
  const items = [
    item('d/Training/a/2.jpg', 'B1', 'P1', 'MR/brain/a', 'train'),
    item('d/Training/a/1.jpg', 'B1', 'P1', 'MR/brain/a', 'train'),
    item('d/Testing/a/9.jpg', 'B1', 'P1', 'MR/brain/a', 'test'),
    item('d/x/3.png', 'B2', 'P2', 'MR/brain/a'),
    item('d/x/1.png', 'B2', 'P2', 'MR/brain/a'),
    item('d/x/unique.png', 'B3', 'P3', 'MR/brain/a'),
  ];
  const r = findDuplicates(items);
  assert.equal(r.groups.length, 2);
  assert.deepEqual([...r.drop], [1, 1, 0, 1, 0, 0]);
  const g = r.groups.find((x) => x.members.includes(2))!;
  assert.equal(g.kept, 2);
  assert.deepEqual(g.members, [2, 1, 0]);
  assert.equal(g.identical, 'bytes');
  assert.equal(r.groups.find((x) => x.members.includes(3))!.kept, 4);
});

test('findDuplicates: val beats train, a given split beats none', () => {
  const r = findDuplicates([
    item('a', 'B', 'P', 'c', 'train'),
    item('b', 'B', 'P', 'c', 'val'),
    item('0', 'B', 'P', 'c'),
  ]);
  assert.equal(r.groups[0].kept, 1);
});

test('findDuplicates: copies with different classes are a label conflict and all dropped', () => {
  const r = findDuplicates([
    item('busi/benign/433.png', 'B', 'P', 'US/breast/benign'),
    item('busi/malignant/145.png', 'B', 'P', 'US/breast/malignant'),
    item('busi/benign/1.png', 'C', 'Q', 'US/breast/benign'),
  ]);
  assert.deepEqual([...r.drop], [2, 2, 0]);
  assert.equal(r.groups[0].conflict, true);
  assert.equal(r.groups[0].kept, -1);
  assert.deepEqual(r.groups[0].classes, ['US/breast/benign', 'US/breast/malignant']);
});

test('findDuplicates: same pixels with different bytes link copies, transitively', () => {
  // a~b by bytes, b~c by pixels only: one group of three.
  const r = findDuplicates([
    item('a', 'B1', 'P1', 'c'),
    item('b', 'B1', 'P1', 'c'),
    item('c', 'B2', 'P1', 'c'),
    item('d', 'B3', 'P3', 'c'),
  ]);
  assert.equal(r.groups.length, 1);
  assert.deepEqual(r.groups[0].members, [0, 1, 2]);
  assert.equal(r.groups[0].identical, 'pixels');
  assert.deepEqual([...r.drop], [0, 1, 1, 0]);
});
