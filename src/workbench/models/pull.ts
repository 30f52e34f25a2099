/**
 * Download and verify study model ONNX files: `pullModel` fetches from the card's url (or one
 * given, or a model hub repository) into `<dest>.part`, resumes an interrupted download with an
 * HTTP Range request, checks the sha256 (the card's, or the one the lock file recorded on the
 * first download), checks that onnxruntime loads it and that it matches its card, and only then
 * renames it into place atomically, so a bad download never replaces a good file;
 * `verifyModel` checks presence, checksum, that the graph loads and matches its card, and
 * reference parity with torch (`<id>.reference.json`).
 */
import { createWriteStream, existsSync, statSync } from 'node:fs';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import { basename, dirname, join } from 'node:path';
import { CbirError, errorCode, errorMessage } from '../errors.js';
import { hubBaseUrl } from '../paths.js';
import { sha256, sha256File } from '../util/fsx.js';
import { builtinGraphBytes, builtinGraphOf } from './builtin/index.js';
import { ProgressTracker, type ProgressListener } from '../util/progress.js';
import { cardSource } from './cards.js';
import { lockPath, readLock, updateLock } from './lock.js';
import { findWeights, loadOnnxExtractor, resolveModelPath, weightsCandidates } from './onnx/extractor.js';
import { defaultWeightsDir } from './paths.js';
import { preprocessedLength, preprocessImage } from './preprocess.js';
import { checkReference, recordReferenceCheck, referencePath, type ReferenceCheck } from './reference.js';
import { PHANTOM_CLASSES, renderPhantom } from '../data/phantom.js';
import { checkEmbeddingRows, degenerateError } from '../embeddings/degenerate.js';
import { Rng } from '../util/rng.js';
import type { ModelCard } from './types.js';

/** A file in a model hub repository (Hugging Face layout). */
export interface HubFile {
  /** "org/repo". */
  repo: string;
  /** Path of the file in the repository (default: the card's onnx.file). */
  file?: string;
  /** Branch, tag or commit (default "main"). */
  revision?: string;
}

/** The download URL of a hub file: <hub>/<org/repo>/resolve/<revision>/<file> (hub: $CBIR_HUB_URL or huggingface.co). */
export function hubUrl(card: ModelCard, hub: HubFile, base = hubBaseUrl()): string {
  if (!/^[\w.-]+\/[\w.-]+$/.test(hub.repo))
    throw new CbirError(`"${hub.repo}" is not a model hub repository name for model "${card.id}"`, {
      file: cardSource(card),
      hint: 'give the repository as organisation/name, e.g. microsoft/resnet-50',
      code: 'pull/hub',
    });
  const file = (hub.file ?? card.onnx.file).replace(/^\/+/, '');
  if (!file || file.split('/').some((p) => p === '..' || p === ''))
    throw new CbirError(`"${hub.file}" is not a file path inside a repository (model "${card.id}")`, {
      file: cardSource(card),
      hint: 'give the path of the ONNX file inside the repository, e.g. onnx/model.onnx',
      code: 'pull/hub',
    });
  const enc = (p: string) => p.split('/').map(encodeURIComponent).join('/');
  return `${base}/${hub.repo}/resolve/${encodeURIComponent(hub.revision ?? 'main')}/${enc(file)}`;
}

export interface PullOptions {
  /** Download from here instead of the card's `onnx.url`. */
  url?: string;
  /** Download this model hub file instead of the card's `onnx.url`. */
  hub?: HubFile;
  /** Final file path (default: $CBIR_MODELS or models/weights, plus the card's `onnx.file`). */
  dest?: string;
  onProgress?: ProgressListener;
  /** Give up on a connection that sends nothing for this long (ms, default 60 000). */
  timeoutMs?: number;
}

export interface PullResult {
  path: string;
  sha256: string;
  /** Bytes fetched by this call (less than the size when a .part file was resumed). */
  downloaded: number;
  resumedFrom: number;
  /** False when neither the card nor the lock file had a sha256 to check against (then it is recorded). */
  verified: boolean;
  /** Where the sha256 checked against came from. */
  pinnedBy: 'card' | 'lock' | null;
  /** The lock file that records the sha256, when this pull recorded it (first download of a card without one). */
  recordedIn: string | null;
  url: string;
}

const OFFLINE_CODES = new Set(['ENOTFOUND', 'EAI_AGAIN', 'ECONNREFUSED', 'ENETUNREACH', 'EHOSTUNREACH', 'ENETDOWN']);

function handPlaceHint(card: ModelCard, url: string, dest: string): string {
  return `on a machine with internet access download ${url}${card.onnx.sha256 ? ` (sha256 ${card.onnx.sha256})` : ''}, copy it to ${dest} (or into $CBIR_MODELS), then verify it`;
}

interface Response {
  status: number;
  headers: http.IncomingHttpHeaders;
  stream: http.IncomingMessage;
}

function request(url: string, headers: Record<string, string>, timeoutMs: number, redirects = 5): Promise<Response> {
  return new Promise((resolveP, rejectP) => {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      rejectP(Object.assign(new Error(`invalid URL ${url}`), { code: 'EINVALIDURL' }));
      return;
    }
    const mod = u.protocol === 'https:' ? https : u.protocol === 'http:' ? http : null;
    if (!mod) {
      rejectP(Object.assign(new Error(`unsupported protocol ${u.protocol}`), { code: 'EINVALIDURL' }));
      return;
    }
    const req = mod.get(
      u,
      {
        headers: { 'user-agent': 'radcbir', ...headers },
        agent: false /* a fresh connection: no stale keep-alive socket */,
      },
      (res) => {
        const status = res.statusCode ?? 0;
        if (status >= 300 && status < 400 && res.headers.location) {
          res.resume();
          if (redirects <= 0) {
            rejectP(Object.assign(new Error('too many redirects'), { code: 'ETOOMANYREDIRECTS' }));
            return;
          }
          resolveP(request(new URL(res.headers.location, u).toString(), headers, timeoutMs, redirects - 1));
          return;
        }
        resolveP({ status, headers: res.headers, stream: res });
      },
    );
    req.setTimeout(timeoutMs, () =>
      req.destroy(Object.assign(new Error(`no response for ${timeoutMs} ms`), { code: 'ETIMEDOUT' })),
    );
    req.on('error', rejectP);
  });
}

/**
 * Download a card's ONNX file with resume (Range) and sha256 verification. Leaves nothing
 * corrupt in place: a checksum mismatch deletes the download; an interrupted one keeps only
 * `<dest>.part` for the next call to resume.
 */
export async function pullModel(card: ModelCard, opts: PullOptions = {}): Promise<PullResult> {
  const url = opts.url ?? (opts.hub ? hubUrl(card, opts.hub) : card.onnx.url);
  const dest = opts.dest ?? join(defaultWeightsDir(), card.onnx.file);
  if (!url) {
    throw new CbirError(`model "${card.id}" has no download URL (onnx.url)`, {
      file: cardSource(card),
      hint: `give a download URL (or set onnx.url in the model card), or export it with \`models/export/export_onnx.py --model ${card.id}\` and place ${card.onnx.file} at ${dest}`,
      code: 'pull/no-url',
    });
  }
  const pin = pinnedSha256(card, dirname(dest));
  const download = new Download(card, url, dest, opts);
  await download.fetchOnce();
  const got = await checkDownload(card, url, download.part, pin);
  await checkIsModel(card, url, download.part, dest);
  await placeDownload(download.part, dest);
  let recordedIn: string | null = null;
  if (!pin) {
    await updateLock(dirname(dest), (lock) => {
      lock.models[card.id] = { file: basename(dest), sha256: got, url, recordedAt: new Date().toISOString() };
    });
    recordedIn = lockPath(dirname(dest));
  }
  return {
    path: dest,
    sha256: got,
    downloaded: download.downloaded,
    resumedFrom: download.resumedFrom,
    verified: pin !== null,
    pinnedBy: pin?.by ?? null,
    recordedIn,
    url,
  };
}

/** The sha256 a model's file must have: the card's, else the one the folder's lock file recorded. */
function pinnedSha256(card: ModelCard, dir: string): { sha256: string; by: 'card' | 'lock'; where: string } | null {
  if (card.onnx.sha256) return { sha256: card.onnx.sha256, by: 'card', where: cardSource(card) };
  const pin = readLock(dir).models[card.id];
  if (!pin) return null;
  return {
    sha256: pin.sha256,
    by: 'lock',
    where: `${lockPath(dir)} (recorded on the first download, ${pin.recordedAt})`,
  };
}

/** One download into `<dest>.part`, resuming from the bytes already there. */
class Download {
  readonly part: string;
  /** Bytes of the .part file this download continues (0 when the server ignored Range). */
  resumedFrom: number;
  /** Bytes received by this call. */
  downloaded = 0;
  private readonly timeoutMs: number;

  constructor(
    private readonly card: ModelCard,
    private readonly url: string,
    private readonly dest: string,
    private readonly opts: PullOptions,
  ) {
    this.part = `${dest}.part`;
    this.timeoutMs = opts.timeoutMs ?? 60_000;
    this.resumedFrom = existsSync(this.part) ? statSync(this.part).size : 0;
  }

  /** Request the file (with Range when resuming) and stream the response into the .part file. */
  async fetchOnce(): Promise<void> {
    const { card, url, dest, part } = this;
    // No await may come between the response and attaching its listeners (events would be lost).
    await mkdir(dirname(dest), { recursive: true });
    let res: Response;
    try {
      res = await request(url, this.resumedFrom > 0 ? { range: `bytes=${this.resumedFrom}-` } : {}, this.timeoutMs);
    } catch (e) {
      throw networkError(e, card, url, dest, part, this.resumedFrom);
    }
    if (res.status === 416 && this.resumedFrom > 0) {
      // The .part already holds everything the server has: check it below.
      res.stream.resume();
      return;
    }
    if (res.status !== 200 && res.status !== 206) {
      res.stream.resume();
      throw new CbirError(`download of model "${card.id}" failed: HTTP ${res.status} from ${url}`, {
        file: dest,
        hint:
          res.status === 404
            ? `the URL is wrong or the file was moved; give the right URL, or ${handPlaceHint(card, url, dest)}`
            : `try again later, or ${handPlaceHint(card, url, dest)}`,
        code: 'pull/http',
      });
    }
    const start = this.startOf(res);
    await this.receive(res, start);
  }

  /** The byte the response starts at: the resume offset for 206 (checked), else 0 (start over). */
  private startOf(res: Response): number {
    if (res.status !== 206) {
      this.resumedFrom = 0; // the server ignored Range: start over
      return 0;
    }
    const m = /bytes (\d+)-/.exec(String(res.headers['content-range'] ?? ''));
    const start = m ? Number(m[1]) : this.resumedFrom;
    if (start !== this.resumedFrom) {
      res.stream.resume();
      throw new CbirError(`server resumed model "${this.card.id}" at byte ${start}, not ${this.resumedFrom}`, {
        file: this.part,
        hint: `delete ${this.part} and pull again`,
        code: 'pull/range',
      });
    }
    return start;
  }

  /**
   * Stream the body into the .part file (appending from `start`), with progress. Synchronous up
   * to attaching the listeners, so no event of the response is lost.
   */
  private async receive(res: Response, start: number): Promise<void> {
    const length = Number(res.headers['content-length'] ?? NaN);
    const total = Number.isFinite(length) ? start + length : NaN;
    const tracker = new ProgressTracker(
      `pull ${this.card.id}`,
      Number.isFinite(total) ? total : 0,
      this.opts.onProgress,
      'bytes',
      start,
    );
    const out = createWriteStream(this.part, { flags: start > 0 ? 'a' : 'w' });
    const counter = { got: 0 };
    await this.pipe(res.stream, out, length, tracker, counter).catch((e) => {
      throw networkError(e, this.card, this.url, this.dest, this.part, start + counter.got);
    });
    tracker.finish();
  }

  /** Copy `src` into `out` with back-pressure; settles once what arrived is flushed to disk. */
  private pipe(
    src: http.IncomingMessage,
    out: ReturnType<typeof createWriteStream>,
    length: number,
    tracker: ProgressTracker,
    counter: { got: number },
  ): Promise<void> {
    return new Promise<void>((resolveP, rejectP) => {
      let settled = false;
      // On any end, flush what arrived into the .part file before settling, so a resume starts
      // exactly after the last byte received.
      const settle = (e?: unknown) => {
        if (settled) return;
        settled = true;
        src.removeAllListeners('data');
        src.resume();
        out.end(() => (e ? rejectP(e) : resolveP()));
      };
      const cut = () =>
        Object.assign(
          new Error(`connection closed after ${counter.got}${Number.isFinite(length) ? ` of ${length}` : ''} bytes`),
          { code: 'ECONNRESET' },
        );
      src.on('data', (chunk: Buffer) => {
        counter.got += chunk.length;
        this.downloaded += chunk.length;
        tracker.add(chunk.length);
        if (!out.write(chunk)) src.pause();
      });
      out.on('drain', () => {
        if (!settled) src.resume();
      });
      out.on('error', (e) => {
        settled = true;
        src.destroy();
        rejectP(e);
      });
      src.on('end', () => settle(Number.isFinite(length) && counter.got < length ? cut() : undefined));
      src.on('aborted', () => settle(cut()));
      src.on('error', (e) => settle(e));
      src.on('close', () => {
        if (!src.complete) settle(cut());
      });
    });
  }
}

/** The sha256 of the download; a mismatch with the card's (or the lock's) deletes the download and throws. */
async function checkDownload(
  card: ModelCard,
  url: string,
  part: string,
  pin: ReturnType<typeof pinnedSha256>,
): Promise<string> {
  const got = await sha256File(part);
  if (pin && got !== pin.sha256) {
    await rm(part, { force: true });
    const by = pin.by === 'card' ? 'the card says' : 'the lock file says';
    throw new CbirError(
      `checksum mismatch for model "${card.id}": the download from ${url} has sha256 ${got}, ${by} ${pin.sha256} (${pin.where}); the download was deleted and the file in place, if any, kept`,
      {
        file: pin.by === 'card' ? cardSource(card) : pin.where,
        hint:
          pin.by === 'card'
            ? 'pull again (a proxy or an interrupted transfer may have damaged it); if the file at the URL changed on purpose, re-export it and update onnx.sha256 in the card'
            : `pull again (a proxy or an interrupted transfer may have damaged it); if the file at the URL changed on purpose, remove the "${card.id}" entry from the lock file and pull again`,
        code: 'pull/checksum',
      },
    );
  }
  return got;
}

/**
 * Check that a download is an ONNX model onnxruntime loads, with the card's input/output names
 * and shapes and a finite embedding of the card's dim; otherwise delete it and say why (e.g.
 * an HTML page from a proxy), leaving the file at `dest` untouched.
 */
async function checkIsModel(card: ModelCard, url: string, part: string, dest: string): Promise<void> {
  let why: string | null = null;
  const head = await firstBytes(part, 512);
  if (/^\s*</.test(head) || /<html|<!doctype/i.test(head))
    why = 'it is an HTML page (a proxy login or an error page?), not an ONNX file';
  if (!why) {
    try {
      const ex = await loadOnnxExtractor(card, { modelPath: part, batchSize: 1, referenceCheck: false });
      try {
        const out = await ex.embedTensor(new Float32Array(preprocessedLength(card.preprocess)), 1);
        if (!out.every(Number.isFinite)) why = 'a forward pass on a blank image gives NaN or Inf';
      } finally {
        await ex.close();
      }
    } catch (e) {
      why = errorMessage(e).replace(part, 'the download');
    }
  }
  if (!why) return;
  await rm(part, { force: true });
  throw new CbirError(
    `the download of model "${card.id}" from ${url} is not a usable ONNX model: ${why}; it was deleted${existsSync(dest) ? ` and ${dest} was left as it was` : ''}`,
    {
      file: dest,
      hint: `check the URL (or the hub repository, file path and revision); ${handPlaceHint(card, url, dest)}`,
      code: 'pull/not-a-model',
    },
  );
}

async function firstBytes(file: string, n: number): Promise<string> {
  const fh = await open(file, 'r');
  try {
    const buf = Buffer.alloc(n);
    const { bytesRead } = await fh.read(buf, 0, n, 0);
    return buf.subarray(0, bytesRead).toString('latin1');
  } finally {
    await fh.close();
  }
}

/** fsync the verified .part file, then rename it into place. */
async function placeDownload(part: string, dest: string): Promise<void> {
  const fh = await open(part, 'r+');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(part, dest);
}

function networkError(e: unknown, card: ModelCard, url: string, dest: string, part: string, have: number): CbirError {
  if (e instanceof CbirError) return e;
  const code = errorCode(e) ?? '';
  const msg = errorMessage(e);
  if (OFFLINE_CODES.has(code)) {
    return new CbirError(
      `cannot reach ${new URL(url).host} to download model "${card.id}" (${code}): this machine looks offline or the host is unreachable`,
      {
        file: dest,
        hint: handPlaceHint(card, url, dest),
        code: 'pull/offline',
        cause: e,
      },
    );
  }
  if (code === 'EINVALIDURL')
    return new CbirError(`${msg} for model "${card.id}"`, {
      file: cardSource(card),
      hint: 'give an http(s) URL, or fix onnx.url in the model card',
      code: 'pull/url',
      cause: e,
    });
  return new CbirError(
    `download of model "${card.id}" was interrupted (${code || msg}) after ${have} bytes; the partial file is kept at ${part}`,
    {
      file: part,
      hint: `pull the same model again to resume, or ${handPlaceHint(card, url, dest)}`,
      code: 'pull/interrupted',
      cause: e,
    },
  );
}

export interface VerifyResult {
  id: string;
  ok: boolean;
  path: string | null;
  sha256: string | null;
  /** The sha256 the file must have: the card's, or the lock file's (recorded on the first download). */
  expectedSha256: string | null;
  pinnedBy: 'card' | 'lock' | null;
  /** Reference parity with torch (`<id>.reference.json` next to the file); null when there is none. */
  reference: ReferenceCheck | null;
  /** What is wrong (empty when ok), and warnings (e.g. no sha256 in the card). */
  problems: string[];
  warnings: string[];
}

/**
 * Check a study model: the ONNX file is present, its sha256 matches the card (or the lock file
 * when the card pins none), the graph loads in onnxruntime and matches the card, one forward
 * pass gives `dim`, four distinct phantom images give finite, non-zero and not all equal
 * embeddings (the degenerate-output check of `embed`), and its reference embeddings are
 * reproduced (cosine ≥ 0.9999), recording the result in the lock file.
 */
export async function verifyModel(card: ModelCard, opts: { modelPath?: string } = {}): Promise<VerifyResult> {
  const path = opts.modelPath ?? (card.builtin ? await resolveModelPath(card) : findWeights(card)) ?? null;
  const r: VerifyResult = {
    id: card.id,
    ok: false,
    path,
    sha256: null,
    expectedSha256: null,
    pinnedBy: null,
    reference: null,
    problems: [],
    warnings: [],
  };
  if (!path || !existsSync(path)) {
    r.problems.push(
      `ONNX file not found (looked for ${opts.modelPath ?? weightsCandidates(card).join(', ')}); run \`cbir models pull ${card.id}\` or export it`,
    );
    return r;
  }
  r.sha256 = await sha256File(path);
  checkSha(card, path, r);
  try {
    const ex = await loadOnnxExtractor(card, { modelPath: path, batchSize: 4, referenceCheck: false });
    try {
      const out = await ex.embedTensor(new Float32Array(preprocessedLength(card.preprocess)), 1);
      if (out.length !== card.dim)
        r.problems.push(`a forward pass gave ${out.length} values, the card says dim ${card.dim}`);
      else if (!out.every(Number.isFinite)) r.problems.push('a forward pass on a blank image gave NaN or Inf');
      if (r.problems.length === 0) await checkOutputVaries(card, ex, r);
      if (!card.builtin && r.problems.length === 0) await checkParity(card, ex, path, r);
    } finally {
      await ex.close();
    }
  } catch (e) {
    r.problems.push(errorMessage(e));
  }
  r.ok = r.problems.length === 0;
  return r;
}

/** Phantom classes (one image each) `verifyModel` embeds to check the output depends on the image. */
const VERIFY_PHANTOMS = ['CT/head/normal', 'MR/brain/glioma', 'XR/chest/normal', 'US/breast/malignant'];

/**
 * The degenerate-output check of `embed` on a few distinct phantom images, preprocessed as the
 * card says: a model whose output is all zeros, NaN/Inf, or the same vector for every image fails.
 */
async function checkOutputVaries(
  card: ModelCard,
  ex: Awaited<ReturnType<typeof loadOnnxExtractor>>,
  r: VerifyResult,
): Promise<void> {
  const classes = PHANTOM_CLASSES.filter((c) => VERIFY_PHANTOMS.includes(c.name));
  const len = preprocessedLength(card.preprocess);
  const batch = new Float32Array(classes.length * len);
  for (let i = 0; i < classes.length; i++)
    await preprocessImage(renderPhantom(classes[i], new Rng(i + 1)), card.preprocess, batch, i * len);
  const rows = await ex.embedTensor(batch, classes.length);
  const f = checkEmbeddingRows(rows, card.dim);
  if (!f) return;
  const e = degenerateError(f, {
    source: `model "${card.id}"`,
    label: (i) => `phantom image ${i + 1} (${classes[i].name})`,
    file: () => '', // the problem is about the file verified (r.path): no prefix in the one-line problem
    codePrefix: 'verify',
    total: `${classes.length} distinct phantom images`,
  });
  r.problems.push(`${e.message.split('\n')[0]} (${e.code}); ${e.hint}`);
}

/** The file's sha256 against the card's, or the lock file's. */
function checkSha(card: ModelCard, path: string, r: VerifyResult): void {
  if (card.builtin) {
    r.expectedSha256 = sha256(builtinGraphBytes(builtinGraphOf(card)));
    r.pinnedBy = 'card';
  } else {
    let pin: ReturnType<typeof pinnedSha256> = null;
    try {
      pin = pinnedSha256(card, dirname(path));
    } catch (e) {
      r.problems.push(errorMessage(e));
    }
    r.expectedSha256 = pin?.sha256 ?? null;
    r.pinnedBy = pin?.by ?? null;
    if (pin && r.sha256 !== pin.sha256) {
      r.problems.push(
        pin.by === 'card'
          ? `sha256 ${r.sha256} differs from the card's ${pin.sha256} (${cardSource(card)}); pull it again or update the card after a deliberate re-export`
          : `sha256 ${r.sha256} differs from ${pin.sha256} recorded in ${pin.where}; pull it again, or after a deliberate replacement remove the "${card.id}" entry from the lock file`,
      );
      return;
    }
    if (!pin)
      r.warnings.push(
        `the card has no sha256 and no download recorded one; the file's is ${r.sha256} (put it in onnx.sha256 of ${cardSource(card)})`,
      );
    return;
  }
  if (r.sha256 !== r.expectedSha256)
    r.problems.push(
      `sha256 ${r.sha256} differs from the built-in graph's ${r.expectedSha256}; delete it to have it rewritten`,
    );
}

/** Reference parity (always recomputed here), recorded in the lock file for `embed` and `models list`. */
async function checkParity(
  card: ModelCard,
  ex: Awaited<ReturnType<typeof loadOnnxExtractor>>,
  path: string,
  r: VerifyResult,
): Promise<void> {
  const file = referencePath(card, path);
  if (!existsSync(file)) {
    r.warnings.push(
      `no reference embeddings (${file}): parity with torch is not checked; models/export/export_onnx.py writes them next to the ONNX file`,
    );
    return;
  }
  r.reference = await checkReference(card, ex, file, { onnxSha256: r.sha256 ?? undefined });
  r.problems.push(...r.reference.problems);
  await recordReferenceCheck(card, path, r.sha256!, r.reference);
}
