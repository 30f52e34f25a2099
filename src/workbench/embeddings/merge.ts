import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { CbirError } from '../errors.js';
import { ProgressTracker, type ProgressListener } from '../util/progress.js';
import { shardRange } from './pipeline.js';
import {
  META_FILE,
  StoreWriter,
  idsText,
  openEmbeddings,
  readImageRecords,
  type EmbeddingStore,
  type EmbeddingsMeta,
} from './store.js';
import { HASH_BYTES, STAT_FIELDS, emptyRecords, type ImageRecords } from './content.js';

/**
 * Join the shard stores of one `--shard i/n` job array into one store, identical (same bytes,
 * same content hash) to an unsharded run. Checks that every shard 0..n-1 is present once and
 * complete, that all come from the same model, manifest and batch size, that their slices
 * tile the manifest without gaps, and that each shard's files still match its content hash.
 */
export async function mergeShards(
  dirs: readonly string[],
  out: string,
  opts: { force?: boolean; onProgress?: ProgressListener } = {},
): Promise<EmbeddingsMeta> {
  if (dirs.length === 0)
    throw new CbirError('no shard folders given', {
      hint: 'give the output folders of all shards of the run',
      code: 'merge/none',
    });
  if (existsSync(join(out, META_FILE)) && !opts.force) {
    throw new CbirError('a complete store already exists here', {
      file: out,
      hint: 'write to a new output folder, or replace it (force)',
      code: 'merge/exists',
    });
  }
  const stores = await openShards(dirs);
  checkSameRun(stores);
  const ordered = orderShards(stores);
  checkTiling(ordered);
  return writeMerged(ordered, out, opts.onProgress);
}

/** Open every shard store; each must have been embedded with --shard. */
async function openShards(dirs: readonly string[]): Promise<EmbeddingStore[]> {
  const stores: EmbeddingStore[] = [];
  for (const d of dirs) {
    const s = await openEmbeddings(d);
    if (!s.meta.shard)
      throw new CbirError('this store is not a shard (it was embedded without --shard)', {
        file: d,
        hint: 'merge only the outputs of sharded embedding runs',
        code: 'merge/not-a-shard',
      });
    stores.push(s);
  }
  return stores;
}

/** All shards come from the first one's model, manifest, dim, batch size and shard count. */
function checkSameRun(stores: EmbeddingStore[]): void {
  const first = stores[0].meta;
  const n = first.shard!.count;
  for (const s of stores) {
    const m = s.meta;
    const diff =
      m.modelId !== first.modelId || m.fingerprint !== first.fingerprint
        ? `model ${m.modelId} (fingerprint ${m.fingerprint.slice(0, 12)}…) differs from ${first.modelId} (${first.fingerprint.slice(0, 12)}…) in ${stores[0].dir}`
        : m.manifestHash !== first.manifestHash
          ? `manifest hash ${m.manifestHash.slice(0, 12)}… differs from ${first.manifestHash.slice(0, 12)}… in ${stores[0].dir}`
          : m.dim !== first.dim
            ? `dim ${m.dim} differs from ${first.dim}`
            : m.batchSize !== first.batchSize
              ? `--batch ${m.batchSize} differs from ${first.batchSize}`
              : m.shard!.count !== n || m.shard!.total !== first.shard!.total
                ? `shard count or manifest size (${m.shard!.count} shards of ${m.shard!.total}) differs from ${n} of ${first.shard!.total}`
                : null;
    if (diff)
      throw new CbirError(`shards do not belong together: ${diff}`, {
        file: s.dir,
        hint: 'merge shards of one job array: same model, manifest, batch size and shard count',
        code: 'merge/mismatch',
      });
  }
}

/** The shards in index order 0..n-1; each index must be given exactly once. */
function orderShards(stores: EmbeddingStore[]): EmbeddingStore[] {
  const n = stores[0].meta.shard!.count;
  const byIndex = new Map<number, EmbeddingStore>();
  for (const s of stores) {
    const i = s.meta.shard!.index;
    const prev = byIndex.get(i);
    if (prev)
      throw new CbirError(`shard ${i}/${n} is given twice (also ${prev.dir})`, {
        file: s.dir,
        hint: 'pass each shard folder once',
        code: 'merge/duplicate',
      });
    byIndex.set(i, s);
  }
  const absent: number[] = [];
  for (let i = 0; i < n; i++) if (!byIndex.has(i)) absent.push(i);
  if (absent.length > 0) {
    throw new CbirError(
      `${absent.length} of ${n} shards are missing: ${absent
        .slice(0, 20)
        .map((i) => `${i}/${n}`)
        .join(', ')}${absent.length > 20 ? ', …' : ''}`,
      {
        hint: `embed those shards of ${n} (same manifest, model and batch size), then merge all ${n}`,
        code: 'merge/missing',
      },
    );
  }
  return [...byIndex.keys()].sort((a, b) => a - b).map((i) => byIndex.get(i)!);
}

/** The ordered shards' slices tile rows 0..total without gaps or overlaps, on the batch-aligned boundaries. */
function checkTiling(ordered: EmbeddingStore[]): void {
  const first = ordered[0].meta;
  const n = first.shard!.count;
  const total = first.shard!.total;
  let expectStart = 0;
  for (const s of ordered) {
    const sh = s.meta.shard!;
    const want = shardRange(total, first.batchSize ?? 1, { index: sh.index, count: n });
    if (
      sh.start !== expectStart ||
      sh.end < sh.start ||
      s.count !== sh.end - sh.start ||
      (first.batchSize !== undefined && (want.start !== sh.start || want.end !== sh.end))
    ) {
      throw new CbirError(
        `shard ${sh.index}/${n} holds rows ${sh.start}–${sh.end}, expected ${expectStart}–${want.end} (gap or overlap)`,
        { file: s.dir, hint: 're-embed this shard with the same batch size as the others', code: 'merge/gap' },
      );
    }
    expectStart = sh.end;
  }
  if (expectStart !== total)
    throw new CbirError(`the shards cover rows 0–${expectStart} of ${total}`, {
      hint: 'some shards are missing rows; re-embed them',
      code: 'merge/gap',
    });
}

/** The shards' image records concatenated in row order, or undefined when a shard has none. */
async function mergedRecords(ordered: EmbeddingStore[]): Promise<ImageRecords | undefined> {
  const all = emptyRecords(ordered.reduce((n, s) => n + s.count, 0));
  let row = 0;
  for (const s of ordered) {
    const r = await readImageRecords(s.dir, s.count);
    if (!r) return undefined;
    all.sha1.set(r.sha1, row * HASH_BYTES);
    all.stat.set(r.stat, row * STAT_FIELDS);
    row += s.count;
  }
  return all;
}

/** Concatenate the shards into the store at `out`, checking each shard's content hash on the way. */
async function writeMerged(
  ordered: EmbeddingStore[],
  out: string,
  onProgress: ProgressListener | undefined,
): Promise<EmbeddingsMeta> {
  const first = ordered[0].meta;
  const writer = await StoreWriter.create(out, first.dim);
  try {
    const tracker = new ProgressTracker('merge', first.shard!.total, onProgress, 'vectors');
    const ids: string[] = [];
    for (const s of ordered) {
      const h = createHash('sha256');
      for await (const { data } of s.rows(8192)) {
        const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
        h.update(bytes);
        await writer.appendBytes(bytes);
        tracker.add(data.length / first.dim);
      }
      h.update(Buffer.from(idsText(s.ids), 'utf8'));
      if (h.digest('hex') !== s.meta.contentHash) {
        throw new CbirError("this shard's files do not match its content hash", {
          file: s.dir,
          hint: 'the shard was modified or damaged; re-embed it from scratch',
          code: 'merge/hash-mismatch',
        });
      }
      for (const id of s.ids) ids.push(id);
    }
    tracker.finish();
    const fields = {
      modelId: first.modelId,
      fingerprint: first.fingerprint,
      manifestHash: first.manifestHash,
      ...(first.batchSize !== undefined ? { batchSize: first.batchSize } : {}),
    };
    return await writer.finish(ids, fields, undefined, await mergedRecords(ordered));
  } catch (e) {
    await writer.abort();
    throw e;
  }
}
