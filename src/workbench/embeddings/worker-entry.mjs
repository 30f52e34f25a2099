// Bootstrap of the embedding worker threads. A Worker cannot start from a .ts file, and the
// TypeScript loader of the main thread (`node --import tsx`, or tsx's register() in bin/cbir.js)
// is not inherited by worker threads in every Node version, so register tsx here, then load
// the TypeScript worker.
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
await import(workerData.entry);
