/**
 * Light adapters on frozen embeddings (beyond the study): a residual linear or one-hidden-layer
 * projection trained on the train split with the supervised contrastive loss, early-stopped on
 * val, applied to every row. The result is an ordinary embedding store that every command takes.
 *
 *   const run = await adaptEmbeddings(manifest, store, { kind: 'linear' });
 *   await saveAdaptedStore(run, store, 'runs/adapted');
 */
import { createHash } from 'node:crypto';
import type { Manifest } from '../data/manifest.js';
import { CbirError } from '../errors.js';
import type { EmbeddingStore, EmbeddingsMeta } from '../embeddings/index.js';
import { writeEmbeddings } from '../embeddings/store.js';
import { trainAdapter, type TrainAdapterOptions, type TrainedAdapter } from './train.js';

export { Adapter, type AdapterKind, type AdapterSpec } from './adapter.js';
export { supConLoss } from './supcon.js';
export {
  trainAdapter,
  valPrecisionAt1,
  type TrainAdapterOptions,
  type TrainedAdapter,
  type AdapterEpoch,
} from './train.js';

export interface AdaptRun {
  trained: TrainedAdapter;
  /** Every manifest row, adapted and L2-normalised, in manifest order. */
  vectors: Float32Array;
  dim: number;
  /** Rows the adapter was fitted on (train) and early-stopped on (val). */
  rows: { train: number; val: number };
}

function rowsOf(vectors: Float32Array, dim: number, rows: Int32Array): Float32Array {
  const out = new Float32Array(rows.length * dim);
  rows.forEach((r, i) => out.set(vectors.subarray(r * dim, (r + 1) * dim), i * dim));
  return out;
}

/** Fit on train, stop on val, apply to all rows. Test rows are read only to be transformed. */
export async function adaptEmbeddings(
  manifest: Manifest,
  store: EmbeddingStore,
  options: TrainAdapterOptions = {},
): Promise<AdaptRun> {
  if (store.count !== manifest.size || store.ids.some((id, i) => id !== manifest.filepaths[i])) {
    throw new CbirError('the embedding store does not line up with the manifest (rows or order differ)', {
      file: store.dir,
      hint: 'embed this exact manifest, then adapt its store',
      code: 'adapt/store-mismatch',
    });
  }
  const all = await store.readAll();
  const dim = store.dim;
  const train = manifest.indicesOf('train');
  const val = manifest.indicesOf('val');
  const split = (rows: Int32Array) => ({
    x: rowsOf(all, dim, rows),
    labels: Int32Array.from(rows, (r) => manifest.classIndex[r]),
  });
  const trained = trainAdapter(split(train), split(val), dim, options);
  const block = 4096 * dim;
  for (let s = 0; s < all.length; s += block) {
    const part = all.subarray(s, Math.min(all.length, s + block));
    part.set(trained.adapter.apply(part));
  }
  return { trained, vectors: all, dim, rows: { train: train.length, val: val.length } };
}

/** Write the adapted rows as a store: model id `<model>+adapter-<kind>`, the adapter recorded in `source`. */
export async function saveAdaptedStore(run: AdaptRun, store: EmbeddingStore, out: string): Promise<EmbeddingsMeta> {
  const { trained } = run;
  const weights = createHash('sha256');
  for (const p of trained.adapter.params) weights.update(new Uint8Array(p.w.buffer, p.w.byteOffset, p.w.byteLength));
  const fingerprint = createHash('sha256')
    .update(`${store.meta.fingerprint}|adapter|${JSON.stringify(trained.options)}|${weights.digest('hex')}`)
    .digest('hex');
  return writeEmbeddings(out, run.vectors, store.ids, run.dim, {
    modelId: `${store.meta.modelId}+adapter-${trained.options.kind}`,
    fingerprint,
    manifestHash: store.meta.manifestHash,
    source: {
      adaptedFrom: store.dir,
      baseModel: store.meta.modelId,
      adapter: trained.options,
      bestEpoch: trained.bestEpoch,
      history: trained.history,
      rows: run.rows,
    },
  });
}
