import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, rename, writeFile, open, rm } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';

/** sha256 of a file, streamed. */
export async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}

export function sha256(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * Write a file atomically: write to a temporary sibling, fsync, then rename over the target,
 * so a crash (even kill -9) leaves either the old or the new file, never a torn one.
 */
export async function writeFileAtomic(file: string, data: string | Uint8Array): Promise<void> {
  await writeChunksAtomic(file, [typeof data === 'string' ? Buffer.from(data, 'utf8') : data]);
}

/** Write a file from chunks atomically (temporary sibling, fsync, rename); each chunk is written before the next is pulled. */
export async function writeChunksAtomic(
  file: string,
  chunks: Iterable<Uint8Array> | AsyncIterable<Uint8Array>,
): Promise<void> {
  await mkdir(dirname(file) || '.', { recursive: true });
  const tmp = join(dirname(file), `.${basename(file)}.${process.pid}.${Date.now()}.tmp`);
  try {
    const fh = await open(tmp, 'w');
    try {
      for await (const c of chunks) {
        let off = 0;
        while (off < c.byteLength) {
          const { bytesWritten } = await fh.write(c, off, Math.min(c.byteLength - off, 1 << 28));
          off += bytesWritten;
        }
      }
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, file);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

export async function writeJsonAtomic(file: string, value: unknown): Promise<void> {
  await writeFileAtomic(file, JSON.stringify(value, null, 2) + '\n');
}

export { writeFile };
