/**
 * The TUI's background run, inside a worker thread so the screen stays responsive while the
 * benchmark computes (linear probing and exact search are synchronous): makes the phantom when
 * no dataset is given, then computes the report (`runReport`) and saves it (`saveReport`),
 * posting progress events and log lines.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { join } from 'node:path';
import { ensurePhantom, errorMessage, runReport, saveReport, withContext } from '../workbench/index.js';
import type { ProgressEvent } from '../workbench/index.js';
import type { RunMessage, RunRequest } from './runner.js';

const req = workerData as RunRequest;
const post = (m: RunMessage) => parentPort!.postMessage(m);
const onProgress = (event: ProgressEvent) => post({ type: 'progress', event });
const log = (line: string) => post({ type: 'log', line });

try {
  let data = req.data;
  if (!data) {
    const m = await ensurePhantom({ onProgress: withContext(onProgress, { step: 'data' }) });
    data = m.dir;
  }
  post({ type: 'data', dir: data });
  const run = await runReport({
    data,
    models: req.models,
    workDir: req.workDir ?? join(req.out, 'work'),
    replicates: req.replicates,
    probe: req.probe === false ? false : undefined,
    indexSize: req.indexSize === false ? false : 'auto',
    workers: req.workers,
    onProgress,
    log,
  });
  await saveReport(run, req.out, { figures: req.figures === false ? false : { png: 'auto', onProgress }, log });
  post({ type: 'done', out: req.out });
} catch (e) {
  post({ type: 'error', message: errorMessage(e) });
}
