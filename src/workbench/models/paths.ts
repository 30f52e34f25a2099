/** Where model cards, study weights and built-in graphs live. */
import { join } from 'node:path';

import { CACHE_DIR, PROJECT_ROOT, modelsEnvDir } from '../paths.js';

export { PROJECT_ROOT };

/** Folder of the study model cards: <project>/models. */
export const CARDS_DIR = join(PROJECT_ROOT, 'models');

/** Folder the project-built graphs are written to: <project>/.cache/models. */
export const BUILTIN_CACHE_DIR = join(CACHE_DIR, 'models');

/**
 * Folders searched for a study model's ONNX file, first match wins: $CBIR_MODELS (when set),
 * then <project>/models/weights (git-ignored).
 */
export function weightsDirs(): string[] {
  const dirs: string[] = [];
  const env = modelsEnvDir();
  if (env) dirs.push(env);
  dirs.push(join(PROJECT_ROOT, 'models', 'weights'));
  return dirs;
}

/** Where `cbir models pull` writes a study model: $CBIR_MODELS when set, else models/weights. */
export function defaultWeightsDir(): string {
  return weightsDirs()[0];
}
