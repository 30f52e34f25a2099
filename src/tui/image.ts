/**
 * Images in a text terminal: the grayscale image resized (sharp) to `cols` × 2·`rows` pixels and
 * drawn with the upper-half block '▀' (foreground = upper pixel, background = lower pixel) in the
 * 256-colour gray ramp, or with an ASCII ramp when colours are off (NO_COLOR, TERM=dumb).
 * Ink passes colour (SGR) sequences through but strips other escape sequences, so the kitty and
 * iTerm2 inline-image protocols cannot be drawn inside its layout; half blocks work everywhere.
 */
import sharp from 'sharp';
import { decodeImage, toGray } from '../workbench/index.js';

/** How images are drawn: 256-colour half blocks, or ASCII characters. */
export type ImageMode = 'blocks' | 'ascii';

/** The image mode for this terminal: ASCII when NO_COLOR is set or TERM is 'dumb', else half blocks. */
export function imageMode(env: NodeJS.ProcessEnv = process.env): ImageMode {
  return env.NO_COLOR !== undefined || env.TERM === 'dumb' ? 'ascii' : 'blocks';
}

const ASCII_RAMP = ' .:-=+*#%@';

/** Gray value 0…255 → xterm-256 colour index (16 black, 232…255 the gray ramp, 231 white). */
export function grayColor(v: number): number {
  if (v < 4) return 16;
  if (v > 247) return 231;
  return 232 + Math.min(23, Math.max(0, Math.round(((v - 8) / 230) * 23)));
}

/**
 * Text lines drawing `gray` (width × height, one byte per pixel, already `cols` × 2·`rows`):
 * `rows` lines of `cols` characters (plus colour sequences in 'blocks' mode).
 */
export function renderGray(gray: Uint8Array, cols: number, rows: number, mode: ImageMode): string[] {
  const lines: string[] = [];
  for (let y = 0; y < rows; y++) {
    let s = '';
    for (let x = 0; x < cols; x++) {
      const top = gray[2 * y * cols + x];
      const bottom = gray[(2 * y + 1) * cols + x];
      if (mode === 'ascii')
        s += ASCII_RAMP[Math.min(ASCII_RAMP.length - 1, Math.floor(((top + bottom) / 2 / 256) * ASCII_RAMP.length))];
      else s += `\x1b[38;5;${grayColor(top)};48;5;${grayColor(bottom)}m▀`;
    }
    lines.push(mode === 'ascii' ? s : s + '\x1b[0m');
  }
  return lines;
}

/**
 * An image file drawn in `cols` × `rows` characters (aspect kept, black borders). Throws a
 * CbirError naming the file when it cannot be decoded.
 */
export async function terminalImage(
  file: string,
  cols: number,
  rows: number,
  mode: ImageMode = imageMode(),
): Promise<string[]> {
  const img = await decodeImage(file);
  const g = toGray(img);
  const { data } = await sharp(Buffer.from(g.buffer, g.byteOffset, g.byteLength), {
    raw: { width: img.width, height: img.height, channels: 1 },
  })
    .resize(cols, rows * 2, { fit: 'contain', background: { r: 0, g: 0, b: 0 }, kernel: 'lanczos3' })
    .toColourspace('b-w')
    .raw()
    .toBuffer({ resolveWithObject: true });
  return renderGray(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), cols, rows, mode);
}
