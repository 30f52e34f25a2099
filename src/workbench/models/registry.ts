/**
 * One list of every model the workbench can embed with: built-in ONNX graphs, built-in
 * classical descriptors, and the study's models (cards in models/, weights pulled or exported).
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CbirError } from '../errors.js';
import { closest } from '../util/closest.js';
import { BUILTIN_CARDS, builtinGraphOf } from './builtin/index.js';
import { loadCards } from './cards.js';
import { findWeights, loadOnnxExtractor, type OnnxExtractorOptions } from './onnx/extractor.js';
import { lastReferenceCheck, referencePath } from './reference.js';
import { BUILTIN_CACHE_DIR, CARDS_DIR, weightsDirs } from './paths.js';
import type { Extractor, ModelCard, Pooling } from './types.js';

export interface ModelInfo {
  id: string;
  name: string;
  /** Embedding dimension. */
  dim: number;
  /** True for models that need no download (built-in graphs and descriptors). */
  builtin: boolean;
  kind: 'builtin-onnx' | 'descriptor' | 'study';
  /** Whether the model can run now (built-ins always; study models when their ONNX file is present). */
  weightsPresent: boolean;
  /** The ONNX file (built-ins: where it is written on first use), or null for descriptors / missing weights. */
  path: string | null;
  pooling?: Pooling;
  /** Study name (Table 2) of a study model. */
  studyName?: string;
  /**
   * Study models with weights: the last reference check of this file ('passed' / 'failed'),
   * 'not-checked' when its `<id>.reference.json` was never checked, 'no-reference' when it has none.
   */
  referenceCheck?: 'passed' | 'failed' | 'not-checked' | 'no-reference';
}

interface DescriptorsModule {
  listDescriptors(): { id: string; name: string; dim: number; description: string }[];
  createDescriptor(id: string): Extractor;
}

const here = dirname(fileURLToPath(import.meta.url));

/**
 * The built-in descriptors module, imported lazily: it is only skipped when its file does not
 * exist (a checkout without descriptors); a present module that fails to import is an error.
 */
async function descriptorsModule(): Promise<DescriptorsModule | null> {
  const base = join(here, 'descriptors', 'index');
  if (!existsSync(`${base}.ts`) && !existsSync(`${base}.js`)) return null;
  const specifier = './descriptors/index.js'; // a variable: typechecks without the module present
  return (await import(specifier)) as DescriptorsModule;
}

/** The study model cards (models/*.json), validated. */
export function studyCards(dir = CARDS_DIR): ModelCard[] {
  return existsSync(dir) ? loadCards(dir) : [];
}

/** The card (built-in or study) with this id, or undefined. */
export function findCard(id: string, cardsDir = CARDS_DIR): ModelCard | undefined {
  return BUILTIN_CARDS.find((c) => c.id === id) ?? studyCards(cardsDir).find((c) => c.id === id);
}

/** Every model: built-in ONNX graphs, built-in descriptors, then the study models. */
export async function listModels(opts: { cardsDir?: string } = {}): Promise<ModelInfo[]> {
  const out: ModelInfo[] = [];
  for (const c of BUILTIN_CARDS) {
    out.push({
      id: c.id,
      name: c.name,
      dim: c.dim,
      builtin: true,
      kind: 'builtin-onnx',
      weightsPresent: true,
      path: join(BUILTIN_CACHE_DIR, `${builtinGraphOf(c)}.onnx`),
      pooling: c.pooling,
    });
  }
  const desc = await descriptorsModule();
  for (const d of desc?.listDescriptors() ?? []) {
    out.push({
      id: d.id,
      name: d.name,
      dim: d.dim,
      builtin: true,
      kind: 'descriptor',
      weightsPresent: true,
      path: null,
    });
  }
  for (const c of studyCards(opts.cardsDir)) {
    const p = findWeights(c);
    out.push({
      id: c.id,
      name: c.name,
      dim: c.dim,
      builtin: false,
      kind: 'study',
      weightsPresent: p !== undefined,
      path: p ?? null,
      pooling: c.pooling,
      studyName: c.studyName,
      ...(p ? { referenceCheck: referenceStatus(c, p) } : {}),
    });
  }
  return out;
}

function referenceStatus(card: ModelCard, path: string): NonNullable<ModelInfo['referenceCheck']> {
  const last = lastReferenceCheck(card, path);
  if (last) return last.ok ? 'passed' : 'failed';
  return existsSync(referencePath(card, path)) ? 'not-checked' : 'no-reference';
}

/**
 * An Extractor for any model id: a built-in descriptor, a built-in ONNX graph, or a study model
 * (its ONNX file from $CBIR_MODELS or models/weights, unless `opts.modelPath` is given).
 */
export async function loadExtractor(
  id: string,
  opts: OnnxExtractorOptions & { cardsDir?: string } = {},
): Promise<Extractor> {
  const builtin = BUILTIN_CARDS.find((c) => c.id === id);
  if (builtin) return loadOnnxExtractor(builtin, opts);
  const desc = await descriptorsModule();
  if (desc && desc.listDescriptors().some((d) => d.id === id)) return desc.createDescriptor(id);
  const card = studyCards(opts.cardsDir).find((c) => c.id === id);
  if (card) return loadOnnxExtractor(card, opts);
  const known = (await listModels({ cardsDir: opts.cardsDir })).map((m) => m.id);
  const near = closest(id, known);
  throw new CbirError(`unknown model "${id}"${near ? `; did you mean "${near}"?` : ''}`, {
    file: opts.cardsDir ?? CARDS_DIR,
    hint: `known models: ${known.join(', ')}; study weights are looked for in ${weightsDirs().join(', ')}`,
    code: 'model/unknown',
  });
}
