/**
 * Child of resume.test.ts: computes the test and val tables of the shared fixture with tiny query
 * blocks and stops dead (it prints "ready" and waits to be killed with SIGKILL) once the test
 * table has `argv[3]` queries done, i.e. mid-search with blocks in the journal.
 */
import { knnTablesCached } from '../../src/workbench/knn/index.js';
import { fixture } from './resume-fixture.js';

const [cacheDir, stopAt] = [process.argv[2], Number(process.argv[3])];
const f = fixture();
await knnTablesCached(
  {
    ...f.common,
    cacheDir,
    onProgress: (e) => {
      if (e.unit === 'queries' && e.done >= stopAt) {
        process.stdout.write('ready\n');
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0); // hold here until the kill
      }
    },
  },
  f.splits,
);
