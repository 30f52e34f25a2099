/** Where model cards, study weights and built-in graphs live. */
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The project root (three levels above src/workbench/models). */
export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** Folder of the study model cards: <project>/models. */
export const CARDS_DIR = join(PROJECT_ROOT, 'models');

/** Folder the project-built graphs are written to: <project>/.cache/models. */
export const BUILTIN_CACHE_DIR = join(PROJECT_ROOT, '.cache', 'models');

/**
 * Folders searched for a study model's ONNX file, first match wins: $CBIR_MODELS (when set),
 * then <project>/models/weights (git-ignored).
 */
export function weightsDirs(): string[] {
  const dirs: string[] = [];
  if (process.env.CBIR_MODELS) dirs.push(resolve(process.env.CBIR_MODELS));
  dirs.push(join(PROJECT_ROOT, 'models', 'weights'));
  return dirs;
}

/** Where `cbir models pull` writes a study model: $CBIR_MODELS when set, else models/weights. */
export function defaultWeightsDir(): string {
  return weightsDirs()[0];
}
