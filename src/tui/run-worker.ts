/**
 * The TUI's background run, inside a worker thread so the screen stays responsive while the
 * benchmark computes (linear probing and exact search are synchronous): makes the phantom when
 * no dataset is given, then calls `runReport`, posting progress events and log lines.
 */
import { errorMessage } from '../workbench/index.js';
import { parentPort, workerData } from 'node:worker_threads';
import { ensurePhantom } from '../workbench/data/phantom.js';
import { runReport } from '../workbench/benchmark/report.js';
import type { RunMessage, RunRequest } from './runner.js';

const req = workerData as RunRequest;
const post = (m: RunMessage) => parentPort!.postMessage(m);

try {
  let data = req.data;
  if (!data) {
    const m = await ensurePhantom({ onProgress: (event) => post({ type: 'progress', event }) });
    data = m.dir;
  }
  post({ type: 'data', dir: data });
  const res = await runReport({
    data,
    models: req.models,
    out: req.out,
    workDir: req.workDir,
    replicates: req.replicates,
    probe: req.probe === false ? false : undefined,
    indexSize: req.indexSize === false ? false : 'auto',
    workers: req.workers,
    figures: req.figures === false ? false : undefined,
    onProgress: (event) => post({ type: 'progress', event }),
    log: (line) => post({ type: 'log', line }),
  });
  post({ type: 'done', out: res.out });
} catch (e) {
  post({ type: 'error', message: errorMessage(e) });
}
