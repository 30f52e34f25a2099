import { join } from 'node:path';
import {
  generatePhantom,
  runReport,
  saveReport,
  type ReportData,
  type ReportOptions,
  type ReportRun,
} from '../../src/workbench/index.js';
import { tempDir } from './datasets.js';

/** A report computed and saved on a fresh phantom, as the report tests share it. */
export interface PhantomReport {
  tmp: { dir: string; cleanup: () => void };
  /** The phantom's manifest folder (<tmp>/data). */
  data: string;
  /** The saved report's folder (<tmp>/report; its work folder is <tmp>/report/work). */
  out: string;
  run: ReportRun;
  saved: ReportData;
}

/**
 * Generate a phantom of 32-pixel images into <tmp>/data, run `runReport` on it in this process
 * (workers 0) with `options`, and save it without figures into <tmp>/report.
 */
export async function phantomReport(
  phantom: { seed: number; scale: number },
  options: Omit<ReportOptions, 'data' | 'workDir'>,
): Promise<PhantomReport> {
  const tmp = tempDir();
  try {
    const data = join(tmp.dir, 'data');
    await generatePhantom({ out: data, seed: phantom.seed, scale: phantom.scale, size: 32 });
    const out = join(tmp.dir, 'report');
    const run = await runReport({ data, workDir: join(out, 'work'), workers: 0, ...options });
    const saved = await saveReport(run, out, { figures: false });
    return { tmp, data, out, run, saved };
  } catch (e) {
    tmp.cleanup();
    throw e;
  }
}
