/**
 * PNG rendering of plotly figures with the system's headless Chromium (Debian's `chromium`
 * package; never downloaded). One browser serves a whole batch: it is driven over the DevTools
 * protocol on a pipe (`--remote-debugging-pipe`, no network port), loads a page with the plotly
 * bundle inlined once, draws each figure with `staticPlot` at its own size, waits for plotly's
 * promise and two animation frames, and captures exactly width × height pixels.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, accessSync, constants, mkdtempSync, rmSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Readable, Writable } from 'node:stream';
import { CbirError, errorMessage } from '../errors.js';
import { chromiumEnv } from '../paths.js';
import { writeFileAtomic } from '../util/fsx.js';
import { plotlyBundle, plotlyConfig, scriptJson } from './html.js';
import type { PlotlyFigure } from './specs.js';

/** Where Chromium is looked for: $CBIR_CHROMIUM, then Debian's paths. */
export const CHROMIUM_PATHS = ['/usr/bin/chromium', '/usr/bin/chromium-browser'];

const INSTALL_HINT =
  'install it with `apt-get install chromium` (Debian/Ubuntu), or set CBIR_CHROMIUM to a Chromium binary; HTML figures need no browser';

/** Path of the Chromium binary, or null when none is installed. $CBIR_CHROMIUM wins (an empty value means "none"). */
export function findChromium(): string | null {
  const env = chromiumEnv();
  const candidates = env !== undefined ? (env === '' ? [] : [env]) : CHROMIUM_PATHS;
  for (const p of candidates) {
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      /* next */
    }
  }
  return null;
}

/** The Chromium binary; a CbirError saying `apt-get install chromium` when there is none. */
export function requireChromium(): string {
  const p = findChromium();
  if (!p) {
    const where = chromiumEnv() !== undefined ? chromiumEnv() || '$CBIR_CHROMIUM (empty)' : CHROMIUM_PATHS.join(' or ');
    throw new CbirError(`Chromium not found (looked for ${where}); PNG figures need a headless Chromium`, {
      file: chromiumEnv() || CHROMIUM_PATHS[0],
      hint: INSTALL_HINT,
      code: 'figures/no-chromium',
    });
  }
  return p;
}

/** One PNG to render: the figure and the output file; size defaults to layout.width × layout.height. */
export interface PngJob {
  figure: PlotlyFigure;
  file: string;
  width?: number;
  height?: number;
}

export interface PngOptions {
  /** Chromium binary (default: findChromium()). */
  chromium?: string;
  /** Seconds allowed for the browser to start and for each figure (default 60). */
  timeoutSeconds?: number;
  /** Called after each PNG is written. */
  onFile?: (file: string, index: number) => void;
}

/** Chromium flags: headless, no sandbox (containers), no GPU, nothing that talks to the network, a fresh profile. */
export function chromiumArgs(userDataDir: string): string[] {
  return [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--no-first-run',
    '--no-default-browser-check',
    '--disable-extensions',
    '--disable-default-apps',
    '--mute-audio',
    '--hide-scrollbars',
    '--disable-dev-shm-usage',
    '--disable-breakpad',
    '--disable-crash-reporter',
    '--force-device-scale-factor=1',
    `--user-data-dir=${userDataDir}`,
    '--remote-debugging-pipe',
    'about:blank',
  ];
}

type CdpMessage = {
  id?: number;
  method?: string;
  params?: Record<string, unknown>;
  result?: Record<string, unknown>;
  error?: { message: string };
  sessionId?: string;
};

/** A DevTools-protocol connection over Chromium's pipe (fd 3 in, fd 4 out, NUL-separated JSON). */
class CdpPipe {
  private nextId = 1;
  private buf = '';
  private readonly pending = new Map<
    number,
    { resolve: (r: Record<string, unknown>) => void; reject: (e: Error) => void; method: string }
  >();
  private readonly waiters: { method: string; sessionId?: string; resolve: (p: Record<string, unknown>) => void }[] =
    [];
  private closedError: Error | null = null;

  constructor(
    private readonly input: Writable,
    output: Readable,
  ) {
    output.setEncoding('utf8');
    output.on('data', (chunk: string) => {
      this.buf += chunk;
      let z: number;
      while ((z = this.buf.indexOf('\0')) >= 0) {
        const text = this.buf.slice(0, z);
        this.buf = this.buf.slice(z + 1);
        this.dispatch(JSON.parse(text) as CdpMessage);
      }
    });
    input.on('error', () => undefined);
  }

  private dispatch(m: CdpMessage): void {
    if (m.id !== undefined) {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.error) p.reject(new Error(`${p.method}: ${m.error.message}`));
      else p.resolve(m.result ?? {});
      return;
    }
    if (m.method) {
      const i = this.waiters.findIndex(
        (w) => w.method === m.method && (w.sessionId === undefined || w.sessionId === m.sessionId),
      );
      if (i >= 0) this.waiters.splice(i, 1)[0].resolve(m.params ?? {});
    }
  }

  fail(e: Error): void {
    this.closedError = e;
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
  }

  send(method: string, params: Record<string, unknown> = {}, sessionId?: string): Promise<Record<string, unknown>> {
    if (this.closedError) return Promise.reject(this.closedError);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, method });
      this.input.write(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }) + '\0');
    });
  }

  /** Resolves at the next event `method` (register before triggering it). */
  event(method: string, sessionId?: string): Promise<Record<string, unknown>> {
    return new Promise((resolve) => this.waiters.push({ method, sessionId, resolve }));
  }
}

function withTimeout<T>(p: Promise<T>, seconds: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new CbirError(`Chromium did not finish ${what} within ${seconds} s`, {
              hint: 'the machine may be overloaded; retry, or raise timeoutSeconds',
              code: 'figures/chromium-timeout',
            }),
          ),
        seconds * 1000,
      );
    }),
  ]);
}

const RENDER_PAGE =
  (): string => `<!DOCTYPE html><html><head><meta charset="utf-8"><style>html,body{margin:0;padding:0;background:#fff;overflow:hidden}#fig{position:absolute;left:0;top:0}</style>
<script>${plotlyBundle()}</script></head><body><div id="fig"></div><script>
window.__render = function (spec) {
  var el = document.getElementById('fig');
  Plotly.purge(el);
  el.style.width = spec.width + 'px'; el.style.height = spec.height + 'px';
  var layout = Object.assign({}, spec.layout, { width: spec.width, height: spec.height });
  return Plotly.newPlot(el, spec.data, layout, spec.config).then(function () {
    return new Promise(function (r) { requestAnimationFrame(function () { requestAnimationFrame(function () { r(el.querySelectorAll('.main-svg').length); }); }); });
  });
};
window.__ready = true;
</script></body></html>`;

/**
 * Render figures to PNG files with one headless Chromium. Each PNG is exactly width × height
 * (default: the figure's layout size). Throws a CbirError (`apt-get install chromium`) when no
 * Chromium is installed, and one naming the figure when the page fails to draw it.
 */
export async function renderPngs(jobs: readonly PngJob[], opts: PngOptions = {}): Promise<string[]> {
  if (jobs.length === 0) return [];
  const sizes = jobs.map(jobSize);
  const chromium = opts.chromium ?? requireChromium();
  if (!existsSync(chromium))
    throw new CbirError('Chromium binary not found', {
      file: chromium,
      hint: INSTALL_HINT,
      code: 'figures/no-chromium',
    });
  const timeout = opts.timeoutSeconds ?? 60;
  const tmp = mkdtempSync(join(tmpdir(), 'cbir-chromium-'));
  const page = join(tmp, 'render.html');
  await writeFile(page, RENDER_PAGE());
  let proc: ChildProcess | undefined;
  const written: string[] = [];
  try {
    proc = spawn(chromium, chromiumArgs(join(tmp, 'profile')), {
      stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'],
      env: { ...process.env, DBUS_SESSION_BUS_ADDRESS: 'disabled:' },
    });
    const { cdp, exited } = connectChromium(proc, chromium);
    const step: Step = (p, what) => Promise.race([withTimeout(p, timeout, what), exited]);
    const sessionId = await openRenderPage(cdp, step, page);
    for (let j = 0; j < jobs.length; j++) {
      await renderJob(cdp, step, sessionId, jobs[j], sizes[j]);
      written.push(jobs[j].file);
      opts.onFile?.(jobs[j].file, j);
    }
    const gone = new Promise((r) => proc!.once('exit', r));
    void cdp.send('Browser.close').catch(() => undefined);
    await Promise.race([gone, new Promise((r) => setTimeout(r, 5000))]);
  } finally {
    await stopChromium(proc, tmp);
  }
  return written;
}

/** A browser step: the promise, failing on the per-step timeout (`what` names it) or when Chromium exits. */
type Step = <T>(p: Promise<T>, what: string) => Promise<T>;

/** The pixel size of a job (its own, else the figure's layout size), checked. */
function jobSize(job: PngJob): { width: number; height: number } {
  const width = Math.round(job.width ?? job.figure.layout?.width);
  const height = Math.round(job.height ?? job.figure.layout?.height);
  if (!(width > 0 && height > 0 && width <= 10000 && height <= 10000))
    throw new CbirError(`figure size ${width} × ${height} is not drawable`, {
      file: job.file,
      hint: 'use a width and height between 1 and 10000 pixels',
      code: 'figures/bad-size',
    });
  return { width, height };
}

/**
 * The DevTools connection to a started Chromium, and a promise that rejects (with a CbirError
 * quoting the end of its stderr) when the browser fails to start or exits; pending calls fail with it.
 */
function connectChromium(proc: ChildProcess, chromium: string): { cdp: CdpPipe; exited: Promise<never> } {
  let stderr = '';
  proc.stderr!.setEncoding('utf8');
  proc.stderr!.on('data', (d: string) => {
    stderr = (stderr + d).slice(-4000);
  });
  const cdp = new CdpPipe(proc.stdio[3] as Writable, proc.stdio[4] as Readable);
  const exited = new Promise<never>((_, reject) => {
    proc.on('error', (e) => {
      const err = new CbirError(`Chromium could not be started: ${errorMessage(e)}`, {
        file: chromium,
        hint: INSTALL_HINT,
        code: 'figures/chromium-failed',
        cause: e,
      });
      cdp.fail(err);
      reject(err);
    });
    proc.on('exit', (code, signal) => {
      const err = new CbirError(
        `Chromium exited (${signal ?? `code ${code}`}) before the figures were rendered${stderr ? `; its last output: ${stderr.trim().split('\n').slice(-3).join(' | ')}` : ''}`,
        {
          file: chromium,
          hint: 'check that `chromium --headless --no-sandbox about:blank` runs on this machine',
          code: 'figures/chromium-failed',
        },
      );
      cdp.fail(err);
      reject(err);
    });
  });
  exited.catch(() => undefined);
  return { cdp, exited };
}

/** Open a tab, load the render page (plotly inlined) in it, and return its session id. */
async function openRenderPage(cdp: CdpPipe, step: Step, page: string): Promise<string> {
  const { targetId } = (await step(cdp.send('Target.createTarget', { url: 'about:blank' }), 'starting')) as {
    targetId: string;
  };
  const { sessionId } = (await step(cdp.send('Target.attachToTarget', { targetId, flatten: true }), 'starting')) as {
    sessionId: string;
  };
  await step(cdp.send('Page.enable', {}, sessionId), 'starting');
  const loaded = cdp.event('Page.loadEventFired', sessionId);
  await step(cdp.send('Page.navigate', { url: pathToFileURL(page).href }, sessionId), 'loading plotly');
  await step(loaded, 'loading plotly');
  return sessionId;
}

/** Draw one figure at its size on the render page and write the screenshot to job.file. */
async function renderJob(
  cdp: CdpPipe,
  step: Step,
  sessionId: string,
  job: PngJob,
  size: { width: number; height: number },
): Promise<void> {
  const { width, height } = size;
  await step(
    cdp.send('Emulation.setDeviceMetricsOverride', { width, height, deviceScaleFactor: 1, mobile: false }, sessionId),
    `sizing ${job.file}`,
  );
  const spec = { data: job.figure.data, layout: job.figure.layout, config: plotlyConfig(true), width, height };
  const r = (await step(
    cdp.send(
      'Runtime.evaluate',
      { expression: `window.__render(${scriptJson(spec)})`, awaitPromise: true, returnByValue: true },
      sessionId,
    ),
    `drawing ${job.file}`,
  )) as {
    result?: { value?: unknown };
    exceptionDetails?: { text?: string; exception?: { description?: string } };
  };
  if (r.exceptionDetails) {
    throw new CbirError(
      `plotly could not draw the figure: ${r.exceptionDetails.exception?.description ?? r.exceptionDetails.text ?? 'unknown error'}`,
      {
        file: job.file,
        hint: 'check the figure spec (data/layout) for invalid values',
        code: 'figures/render-failed',
      },
    );
  }
  const shot = (await step(
    cdp.send(
      'Page.captureScreenshot',
      { format: 'png', clip: { x: 0, y: 0, width, height, scale: 1 }, captureBeyondViewport: false },
      sessionId,
    ),
    `capturing ${job.file}`,
  )) as { data: string };
  await writeFileAtomic(job.file, Buffer.from(shot.data, 'base64'));
}

/** End Chromium if it still runs (SIGTERM, then SIGKILL after 3 s) and remove the temp folder, never failing over it. */
async function stopChromium(proc: ChildProcess | undefined, tmp: string): Promise<void> {
  if (proc && proc.exitCode === null && proc.signalCode === null) {
    const gone = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGTERM');
    await Promise.race([gone, new Promise((r) => setTimeout(r, 3000))]);
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
  }
  // Helper processes may still be closing files in the profile: retry, and never fail over a temp folder.
  try {
    rmSync(tmp, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
  } catch {
    /* left in the OS temp folder */
  }
}

/** Render one figure to a PNG file (see renderPngs). */
export async function renderPng(
  figure: PlotlyFigure,
  file: string,
  opts: PngOptions & { width?: number; height?: number } = {},
): Promise<string> {
  await renderPngs([{ figure, file, width: opts.width, height: opts.height }], opts);
  return file;
}
