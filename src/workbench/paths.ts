/**
 * Where the project keeps things, and the environment variables that move them. Every `CBIR_*`
 * variable the core reads is read here, so this file is the whole list:
 * - `CBIR_DATASETS`: the real datasets folder (default `../shared/datasets`);
 * - `CBIR_STUDY`: the study's reported tables (default `../shared/study`);
 * - `CBIR_MODELS`: study model weights (ONNX), searched before `models/weights`;
 * - `CBIR_CHROMIUM`: the Chromium binary for PNG figures ('' = none);
 * - `CBIR_IMAGES_ROOT`: where the images of a manifest are, overriding its dataset.json (see readManifest);
 * - `CBIR_HUB_URL`: the model hub `pullModel` builds hub URLs on (default https://huggingface.co).
 * Relative values are taken from the project root.
 */
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The project root (two levels above src/workbench). */
export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Generated, reusable files (the phantom dataset, built-in model graphs): `<project>/.cache`. */
export const CACHE_DIR = join(PROJECT_ROOT, '.cache');

/** The real datasets folder: $CBIR_DATASETS, default ../shared/datasets. */
export function datasetsDir(env: NodeJS.ProcessEnv = process.env): string {
  return resolve(PROJECT_ROOT, env.CBIR_DATASETS || '../shared/datasets');
}

/** Folder with the study's reported tables as CSV: $CBIR_STUDY, default ../shared/study. */
export function studyDir(env: NodeJS.ProcessEnv = process.env): string {
  return resolve(PROJECT_ROOT, env.CBIR_STUDY || '../shared/study');
}

/** $CBIR_MODELS as an absolute folder, or null when unset. */
export function modelsEnvDir(env: NodeJS.ProcessEnv = process.env): string | null {
  return env.CBIR_MODELS ? resolve(env.CBIR_MODELS) : null;
}

/** $CBIR_CHROMIUM: undefined when unset, '' when set empty (meaning: no browser). */
export function chromiumEnv(env: NodeJS.ProcessEnv = process.env): string | undefined {
  return env.CBIR_CHROMIUM;
}

/** $CBIR_IMAGES_ROOT as an absolute folder (relative values from the working directory), or null when unset. */
export function imagesRootEnv(env: NodeJS.ProcessEnv = process.env): string | null {
  return env.CBIR_IMAGES_ROOT ? resolve(env.CBIR_IMAGES_ROOT) : null;
}

/** Base URL of the model hub (Hugging Face layout <base>/<org/repo>/resolve/<revision>/<file>): $CBIR_HUB_URL, default https://huggingface.co. */
export function hubBaseUrl(env: NodeJS.ProcessEnv = process.env): string {
  return (env.CBIR_HUB_URL || 'https://huggingface.co').replace(/\/+$/, '');
}
