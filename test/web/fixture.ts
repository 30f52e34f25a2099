/**
 * The web tests' data: a small phantom, embedded with the built-in hog4x4x9 descriptor (no
 * download), its saved index (the train split, as `cbir index build` makes it), a finished report
 * on the same manifest (`runReport` + `saveReport`, as `cbir report` does), and helpers to start
 * `cbir serve`'s server in this process on 127.0.0.1 with a free port.
 */
import { join } from 'node:path';
import {
  buildSavedIndex,
  embedManifest,
  ensurePhantom,
  IndexSearcher,
  loadExtractor,
  runReport,
  saveReport,
  saveSavedIndex,
  type Extractor,
  type Manifest,
  type ReportData,
} from '../../src/workbench/index.js';
import { ReportBrowser, startServer, type SearchServer, type ServeOptions } from '../../src/web/index.js';
import { tempDir } from '../helpers/datasets.js';

export interface WebFixture {
  dir: string;
  manifest: Manifest;
  store: string;
  indexDir: string;
  reportDir: string;
  report: ReportData;
  cleanup: () => void;
}

export const MODEL = 'hog4x4x9';

/** Build the fixture (a few seconds): phantom → embeddings → index (train) and report. */
export async function webFixture(prefix: string, size = 32): Promise<WebFixture> {
  const tmp = tempDir(prefix);
  const manifest = await ensurePhantom({ dir: join(tmp.dir, 'data'), scale: 0.05, size, seed: 5 });
  const store = join(tmp.dir, 'emb');
  const extractor = await loadExtractor(MODEL);
  try {
    await embedManifest({ manifest, extractor, out: store, batchSize: 32, workers: 0 });
  } finally {
    await extractor.close();
  }
  const built = await buildSavedIndex({ store, manifest });
  const indexDir = join(tmp.dir, 'index');
  await saveSavedIndex(built, indexDir);
  await built.index.close();
  const reportDir = join(tmp.dir, 'report');
  const run = await runReport({
    data: manifest,
    models: [MODEL],
    workDir: join(reportDir, 'work'),
    replicates: 20,
    probe: false,
    indexSize: false,
    workers: 1,
  });
  const report = await saveReport(run, reportDir, { figures: false });
  return { dir: tmp.dir, manifest, store, indexDir, reportDir, report, cleanup: tmp.cleanup };
}

/** hog4x4x9 whose embed waits `ms` first and counts how many embeds run at once. */
export async function slowExtractor(ms: number): Promise<{ extractor: Extractor; peak: () => number }> {
  const inner = await loadExtractor(MODEL);
  let running = 0;
  let peak = 0;
  const extractor: Extractor = {
    id: inner.id,
    dim: inner.dim,
    fingerprint: inner.fingerprint,
    async embed(images) {
      running++;
      peak = Math.max(peak, running);
      try {
        await new Promise((r) => setTimeout(r, ms));
        return await inner.embed(images);
      } finally {
        running--;
      }
    },
    close: () => inner.close(),
  };
  return { extractor, peak: () => peak };
}

/** A started server over the fixture's index (and report), with what it needs to be closed. */
export interface Served {
  server: SearchServer;
  searcher: IndexSearcher;
  url: string;
  close: () => Promise<void>;
}

export async function serve(
  fx: WebFixture,
  opts: Partial<ServeOptions> & { withReport?: boolean; extractor?: Extractor } = {},
): Promise<Served> {
  const searcher = await IndexSearcher.open(fx.indexDir, opts.extractor ? { extractor: opts.extractor } : {});
  const report = opts.withReport ? await ReportBrowser.open(fx.reportDir) : null;
  const server = await startServer({ ...opts, searcher, report, host: '127.0.0.1', port: 0 });
  return {
    server,
    searcher,
    url: server.url,
    close: async () => {
      await server.close();
      await searcher.close();
    },
  };
}
