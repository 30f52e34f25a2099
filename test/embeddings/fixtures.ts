import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import {
  Manifest,
  classInfoFromName,
  writeManifest,
  type ManifestEntry,
  SPLITS,
} from '../../src/workbench/data/manifest.js';
import type { RgbImage } from '../../src/workbench/images/decode.js';
import type { Extractor } from '../../src/workbench/models/types.js';
import { Rng } from '../../src/workbench/util/rng.js';
import { sha256 } from '../../src/workbench/util/fsx.js';

export const CLASS_NAMES = ['MR/brain/normal', 'MR/brain/glioma', 'CT/chest/normal', 'CT/chest/covid'];

/**
 * A small generated dataset: `count` PNGs (size × size, gray or RGB) whose class shows in
 * their structure (stripes, blobs, rings, checks) plus noise, split over two source datasets,
 * and its manifest written to `<dir>/data`.
 */
export async function makeDataset(
  dir: string,
  opts: { count?: number; size?: number; seed?: number } = {},
): Promise<Manifest> {
  const count = opts.count ?? 40;
  const size = opts.size ?? 48;
  const rng = new Rng(opts.seed ?? 1);
  const images = join(dir, 'images');
  const entries: ManifestEntry[] = [];
  for (let i = 0; i < count; i++) {
    const c = i % CLASS_NAMES.length;
    const ds = c < 2 ? 'brainset' : 'chestset';
    const sub = join(images, ds, `c${c}`);
    await mkdir(sub, { recursive: true });
    const rgb = i % 3 === 0;
    const ch = rgb ? 3 : 1;
    const px = new Uint8Array(size * size * ch);
    const phase = rng.next() * 6;
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        let v: number;
        const cx = x - size / 2;
        const cy = y - size / 2;
        if (c === 0) v = 128 + 100 * Math.sin((x + phase) / 3);
        else if (c === 1) v = Math.hypot(cx, cy) < size / 4 ? 220 : 40;
        else if (c === 2) v = 128 + 100 * Math.sin(Math.hypot(cx, cy) / 2 + phase);
        else v = ((x >> 3) + (y >> 3)) % 2 ? 200 : 60;
        v += (rng.next() - 0.5) * 40;
        for (let k = 0; k < ch; k++)
          px[(y * size + x) * ch + k] = Math.max(0, Math.min(255, Math.round(v * (k === 1 ? 0.9 : 1))));
      }
    }
    const rel = `${ds}/c${c}/img${String(i).padStart(3, '0')}.png`;
    await sharp(Buffer.from(px), { raw: { width: size, height: size, channels: ch } })
      .png()
      .toFile(join(images, rel));
    entries.push({
      filepath: rel,
      dataset: ds,
      split: SPLITS[i % 5 === 0 ? 2 : i % 7 === 0 ? 1 : 0],
      modality: CLASS_NAMES[c].split('/')[0],
      anatomicRegion: CLASS_NAMES[c].split('/')[1],
      className: CLASS_NAMES[c],
    });
  }
  const classes = CLASS_NAMES.map((n) => classInfoFromName(n));
  const dataDir = join(dir, 'data');
  const m = Manifest.fromEntries(entries, classes, { dir: dataDir, imagesRoot: images });
  await writeManifest(dataDir, m);
  return m;
}

/**
 * A tiny fake model: a deterministic function of the pixels (mean of each channel in a
 * 2×2 grid plus a constant), with an optional image that makes it return NaN and an
 * optional delay per batch (so a child process can be killed mid-run).
 */
export class FakeExtractor implements Extractor {
  readonly id = 'fake';
  readonly dim = 13;
  readonly fingerprint: string;
  calls = 0;
  constructor(readonly opts: { nanFor?: (img: RgbImage) => boolean; delayMs?: number } = {}) {
    this.fingerprint = sha256('fake-extractor-v1');
  }
  async embed(images: RgbImage[]): Promise<Float32Array> {
    this.calls++;
    if (this.opts.delayMs) await new Promise((r) => setTimeout(r, this.opts.delayMs));
    const out = new Float32Array(images.length * this.dim);
    images.forEach((img, n) => {
      const o = n * this.dim;
      for (let y = 0; y < img.height; y++) {
        for (let x = 0; x < img.width; x++) {
          const cell = (y * 2 < img.height ? 0 : 2) + (x * 2 < img.width ? 0 : 1);
          for (let c = 0; c < 3; c++)
            out[o + cell * 3 + c] += img.data[(y * img.width + x) * 3 + c] / (img.width * img.height);
        }
      }
      out[o + 12] = 1;
      if (this.opts.nanFor?.(img)) out[o + 5] = NaN;
    });
    return out;
  }
  async close(): Promise<void> {}
}
