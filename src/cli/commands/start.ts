import { join } from 'node:path';
import {
  CbirError,
  consoleProgress,
  datasetStats,
  ensurePhantom,
  formatStats,
  PROJECT_ROOT,
  withContext,
} from '../../workbench/index.js';
import { parseOptions } from '../options.js';
import { REPORT_OPTIONS, reportFromValues, type ReportValues } from './report.js';

export const summary = 'the main job: the full benchmark on the embedded phantom dataset (or --data)';

/** Built-in extractors compared by default: classical descriptors and project-built ONNX graphs. */
export const DEFAULT_MODELS = ['classic', 'hog4x4x9', 'tiny16', 'tiny-vit', 'tiny-cnn', 'tiny-sam'];

export const usage = `usage: cbir start [--data <manifest dir>] [--models <ids>] [--out <dir>] [cbir report options]

Without --data: generates (once, cached in .cache/) the deterministic synthetic phantom dataset
(CT, MR, XR, US; anatomical and pathological classes), describes it, and runs the full benchmark
with the built-in extractors (${DEFAULT_MODELS.join(', ')}) into runs/start (or --out).
Run \`cbir report --help\` for the other options.`;

export async function run(args: string[]): Promise<number> {
  const { values } = parseOptions('start', {
    args,
    options: { ...REPORT_OPTIONS, scale: { type: 'string' } },
    strict: true,
  });
  let data = values.data;
  if (!data) {
    const scale = values.scale !== undefined ? Number(values.scale) : 1;
    if (!(scale > 0))
      throw new CbirError(`--scale must be a positive number, got "${values.scale}"`, {
        hint: 'e.g. --scale 0.3',
        code: 'cli/bad-option',
      });
    console.error('Embedded default: the synthetic phantom dataset (deterministic, seed 0).');
    const m = await ensurePhantom({ scale, onProgress: withContext(consoleProgress(), { step: 'data' }) });
    console.log(formatStats(datasetStats(m)));
    data = m.dir;
  }
  return reportFromValues(values as ReportValues, {
    data,
    models: DEFAULT_MODELS,
    out: values.out ?? join(PROJECT_ROOT, 'runs', 'start'),
  });
}
