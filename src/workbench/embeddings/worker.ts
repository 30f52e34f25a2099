import { parentPort, workerData } from 'node:worker_threads';
import { TaskRunner, toTaskError, transferables, type TaskSetup } from './tasks.js';

/**
 * Worker thread of the embedding pipeline: receives { id, paths } messages, runs the batch
 * (decode, preprocess or descriptor) and posts { id, result } or { id, error } back, moving
 * the result buffers instead of copying them.
 */
let runner: TaskRunner | null = null;
let setupError: unknown = null;
try {
  runner = new TaskRunner(workerData.setup as TaskSetup);
} catch (e) {
  setupError = e;
}

parentPort!.on('message', async (msg: { id: number; paths: string[] }) => {
  try {
    if (!runner) throw setupError;
    const result = await runner.run(msg.paths);
    parentPort!.postMessage({ id: msg.id, result }, transferables(result));
  } catch (e) {
    parentPort!.postMessage({ id: msg.id, error: toTaskError(e) });
  }
});
