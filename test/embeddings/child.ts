/**
 * Child process for the crash tests: embeds a manifest with the fake extractor (or a descriptor)
 * and, when asked, kills itself with SIGKILL at a pipeline stage.
 * usage: node --import tsx test/embeddings/child.ts <dataDir> <out> <model: fake|descriptor id> <batch> <workers> [stage] [nth] [delayMs]
 */
import { readManifest } from '../../src/workbench/data/manifest.js';
import { embedManifest, type EmbedStage } from '../../src/workbench/embeddings/pipeline.js';
import { createDescriptor } from '../../src/workbench/models/descriptors/index.js';
import { FakeExtractor } from './fixtures.js';

const [dataDir, out, model, batch, workers, stage, nth, delay] = process.argv.slice(2);
const manifest = await readManifest(dataDir);
const extractor = model === 'fake' ? new FakeExtractor({ delayMs: Number(delay ?? 0) }) : createDescriptor(model);
let seen = 0;
const r = await embedManifest({
  manifest,
  extractor,
  out,
  batchSize: Number(batch),
  workers: Number(workers),
  chunkRows: 8,
  onStage: (s: EmbedStage) => {
    if (s === stage && ++seen >= Number(nth ?? 1)) process.kill(process.pid, 'SIGKILL');
  },
});
console.log(JSON.stringify({ contentHash: r.meta.contentHash, embedded: r.embedded, resumed: r.resumed }));
