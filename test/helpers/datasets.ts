import { existsSync } from 'node:fs';
import { resolve, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';

export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The real datasets folder: $CBIR_DATASETS, default ../shared/datasets from the project root. */
export const DATASETS_DIR = resolve(PROJECT_ROOT, process.env.CBIR_DATASETS ?? '../shared/datasets');

/**
 * `skip` option for node:test: false when the real datasets (or one sub-folder) exist,
 * otherwise a message that the test runner prints next to the skipped test.
 */
export function realData(sub?: string): false | string {
  const p = sub ? join(DATASETS_DIR, sub) : DATASETS_DIR;
  return existsSync(p) ? false : `real datasets not found at ${p} (set CBIR_DATASETS to run this test)`;
}

/** A fresh temporary folder, removed by the returned cleanup function. */
export function tempDir(prefix = 'cbir-test-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
