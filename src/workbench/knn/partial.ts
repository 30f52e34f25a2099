/**
 * The journal of a k-NN table being computed, so that a long search resumes: `<table dir>.partial/`
 * holds `journal.json` (the table's cache key, queries and k) and the finished query blocks
 * appended to `ids.i32` and `sims.f32` (the table's own layout, queries × k). After a kill, the
 * rows present in both files are read back and the search continues after them, so at most the
 * block in flight is lost. Written for `knnTablesCached`, which deletes it once the table is saved.
 */
import { existsSync } from 'node:fs';
import { mkdir, open, readFile, rm, stat, writeFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { withFsErrors } from '../util/fserrors.js';

/** What identifies the table a journal belongs to. */
interface JournalHead {
  format: 'radcbir-knn-partial';
  key: string;
  queries: number;
  k: number;
}

/** An open journal: `done` queries are in the table's arrays already; `append` adds the next block. */
export interface PartialTable {
  readonly dir: string;
  /** Queries finished (read back from an earlier run, plus those appended since). */
  readonly done: number;
  /** Queries that were read back from an earlier run when the journal was opened. */
  readonly resumed: number;
  /** Append the rows of queries [done, done + rows) from the table's arrays, and make them durable. */
  append(rows: number): Promise<void>;
  /** Close the files (the journal stays for a later resume). */
  close(): Promise<void>;
}

/** `<table dir>.partial`: where the journal of the table in `dir` lives. */
export const partialDir = (dir: string) => `${dir}.partial`;

/**
 * Open (or start) the journal of the table in `tableDir`, filling `ids`/`sims` with the rows an
 * earlier run finished. A journal of other inputs (another key, query count or k) is discarded.
 */
export async function openPartialTable(
  tableDir: string,
  head: { key: string; queries: number; k: number },
  ids: Int32Array,
  sims: Float32Array,
): Promise<PartialTable> {
  const dir = partialDir(tableDir);
  return withFsErrors(dir, 'writing the k-NN table journal', async () => {
    const resumed = await readBack(dir, head, ids, sims);
    if (resumed === 0) await startJournal(dir, head);
    const idsFile = await open(join(dir, 'ids.i32'), 'r+');
    const simsFile = await open(join(dir, 'sims.f32'), 'r+');
    await idsFile.truncate(resumed * head.k * 4);
    await simsFile.truncate(resumed * head.k * 4);
    return journal(dir, head.k, resumed, ids, sims, idsFile, simsFile);
  });
}

/** Rows of a matching journal read into ids/sims (0 when there is none or it belongs to other inputs). */
async function readBack(
  dir: string,
  head: { key: string; queries: number; k: number },
  ids: Int32Array,
  sims: Float32Array,
): Promise<number> {
  if (!existsSync(join(dir, 'journal.json'))) return 0;
  let old: JournalHead;
  try {
    old = JSON.parse(await readFile(join(dir, 'journal.json'), 'utf8')) as JournalHead;
  } catch {
    return 0; // torn or damaged: start again
  }
  if (old.key !== head.key || old.queries !== head.queries || old.k !== head.k) return 0;
  const rowBytes = head.k * 4;
  const [a, b] = await Promise.all(['ids.i32', 'sims.f32'].map((f) => stat(join(dir, f)).catch(() => null)));
  if (!a || !b) return 0;
  const rows = Math.min(Math.floor(a.size / rowBytes), Math.floor(b.size / rowBytes), head.queries);
  await readInto(join(dir, 'ids.i32'), new Uint8Array(ids.buffer, ids.byteOffset, rows * rowBytes));
  await readInto(join(dir, 'sims.f32'), new Uint8Array(sims.buffer, sims.byteOffset, rows * rowBytes));
  return rows;
}

/** Fill `out` from the start of `file`. */
async function readInto(file: string, out: Uint8Array): Promise<void> {
  const fh = await open(file, 'r');
  try {
    for (let off = 0; off < out.length;) {
      const { bytesRead } = await fh.read(out, off, Math.min(out.length - off, 1 << 26), off);
      if (bytesRead === 0) break;
      off += bytesRead;
    }
  } finally {
    await fh.close();
  }
}

async function startJournal(dir: string, head: { key: string; queries: number; k: number }): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'ids.i32'), new Uint8Array(0));
  await writeFile(join(dir, 'sims.f32'), new Uint8Array(0));
  const h: JournalHead = { format: 'radcbir-knn-partial', ...head };
  await writeFile(join(dir, 'journal.json'), JSON.stringify(h) + '\n'); // last: the journal is valid once it is there
}

function journal(
  dir: string,
  k: number,
  resumed: number,
  ids: Int32Array,
  sims: Float32Array,
  idsFile: FileHandle,
  simsFile: FileHandle,
): PartialTable {
  let done = resumed;
  let open = true;
  const bytes = (a: Int32Array | Float32Array, from: number, rows: number) =>
    new Uint8Array(a.buffer, a.byteOffset + from * k * 4, rows * k * 4);
  const close = async () => {
    if (!open) return;
    open = false;
    await Promise.all([idsFile.close(), simsFile.close()]);
  };
  return {
    dir,
    resumed,
    get done() {
      return done;
    },
    async append(rows: number) {
      await withFsErrors(dir, 'writing the k-NN table journal', async () => {
        await idsFile.write(bytes(ids, done, rows), 0, rows * k * 4, done * k * 4);
        await simsFile.write(bytes(sims, done, rows), 0, rows * k * 4, done * k * 4);
        await Promise.all([idsFile.datasync(), simsFile.datasync()]);
      });
      done += rows;
    },
    close,
  };
}
