/**
 * What kind of file an upload is, from its first bytes (never from its name or the client's
 * Content-Type): PNG, JPEG, DICOM Part 10, TIFF, WebP, GIF, BMP. Anything else is not an image
 * the server can search with (415). Also the byte-size option parser (`50MB`, `1.5GB`).
 */
import { CbirError } from '../workbench/index.js';

export type ImageKind = 'png' | 'jpeg' | 'dicom' | 'tiff' | 'webp' | 'gif' | 'bmp';

/** MIME types browsers display directly. */
export const BROWSER_TYPES: Partial<Record<ImageKind, string>> = {
  png: 'image/png',
  jpeg: 'image/jpeg',
  webp: 'image/webp',
  gif: 'image/gif',
  bmp: 'image/bmp',
};

const at = (b: Uint8Array, o: number, s: string) => {
  if (b.length < o + s.length) return false;
  for (let i = 0; i < s.length; i++) if (b[o + i] !== s.charCodeAt(i)) return false;
  return true;
};

/** The image kind of some bytes, or null when they are none of the kinds searched. */
export function sniffImage(b: Uint8Array): ImageKind | null {
  if (at(b, 0, '\x89PNG\r\n\x1a\n')) return 'png';
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'jpeg';
  if (at(b, 128, 'DICM')) return 'dicom';
  if (at(b, 0, 'II*\x00') || at(b, 0, 'MM\x00*')) return 'tiff';
  if (at(b, 0, 'RIFF') && at(b, 8, 'WEBP')) return 'webp';
  if (at(b, 0, 'GIF87a') || at(b, 0, 'GIF89a')) return 'gif';
  if (at(b, 0, 'BM') && b.length > 26) return 'bmp';
  return null;
}

const UNITS: Record<string, number> = { '': 1, b: 1, k: 1e3, kb: 1e3, m: 1e6, mb: 1e6, g: 1e9, gb: 1e9 };

/** `50MB`, `1.5 GB`, `800k`, `1048576` → bytes (decimal units: 1 MB = 10⁶ bytes). */
export function parseByteSize(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  const unit = m ? UNITS[m[2].toLowerCase()] : undefined;
  const n = m && unit ? Math.round(Number(m[1]) * unit) : NaN;
  if (!Number.isFinite(n) || n < 1)
    throw new CbirError(`"${text}" is not a size`, {
      hint: 'give a size such as 50MB, 1.5GB or 800kB',
      code: 'web/bad-size',
    });
  return n;
}
