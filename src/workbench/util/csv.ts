import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import { CbirError, errorCode } from '../errors.js';

/** Quote a CSV cell when it holds a comma, quote or newline (RFC 4180). */
export function csvCell(value: string | number | boolean | null | undefined): string {
  if (value === null || value === undefined) return '';
  const s = typeof value === 'number' ? formatNumber(value) : String(value);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** Numbers as CSV: integers as is, floats with up to 6 significant decimals, NaN as empty. */
export function formatNumber(v: number): string {
  if (Number.isNaN(v)) return '';
  if (Number.isInteger(v)) return String(v);
  return String(Number(v.toPrecision(10)));
}

export function csvLine(cells: readonly (string | number | boolean | null | undefined)[]): string {
  return cells.map(csvCell).join(',');
}

/**
 * Parse CSV text into records (RFC 4180: quoted cells may hold commas, quotes and newlines).
 * Each record carries the 1-based line number it starts on.
 */
export function* parseCsv(text: string, file = '<csv>'): Generator<{ cells: string[]; line: number }> {
  let i = 0;
  let line = 1;
  const n = text.length;
  if (text.charCodeAt(0) === 0xfeff) i = 1; // BOM
  while (i < n) {
    const startLine = line;
    const cells: string[] = [];
    let cell = '';
    let inQuotes = false;
    let ended = false;
    while (i < n) {
      const c = text[i];
      if (inQuotes) {
        if (c === '"') {
          if (text[i + 1] === '"') {
            cell += '"';
            i += 2;
            continue;
          }
          inQuotes = false;
          i++;
          continue;
        }
        if (c === '\n') line++;
        cell += c;
        i++;
        continue;
      }
      if (c === '"' && cell.length === 0) {
        inQuotes = true;
        i++;
        continue;
      }
      if (c === ',') {
        cells.push(cell);
        cell = '';
        i++;
        continue;
      }
      if (c === '\r') {
        i++;
        continue;
      }
      if (c === '\n') {
        line++;
        i++;
        ended = true;
        break;
      }
      cell += c;
      i++;
    }
    if (inQuotes)
      throw new CbirError('unterminated quoted cell', {
        file,
        row: startLine,
        hint: 'close the quote or remove the stray " character',
        code: 'csv/unterminated-quote',
      });
    cells.push(cell);
    if (cells.length === 1 && cells[0] === '') {
      if (ended || i >= n) continue;
    }
    yield { cells, line: startLine };
  }
}

/**
 * Stream a CSV file record by record without holding the file in memory.
 * Yields the header once (line 1) as the first record.
 */
export async function* readCsvRecords(
  file: string,
  onBytes?: (bytesRead: number) => void,
): AsyncGenerator<{ cells: string[]; line: number }> {
  const stream = createReadStream(file, { encoding: 'utf8', highWaterMark: 1 << 20 });
  let carry = '';
  let lineOffset = 0;
  try {
    for await (const chunk of stream as AsyncIterable<string>) {
      onBytes?.(stream.bytesRead);
      const text = carry + chunk;
      // Cut at the last newline that is outside quotes.
      let inQuotes = false;
      let cut = -1;
      for (let i = 0; i < text.length; i++) {
        const c = text.charCodeAt(i);
        if (c === 34) inQuotes = !inQuotes;
        else if (c === 10 && !inQuotes) cut = i;
      }
      if (cut < 0) {
        carry = text;
        continue;
      }
      const head = text.slice(0, cut + 1);
      carry = text.slice(cut + 1);
      let lastLine = 0;
      for (const rec of parseCsv(head, file)) {
        lastLine = rec.line;
        yield { cells: rec.cells, line: rec.line + lineOffset };
      }
      lineOffset += countNewlines(head);
      void lastLine;
    }
    if (carry.length > 0) {
      for (const rec of parseCsv(carry, file)) yield { cells: rec.cells, line: rec.line + lineOffset };
    }
  } catch (e) {
    if (errorCode(e) === 'ENOENT') {
      throw new CbirError('file not found', { file, hint: 'check the path', code: 'io/not-found' });
    }
    throw e;
  }
}

function countNewlines(s: string): number {
  let k = 0;
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) === 10) k++;
  return k;
}

/** A CSV writer that streams lines to a file and respects back-pressure. */
export class CsvWriter {
  private readonly out: WriteStream;
  constructor(file: string) {
    this.out = createWriteStream(file, { encoding: 'utf8' });
  }
  async write(cells: readonly (string | number | boolean | null | undefined)[]): Promise<void> {
    if (!this.out.write(csvLine(cells) + '\n')) await once(this.out, 'drain');
  }
  async close(): Promise<void> {
    this.out.end();
    await once(this.out, 'finish');
  }
}
