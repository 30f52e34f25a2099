import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../helpers/datasets.js';

// tsx runs the sources without checking types; this keeps the whole project type-correct.
test('the project typechecks (tsc --noEmit)', { timeout: 180_000 }, () => {
  const r = spawnSync(
    process.execPath,
    [join(PROJECT_ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '--noEmit', '-p', PROJECT_ROOT],
    { encoding: 'utf8' },
  );
  assert.equal(r.status, 0, `tsc reported errors:\n${r.stdout}${r.stderr}`);
});
