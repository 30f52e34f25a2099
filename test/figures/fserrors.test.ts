import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fsError } from '../../src/workbench/util/fserrors.js';
import { CbirError } from '../../src/workbench/errors.js';

/** A Node-style file-system error (tests run as root, so chmod cannot make one). */
const nodeError = (code: string, path: string) => Object.assign(new Error(`${code}: ${path}`), { code, path });

test('fsError: permission denied on an input outside the output folder is a read failure, not "cannot write"', () => {
  const e = fsError(nodeError('EACCES', '/data/images/a.png'), '/runs/rep/figures', 'writing the figures');
  assert.ok(e instanceof CbirError);
  assert.equal(e.code, 'fs/not-readable');
  assert.equal(e.file, '/data/images/a.png');
  assert.match(e.message, /cannot read this file \(permission denied\) while writing the figures/);
  assert.match(e.hint ?? '', /readable/);
});

test('fsError: permission denied inside, beside (a temp file) or above (a mkdir) the output is still "cannot write"', () => {
  for (const file of ['/runs/rep/figures/a.png', '/runs/rep/figures.tmp-1', '/runs']) {
    const e = fsError(nodeError('EACCES', file), '/runs/rep/figures', 'writing the figures');
    assert.ok(e instanceof CbirError, file);
    assert.equal(e.code, 'fs/not-writable', file);
    assert.match(e.message, /cannot write here \(permission denied\)/);
  }
  const sibling = fsError(nodeError('EACCES', '/runs/rep/images/a.png'), '/runs/rep/figures', 'writing the figures');
  assert.equal(
    (sibling as CbirError).code,
    'fs/not-readable',
    'an input beside the output folder is read, not written',
  );
  const ro = fsError(nodeError('EROFS', '/data/a.png'), '/runs/rep', 'saving');
  assert.equal((ro as CbirError).code, 'fs/not-writable', 'a read-only file system only fails writes');
});
