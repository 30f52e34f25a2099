/**
 * The partial results file of a long search (resume after a stop): JSON lines, the first
 * `{"format":"radcbir-search-partial","version":1,"key":…}` naming the index and options, then one
 * `{"file":…,"result":…}` per finished query, appended and fsynced per batch. Reopening keeps
 * the complete lines (a torn last line from a kill is dropped); a file for another index or other
 * options is started again, since its results would not be these.
 */
import { existsSync } from 'node:fs';
import { mkdir, open, readFile, rm, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { writeFileAtomic } from '../util/fsx.js';
import type { QueryResult } from './query.js';

const FORMAT = 'radcbir-search-partial';

export class SearchJournal {
  private constructor(
    readonly file: string,
    /** Finished queries by absolute file. */
    readonly done: Map<string, QueryResult>,
    private fh: FileHandle | null,
  ) {}

  /** Open (or start) the journal of a search identified by `key`. */
  static async open(file: string, key: string): Promise<SearchJournal> {
    const head = JSON.stringify({ format: FORMAT, version: 1, key }) + '\n';
    const done = new Map<string, QueryResult>();
    let keep = head;
    if (existsSync(file)) {
      const text = await readFile(file, 'utf8');
      const lines = text.split('\n');
      if (lines[0] + '\n' === head) {
        let good = head.length;
        // every line but the last ends with '\n'; the last piece is '' or a torn line
        for (let i = 1; i < lines.length - 1; i++) {
          try {
            const e = JSON.parse(lines[i]) as { file: string; result: QueryResult };
            if (typeof e.file !== 'string' || !Array.isArray(e.result?.results)) break;
            done.set(e.file, e.result);
            good += lines[i].length + 1;
          } catch {
            break;
          }
        }
        keep = text.slice(0, good);
      }
    }
    await mkdir(dirname(file), { recursive: true });
    await writeFileAtomic(file, keep);
    return new SearchJournal(file, done, await open(file, 'a'));
  }

  /** Record finished queries (one line each), then fsync. */
  async append(entries: readonly (readonly [string, QueryResult])[]): Promise<void> {
    if (!this.fh || entries.length === 0) return;
    await this.fh.write(entries.map(([file, result]) => JSON.stringify({ file, result }) + '\n').join(''));
    await this.fh.sync();
  }

  async close(): Promise<void> {
    const fh = this.fh;
    this.fh = null;
    await fh?.close();
  }

  /** Delete the journal (when the search's outputs are written). */
  static async remove(file: string): Promise<void> {
    await rm(file, { force: true });
  }
}
