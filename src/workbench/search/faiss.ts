/**
 * Reading FAISS's binary flat indices (`faiss.write_index`) directly, with no Python: the study's
 * published vector database is one `IndexFlatIP` per experiment folder plus `metadata.json`.
 *
 * Layout (little-endian; faiss/impl/index_write.cpp, `write_index_header` then the flat codes):
 *   fourcc      4 bytes: "IxFI" (IndexFlatIP), "IxF2" (IndexFlatL2), "IxFl" (IndexFlat with a metric)
 *   d           int32
 *   ntotal      int64
 *   dummy       int64 × 2 (both 2^20)
 *   is_trained  uint8
 *   metric_type int32 (0 = inner product, 1 = L2; > 1 other metrics)
 *   metric_arg  float32, only when metric_type > 1
 *   codes       uint64 n, then the float32 vectors (ntotal × d, row-major). faiss 1.7.3 writes
 *               n = ntotal·d (a count of floats, WRITEXBVECTOR); later versions write the byte
 *               count ntotal·d·4. Both are accepted.
 *
 * Any other index type is refused naming its four-character code.
 */
import { open, readFile, type FileHandle } from 'node:fs/promises';
import { CbirError, errorMessage } from '../errors.js';

/** What the header of a flat FAISS index says. */
export interface FaissFlatHeader {
  /** Four-character type code ("IxFI", "IxF2" or "IxFl"). */
  fourcc: string;
  metric: 'ip' | 'l2';
  dim: number;
  ntotal: number;
  /** Byte offset of the first vector. */
  dataOffset: number;
  file: string;
}

const FOURCC_NAMES: Readonly<Record<string, string>> = {
  IxFI: 'IndexFlatIP',
  IxF2: 'IndexFlatL2',
  IxFl: 'IndexFlat',
  IxHE: 'IndexLSH',
  IxPQ: 'IndexPQ',
  IwFl: 'IndexIVFFlat',
  IwFL: 'IndexIVFFlat',
  IwPQ: 'IndexIVFPQ',
  IwSq: 'IndexIVFScalarQuantizer',
  IxSQ: 'IndexScalarQuantizer',
  IHNf: 'IndexHNSWFlat',
  IHNp: 'IndexHNSWPQ',
  IHNs: 'IndexHNSWSQ',
  IxMp: 'IndexIDMap',
  IxM2: 'IndexIDMap2',
  IxPT: 'IndexPreTransform',
  IxRF: 'IndexRefineFlat',
};

function bad(file: string, message: string, hint: string, code = 'faiss/bad-file'): CbirError {
  return new CbirError(message, { file, hint, code });
}

async function readAt(fh: FileHandle, into: Uint8Array, position: number, file: string): Promise<void> {
  let off = 0;
  while (off < into.byteLength) {
    const { bytesRead } = await fh.read(into, off, Math.min(into.byteLength - off, 1 << 28), position + off);
    if (bytesRead === 0)
      throw bad(
        file,
        `the FAISS file ends early (wanted ${into.byteLength} bytes at offset ${position})`,
        'the file is truncated; copy or download it again',
        'faiss/truncated',
      );
    off += bytesRead;
  }
}

/** Parse the header of a flat FAISS index (a CbirError for any other type, naming its four-character code). */
export async function readFaissHeader(file: string): Promise<FaissFlatHeader> {
  const fh = await open(file, 'r').catch((e) => {
    throw bad(file, `cannot open the FAISS index (${errorMessage(e)})`, 'check the path', 'faiss/not-found');
  });
  try {
    const head = new Uint8Array(53);
    const { size } = await fh.stat();
    if (size < 45)
      throw bad(file, `only ${size} bytes: not a FAISS index file`, 'pass a file written by faiss.write_index');
    await readAt(fh, head.subarray(0, Math.min(53, size)), 0, file);
    const v = new DataView(head.buffer);
    const fourcc = new TextDecoder('latin1').decode(head.subarray(0, 4));
    if (!['IxFI', 'IxF2', 'IxFl'].includes(fourcc)) {
      const name = FOURCC_NAMES[fourcc];
      throw bad(
        file,
        `unsupported FAISS index type "${fourcc}"${name ? ` (${name})` : /^[\x20-\x7e]{4}$/.test(fourcc) ? '' : ' (not a FAISS index file?)'}: only the flat indices IndexFlatIP ("IxFI") and IndexFlatL2 ("IxF2") can be read`,
        'export the vectors to a flat index first (faiss.IndexFlatIP, add the vectors, write_index), or build an index from an embedding store instead',
        'faiss/unsupported',
      );
    }
    const dim = v.getInt32(4, true);
    const ntotal = Number(v.getBigInt64(8, true));
    const metricType = v.getInt32(33, true);
    let off = 37;
    if (metricType > 1) off += 4; // metric_arg
    if (metricType !== 0 && metricType !== 1)
      throw bad(
        file,
        `FAISS flat index with metric type ${metricType}: only inner product (0) and L2 (1) are supported`,
        'rebuild the FAISS index with METRIC_INNER_PRODUCT over L2-normalised vectors',
        'faiss/unsupported',
      );
    if (!(dim > 0) || !(ntotal >= 0) || !Number.isSafeInteger(ntotal))
      throw bad(file, `implausible header (d = ${dim}, ntotal = ${ntotal})`, 'the file is damaged; copy it again');
    const nbuf = new Uint8Array(8);
    await readAt(fh, nbuf, off, file);
    const n = Number(new DataView(nbuf.buffer).getBigUint64(0, true));
    const floats = ntotal * dim;
    if (n !== floats && n !== floats * 4)
      throw bad(
        file,
        `the vector block holds ${n} entries, expected ${floats} floats (ntotal ${ntotal} × d ${dim})`,
        'the file is damaged or not a flat float index; copy it again',
      );
    const dataOffset = off + 8;
    if (size < dataOffset + floats * 4)
      throw bad(
        file,
        `the file is ${size} bytes, expected at least ${dataOffset + floats * 4} for ${ntotal} × ${dim} float32`,
        'the file is truncated; copy or download it again',
        'faiss/truncated',
      );
    return { fourcc, metric: metricType === 0 ? 'ip' : 'l2', dim, ntotal, dataOffset, file };
  } finally {
    await fh.close();
  }
}

/** Stream the vectors of a flat FAISS index in blocks of up to `blockRows` rows (each block a fresh array). */
export async function* faissRows(
  header: FaissFlatHeader,
  blockRows = 16384,
): AsyncGenerator<{ start: number; data: Float32Array }> {
  const fh = await open(header.file, 'r');
  try {
    const { dim, ntotal } = header;
    for (let start = 0; start < ntotal; start += blockRows) {
      const m = Math.min(blockRows, ntotal - start);
      const data = new Float32Array(m * dim);
      await readAt(fh, new Uint8Array(data.buffer), header.dataOffset + start * dim * 4, header.file);
      yield { start, data };
    }
  } finally {
    await fh.close();
  }
}

/**
 * The study's `metadata.json`: a JSON list of image paths in index order. Entries that are
 * objects with a path-like field (`filepath`, `path`, `image_path`) are accepted too.
 */
export async function readFaissMetadata(file: string, ntotal: number): Promise<string[]> {
  let value: unknown;
  try {
    value = JSON.parse(await readFile(file, 'utf8'));
  } catch (e) {
    throw new CbirError(`cannot read the metadata as JSON (${errorMessage(e)})`, {
      file,
      hint: "pass the metadata.json written next to the study's faiss.index (a JSON list of image paths)",
      code: 'faiss/bad-metadata',
    });
  }
  if (!Array.isArray(value))
    throw new CbirError('the metadata is not a JSON list', {
      file,
      hint: 'it must be a list of image paths, one per index vector, in index order',
      code: 'faiss/bad-metadata',
    });
  const paths = value.map((v, i) => {
    const p =
      typeof v === 'string'
        ? v
        : v && typeof v === 'object'
          ? ((v as Record<string, unknown>).filepath ??
            (v as Record<string, unknown>).path ??
            (v as Record<string, unknown>).image_path)
          : undefined;
    if (typeof p !== 'string' || p === '')
      throw new CbirError(`entry ${i} of the metadata is not an image path (${JSON.stringify(v)?.slice(0, 80)})`, {
        file,
        hint: 'each entry must be the path of the image of that index vector',
        code: 'faiss/bad-metadata',
      });
    return p;
  });
  if (paths.length !== ntotal)
    throw new CbirError(`the metadata lists ${paths.length} images but the FAISS index holds ${ntotal} vectors`, {
      file,
      hint: 'use the metadata.json written together with this faiss.index (the same experiment folder)',
      code: 'faiss/metadata-count',
    });
  return paths;
}
