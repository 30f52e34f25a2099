import assert from 'node:assert/strict';
import { CbirError } from '../../src/workbench/errors.js';

/** Assert that `p` rejects with a CbirError whose message matches `pattern` (and whose code is `code`). */
export async function rejectsCbir(p: Promise<unknown>, pattern: RegExp, code?: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof CbirError, `expected CbirError, got ${String(e)}`);
    assert.match(e.message, pattern);
    if (code) assert.equal(e.code, code);
    return true;
  });
}
