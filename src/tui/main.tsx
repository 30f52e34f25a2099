/**
 * Entry of the terminal UI (`cbir tui`): refuses without a terminal (printing the equivalent
 * `cbir` commands), opens a report folder or the run screen, and renders the App on the
 * terminal's alternate screen.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { displayPath } from './layout.js';
import { render } from 'ink';
import { openReport, PROJECT_ROOT, readSavedIndexInfo, REPORT_FILE } from '../workbench/index.js';
import { App } from './App.js';
import { modelIds, type ReportData } from './report.js';
import { defaultRunOut } from './runner.js';

export interface TuiOptions {
  /** Report folder to open (no recompute). */
  report?: string;
  /** Manifest folder: the run screen's dataset, and the query browser's manifest for --report. */
  data?: string;
  /** Work folder of the report (embeddings, k-NN cache). */
  work?: string;
  /** Where exports are written (default <report>/exports). */
  exportDir?: string;
  /** Models ticked on the run screen. */
  models?: string[];
  /** Report folder of a new run. */
  out?: string;
  /** A saved index folder (`cbir index build`) to search with your own images (s). */
  index?: string;
}

/**
 * Models ticked by default on the run screen: the ones `cbir start` runs (its DEFAULT_MODELS,
 * repeated here so that starting the UI does not load the benchmark; a test keeps them equal).
 */
export const TUI_DEFAULT_MODELS = ['classic', 'hog4x4x9', 'tiny16', 'tiny-vit', 'tiny-cnn', 'tiny-sam'];

/** Whether `dir` holds a finished report (its report.json). */
function isReportFolder(dir: string): boolean {
  return existsSync(join(dir, REPORT_FILE));
}

/**
 * A folder for new results next to `dir` that is not a finished report (no report.json), so a
 * suggested command never writes over one: `dir` itself when it is free, else `dir-2`, `dir-3`…
 * (folders that exist but hold no report, e.g. an interrupted run, are reused: it resumes).
 */
export function freshOut(dir: string, finished: (d: string) => boolean = isReportFolder): string {
  if (!finished(dir)) return dir;
  const base = dir.replace(/[\\/]+$/, '');
  for (let i = 2; ; i++) if (!finished(`${base}-${i}`)) return `${base}-${i}`;
}

/**
 * What `cbir tui` prints when stdin or stdout is not a terminal: the `cbir` commands that do
 * the same work, and for --report where its tables are. `report` is the opened report, if any.
 * The commands write into fresh folders (`freshOut`), never into a finished report; with
 * --report they reuse its work folder, so nothing that is there is recomputed.
 */
export function refusal(
  o: TuiOptions,
  report?: ReportData | null,
  finished: (dir: string) => boolean = isReportFolder,
): string {
  const lines = [
    'cbir tui: the terminal UI needs an interactive terminal (stdin and stdout must be a TTY); not starting.',
    '',
  ];
  if (o.report) {
    const full = report?.dir ?? o.report;
    const dir = displayPath(full);
    const data = o.data ?? report?.dataset.dir ?? '<manifest dir>';
    const models = (report ? modelIds(report) : []).join(',') || '<model ids>';
    const model = report?.models[0]?.modelId ?? '<model id>';
    const work = displayPath(report?.work ?? join(full, 'work'));
    const taken = (d: string) => resolve(d) === resolve(full) || finished(d); // the open report is finished
    const again = displayPath(freshOut(full, taken));
    const one = displayPath(freshOut(`${full}-${model.replace(/[^A-Za-z0-9._-]/g, '')}`, taken));
    lines.push(
      `The report's tables are files already: ${join(dir, 'summary.md')} (all tables, Markdown), ${join(dir, REPORT_FILE)} (everything, typed),`,
      `${join(dir, 'table3_retrieval.csv')} (P@N, micro and macro) and the other table*.csv / comparison.csv next to it.`,
      `The same numbers without the UI, into new folders (${dir} stays as it is):`,
      `  cbir report --data ${displayPath(data)} --models ${models} --work ${work} --out ${again}      (reuses ${work}: nothing is recomputed that is there)`,
      `  cbir eval --data ${displayPath(data)} --model ${model} --work ${work} --out ${one}      (one model)`,
    );
  } else {
    const models = (o.models?.length ? o.models : TUI_DEFAULT_MODELS).join(',');
    const full = freshOut(o.out ?? defaultRunOut(o.data ?? null), finished);
    const out = displayPath(full);
    const one = displayPath(freshOut(`${full}-${models.split(',')[0]}`, finished));
    lines.push(
      'The same work without the UI:',
      o.data
        ? `  cbir report --data ${o.data} --models ${models} --out ${out}`
        : `  cbir start --models ${models} --out ${out}      (the phantom dataset; or cbir report --data <manifest dir> ...)`,
      `  cbir eval --data ${o.data ?? '<manifest dir>'} --model ${models.split(',')[0]} --out ${one}      (one model)`,
      'and `cbir models list` for the model ids.',
    );
  }
  if (o.index)
    lines.push(`Search the index with your own image: cbir search --index ${displayPath(o.index)} <image|folder>`);
  return lines.join('\n');
}

/**
 * Run the TUI until the user quits. Returns the exit code: 2 (after printing `refusal`) when
 * stdin or stdout is not a TTY. Throws a CbirError when --report is not a report folder (an
 * old one without report.json: its message says to re-run the report), or --index is not a
 * saved index folder.
 */
export async function runTui(
  o: TuiOptions,
  io: { stdin: NodeJS.ReadStream; stdout: NodeJS.WriteStream; stderr: NodeJS.WriteStream } = process,
): Promise<number> {
  const report = o.report ? await openReport(o.report) : null;
  if (o.index) await readSavedIndexInfo(o.index); // refused before the screen changes, with the core's message
  if (!io.stdin.isTTY || !io.stdout.isTTY) {
    io.stderr.write(refusal(o, report) + '\n');
    return 2;
  }
  const start = join(PROJECT_ROOT, 'runs', 'start');
  const setup = {
    data: o.data && !o.report ? o.data : '',
    out: o.out ?? '',
    models: o.models?.length ? o.models : TUI_DEFAULT_MODELS,
    // the report open now (set by the App), else the `cbir start` report when there is one
    open: !report && existsSync(join(start, REPORT_FILE)) ? displayPath(start) : '',
  };
  io.stdout.write('\x1b[?1049h\x1b[H'); // alternate screen: the shell's screen comes back on exit
  const restore = () => io.stdout.write('\x1b[?1049l');
  process.once('exit', restore);
  try {
    const app = render(
      <App
        report={report}
        dataDir={o.report ? o.data : undefined}
        workDir={o.work}
        index={o.index}
        exportDir={o.exportDir}
        setup={setup}
      />,
      {
        stdin: io.stdin,
        stdout: io.stdout,
        stderr: io.stderr,
        exitOnCtrlC: true,
        patchConsole: true,
      },
    );
    await app.waitUntilExit();
  } finally {
    process.off('exit', restore);
    restore();
  }
  return 0;
}
