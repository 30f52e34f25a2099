/**
 * Model cards (models/<id>.json): loading and a hand-written schema check. Every error names
 * the card file, the field (as a dotted path) and the line where it is, and says what to write.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { CbirError, errorMessage } from '../errors.js';
import type { ModelCard, Pooling, PreprocessSpec } from './types.js';

const POOLINGS: readonly Pooling[] = ['cls-token', 'mean-patch-tokens', 'mean-spatial', 'logits', 'projected', 'none'];
const RESIZES: readonly PreprocessSpec['resize'][] = ['shortest-edge', 'exact', 'longest-edge-pad'];
const INTERPOLATIONS: readonly PreprocessSpec['interpolation'][] = ['nearest', 'bilinear', 'bicubic', 'lanczos'];

const sourceOf = new WeakMap<ModelCard, string>();

/** Where a card came from: its JSON file, or `built-in card "<id>"`. */
export function cardSource(card: ModelCard): string {
  return sourceOf.get(card) ?? (card.builtin ? `built-in card "${card.id}"` : `card "${card.id}"`);
}

/**
 * 1-based line of a dotted field path in JSON text (best effort: follows the keys in order);
 * a missing field gets the line of the object that should hold it.
 */
function lineOf(text: string, path: string): number {
  let pos = 0;
  for (const key of path.split('.')) {
    if (/^\d+$/.test(key) || key === '') continue;
    const i = text.indexOf(`"${key}"`, pos);
    if (i < 0) break;
    pos = i;
  }
  return text.slice(0, pos).split('\n').length;
}

class Checker {
  constructor(
    private file: string,
    private text: string,
  ) {}

  fail(path: string, message: string, hint: string): never {
    throw new CbirError(`model card field "${path}" ${message}`, {
      file: this.file,
      row: lineOf(this.text, path),
      hint,
      code: 'card/invalid',
    });
  }

  obj(v: unknown, path: string, allowed: string[]): Record<string, unknown> {
    if (typeof v !== 'object' || v === null || Array.isArray(v))
      this.fail(path, 'must be an object', `write "${path}": { ... } with the fields ${allowed.join(', ')}`);
    for (const k of Object.keys(v as object)) {
      if (!allowed.includes(k))
        this.fail(
          path ? `${path}.${k}` : k,
          'is not a known field',
          `remove it or fix the spelling; known fields${path ? ` of "${path}"` : ''}: ${allowed.join(', ')}`,
        );
    }
    return v as Record<string, unknown>;
  }

  str(
    v: unknown,
    path: string,
    opts: { optional?: boolean; pattern?: RegExp; what?: string } = {},
  ): string | undefined {
    if (v === undefined && opts.optional) return undefined;
    if (typeof v !== 'string' || v.length === 0)
      this.fail(
        path,
        v === undefined ? 'is missing' : 'must be a non-empty string',
        `write "${path}": "${opts.what ?? '...'}"`,
      );
    if (opts.pattern && !opts.pattern.test(v as string))
      this.fail(
        path,
        `is "${v}", which is not ${opts.what ?? `of the form ${opts.pattern}`}`,
        `write "${path}" as ${opts.what ?? opts.pattern}`,
      );
    return v as string;
  }

  num(
    v: unknown,
    path: string,
    opts: { optional?: boolean; int?: boolean; min?: number; max?: number; exclusiveMin?: boolean } = {},
  ): number | undefined {
    if (v === undefined && opts.optional) return undefined;
    const kind = opts.int ? 'an integer' : 'a number';
    const range = `${opts.min !== undefined ? ` ${opts.exclusiveMin ? '>' : '≥'} ${opts.min}` : ''}${opts.max !== undefined ? ` and ≤ ${opts.max}` : ''}`;
    if (typeof v !== 'number' || !Number.isFinite(v) || (opts.int && !Number.isInteger(v)))
      this.fail(
        path,
        v === undefined ? 'is missing' : `must be ${kind}, got ${JSON.stringify(v)}`,
        `write "${path}" as ${kind}${range}`,
      );
    const n = v as number;
    if (opts.min !== undefined && (opts.exclusiveMin ? n <= opts.min : n < opts.min))
      this.fail(path, `is ${n}, must be${range}`, `write "${path}" as ${kind}${range}`);
    if (opts.max !== undefined && n > opts.max)
      this.fail(path, `is ${n}, must be${range}`, `write "${path}" as ${kind}${range}`);
    return n;
  }

  oneOf<T extends string>(v: unknown, path: string, options: readonly T[], optional = false): T | undefined {
    if (v === undefined && optional) return undefined;
    if (typeof v !== 'string' || !options.includes(v as T))
      this.fail(
        path,
        v === undefined ? 'is missing' : `is ${JSON.stringify(v)}`,
        `write one of: ${options.map((o) => `"${o}"`).join(', ')}`,
      );
    return v as T;
  }

  triple(v: unknown, path: string, positive: boolean): [number, number, number] {
    if (!Array.isArray(v) || v.length !== 3)
      this.fail(
        path,
        v === undefined ? 'is missing' : 'must be a list of 3 numbers (R, G, B)',
        `write "${path}": [r, g, b]`,
      );
    const a = v as unknown[];
    a.forEach((x, i) => this.num(x, `${path}.${i}`, positive ? { min: 0, exclusiveMin: true } : {}));
    return a as [number, number, number];
  }
}

/**
 * Check that `value` (parsed JSON from `file`, whose text is `text`) is a valid ModelCard and
 * return it typed. Throws a CbirError naming the file, the field and its line.
 */
export function validateCard(value: unknown, file: string, text = ''): ModelCard {
  const c = new Checker(file, text);
  const top = c.obj(value, '', [
    'id',
    'name',
    'studyName',
    'architecture',
    'source',
    'onnx',
    'preprocess',
    'pooling',
    'dim',
    'notes',
    'builtin',
  ]);
  checkIdentity(c, top, file);
  checkSource(c, top.source);
  const pooling = c.oneOf(top.pooling, 'pooling', POOLINGS)!;
  checkOnnx(c, top.onnx, pooling);
  checkPreprocess(c, top.preprocess);
  checkRest(c, top);
  return value as ModelCard;
}

/** id (which must match the file name), name, studyName and architecture. */
function checkIdentity(c: Checker, top: Record<string, unknown>, file: string): void {
  const id = c.str(top.id, 'id', {
    pattern: /^[a-z0-9][a-z0-9-]*$/,
    what: 'lower-case letters, digits and dashes (e.g. "vit-b16")',
  })!;
  const stem = basename(file).replace(/\.json$/, '');
  if (file.endsWith('.json') && stem !== id)
    c.fail(
      'id',
      `is "${id}" but the file is named ${basename(file)}`,
      `name the file ${id}.json or set "id": "${stem}"`,
    );
  c.str(top.name, 'name');
  c.str(top.studyName, 'studyName', { optional: true });
  c.str(top.architecture, 'architecture');
}

/** The `source` object: checkpoint, url, licence, reference. */
function checkSource(c: Checker, value: unknown): void {
  const src = c.obj(value, 'source', ['checkpoint', 'url', 'licence', 'reference']);
  c.str(src.checkpoint, 'source.checkpoint', { what: 'e.g. a Hugging Face hub id' });
  c.str(src.url, 'source.url', { optional: true, pattern: /^https?:\/\//, what: 'an http(s) URL' });
  c.str(src.licence, 'source.licence', { what: 'e.g. "Apache-2.0"' });
  c.str(src.reference, 'source.reference', { optional: true });
}

/** The `onnx` object; `prefixTokens` only goes with mean-patch-tokens pooling. */
function checkOnnx(c: Checker, value: unknown, pooling: Pooling): void {
  const onnx = c.obj(value, 'onnx', ['file', 'url', 'sha256', 'input', 'output', 'prefixTokens']);
  c.str(onnx.file, 'onnx.file', {
    pattern: /^[A-Za-z0-9._-]+\.onnx$/,
    what: 'a file name ending in .onnx (no folders)',
  });
  c.str(onnx.url, 'onnx.url', { optional: true, pattern: /^https?:\/\//, what: 'an http(s) URL' });
  if (onnx.sha256 !== null && onnx.sha256 !== undefined)
    c.str(onnx.sha256, 'onnx.sha256', {
      pattern: /^[0-9a-f]{64}$/,
      what: '64 lower-case hex digits (or null until exported)',
    });
  c.str(onnx.input, 'onnx.input');
  c.str(onnx.output, 'onnx.output');
  c.num(onnx.prefixTokens, 'onnx.prefixTokens', { optional: true, int: true, min: 0 });
  if (onnx.prefixTokens !== undefined && pooling !== 'mean-patch-tokens')
    c.fail(
      'onnx.prefixTokens',
      `only applies to "mean-patch-tokens" pooling, not "${pooling}"`,
      'remove it or change "pooling"',
    );
}

/** The `preprocess` object: each field, then the rules between resize, resizeTo and crop. */
function checkPreprocess(c: Checker, value: unknown): void {
  const pre = c.obj(value, 'preprocess', [
    'size',
    'resize',
    'resizeTo',
    'interpolation',
    'crop',
    'padValue',
    'rescale',
    'mean',
    'std',
    'channels',
    'resampler',
    'cropRounding',
    'padAlign',
    'padStage',
  ]);
  if (!Array.isArray(pre.size) || pre.size.length !== 2)
    c.fail(
      'preprocess.size',
      pre.size === undefined ? 'is missing' : 'must be [height, width]',
      'write "size": [224, 224]',
    );
  const size = pre.size as unknown[];
  c.num(size[0], 'preprocess.size.0', { int: true, min: 1 });
  c.num(size[1], 'preprocess.size.1', { int: true, min: 1 });
  const resize = c.oneOf(pre.resize, 'preprocess.resize', RESIZES)!;
  const resizeTo = c.num(pre.resizeTo, 'preprocess.resizeTo', { optional: true, int: true, min: 1 });
  c.oneOf(pre.interpolation, 'preprocess.interpolation', INTERPOLATIONS);
  const crop = c.oneOf(pre.crop, 'preprocess.crop', ['center', 'none'] as const)!;
  const padStage = c.oneOf(pre.padStage, 'preprocess.padStage', ['pixel', 'normalized'] as const, true);
  c.num(
    pre.padValue,
    'preprocess.padValue',
    padStage === 'normalized' ? { optional: true } : { optional: true, min: 0, max: 255 },
  );
  c.num(pre.rescale, 'preprocess.rescale', { min: 0, exclusiveMin: true });
  c.triple(pre.mean, 'preprocess.mean', false);
  c.triple(pre.std, 'preprocess.std', true);
  c.oneOf(pre.channels, 'preprocess.channels', ['rgb', 'gray'] as const);
  c.oneOf(pre.resampler, 'preprocess.resampler', ['pil', 'sharp'] as const, true);
  c.oneOf(pre.cropRounding, 'preprocess.cropRounding', ['floor', 'half-even'] as const, true);
  c.oneOf(pre.padAlign, 'preprocess.padAlign', ['top-left', 'center'] as const, true);
  checkResizeRules(c, size as [number, number], resize, resizeTo, crop);
}

/** How resize, resizeTo and crop must go together for an input of size H × W. */
function checkResizeRules(
  c: Checker,
  [H, W]: [number, number],
  resize: PreprocessSpec['resize'],
  resizeTo: number | undefined,
  crop: 'center' | 'none',
): void {
  if (resize === 'shortest-edge' && crop !== 'center')
    c.fail(
      'preprocess.crop',
      'must be "center" with "resize": "shortest-edge" (otherwise non-square images do not fit the input)',
      'write "crop": "center"',
    );
  if (resize === 'shortest-edge' && resizeTo !== undefined && resizeTo < Math.max(H, W))
    c.fail(
      'preprocess.resizeTo',
      `is ${resizeTo}, smaller than the ${H}×${W} crop`,
      `write a value ≥ ${Math.max(H, W)}`,
    );
  if (resize === 'longest-edge-pad') {
    if (crop !== 'none')
      c.fail(
        'preprocess.crop',
        'must be "none" with "resize": "longest-edge-pad" (the image is padded, not cropped)',
        'write "crop": "none"',
      );
    if (resizeTo !== undefined && resizeTo > Math.min(H, W))
      c.fail(
        'preprocess.resizeTo',
        `is ${resizeTo}, larger than the ${H}×${W} input it is padded into`,
        `write a value ≤ ${Math.min(H, W)} or leave it out`,
      );
  }
  if (resize === 'exact' && resizeTo !== undefined)
    c.fail(
      'preprocess.resizeTo',
      'does not apply to "resize": "exact"',
      'remove it, or use "shortest-edge" with a centre crop',
    );
}

/** dim, notes and builtin. */
function checkRest(c: Checker, top: Record<string, unknown>): void {
  c.num(top.dim, 'dim', { int: true, min: 1 });
  if (top.notes !== undefined) {
    if (!Array.isArray(top.notes)) c.fail('notes', 'must be a list of strings', 'write "notes": ["..."]');
    (top.notes as unknown[]).forEach((n, i) => c.str(n, `notes.${i}`));
  }
  if (top.builtin !== undefined && typeof top.builtin !== 'boolean')
    c.fail('builtin', 'must be true or false', 'write "builtin": false or remove it');
}

/**
 * Offset of the first JSON syntax error in `text` (a small recursive-descent scan; JSON.parse
 * does not always say where), or undefined when the text is valid JSON.
 */
export function jsonErrorOffset(text: string): number | undefined {
  const scan = new JsonScanner(text);
  try {
    if (text.charCodeAt(0) === 0xfeff) scan.i = 1;
    scan.value();
    scan.ws();
    return scan.i < text.length ? scan.i : undefined;
  } catch (at) {
    return typeof at === 'number' ? at : undefined;
  }
}

/** The recursive-descent scanner of jsonErrorOffset: `fail` throws the current offset. */
class JsonScanner {
  i = 0;
  constructor(private readonly text: string) {}

  /** Skip JSON whitespace. */
  ws(): void {
    while (this.i < this.text.length && ' \t\n\r'.includes(this.text[this.i])) this.i++;
  }

  /** Stop the scan at the current offset. */
  fail(): never {
    throw this.i;
  }

  /** The literal `w` (true, false, null). */
  lit(w: string): void {
    if (this.text.startsWith(w, this.i)) this.i += w.length;
    else this.fail();
  }

  /** A string with its escapes; raw control characters are errors. */
  str(): void {
    const text = this.text;
    if (text[this.i] !== '"') this.fail();
    this.i++;
    while (this.i < text.length && text[this.i] !== '"') {
      if (text[this.i] === '\\') {
        this.i++;
        if (!'"\\/bfnrtu'.includes(text[this.i] ?? '')) this.fail();
        if (text[this.i] === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(this.i + 1, this.i + 5))) this.fail();
          this.i += 4;
        }
      } else if (text.charCodeAt(this.i) < 0x20) this.fail();
      this.i++;
    }
    if (text[this.i] !== '"') this.fail();
    this.i++;
  }

  /** A number. */
  num(): void {
    const m = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(this.text.slice(this.i, this.i + 400));
    if (!m || m[0] === '' || m[0] === '-') this.fail();
    this.i += m![0].length;
  }

  /** Any value, after leading whitespace. */
  value(): void {
    this.ws();
    const c = this.text[this.i];
    if (c === '{') this.object();
    else if (c === '[') this.array();
    else if (c === '"') this.str();
    else if (c === 't') this.lit('true');
    else if (c === 'f') this.lit('false');
    else if (c === 'n') this.lit('null');
    else this.num();
  }

  /** An object, from its `{`. */
  object(): void {
    const text = this.text;
    this.i++;
    this.ws();
    if (text[this.i] === '}') {
      this.i++;
      return;
    }
    for (;;) {
      this.ws();
      this.str();
      this.ws();
      if (text[this.i] !== ':') this.fail();
      this.i++;
      this.value();
      this.ws();
      if (text[this.i] === ',') {
        this.i++;
        continue;
      }
      if (text[this.i] === '}') {
        this.i++;
        return;
      }
      this.fail();
    }
  }

  /** An array, from its `[`. */
  array(): void {
    const text = this.text;
    this.i++;
    this.ws();
    if (text[this.i] === ']') {
      this.i++;
      return;
    }
    for (;;) {
      this.value();
      this.ws();
      if (text[this.i] === ',') {
        this.i++;
        continue;
      }
      if (text[this.i] === ']') {
        this.i++;
        return;
      }
      this.fail();
    }
  }
}

/** Read and validate one card file. */
export function loadCard(file: string): ModelCard {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new CbirError(`cannot read model card: ${errorMessage(e)}`, {
      file,
      hint: 'check the path; cards live in models/<id>.json',
      code: 'card/missing',
      cause: e,
    });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    const at = jsonErrorOffset(text);
    const row = at !== undefined ? text.slice(0, at).split('\n').length : undefined;
    throw new CbirError(`model card is not valid JSON: ${errorMessage(e)}`, {
      file,
      row,
      hint: 'fix the JSON syntax (quotes, commas, brackets)',
      code: 'card/json',
      cause: e,
    });
  }
  const card = validateCard(value, file, text);
  sourceOf.set(card, file);
  return card;
}

/** Read and validate every `*.json` card in a folder (sorted by file name); ids must be unique. */
export function loadCards(dir: string): ModelCard[] {
  let files: string[];
  try {
    files = readdirSync(dir)
      .filter((f) => f.endsWith('.json'))
      .sort();
  } catch (e) {
    throw new CbirError(`cannot read the model card folder: ${errorMessage(e)}`, {
      file: dir,
      hint: 'cards live in <project>/models',
      code: 'card/missing',
      cause: e,
    });
  }
  return files.map((f) => loadCard(join(dir, f)));
}
