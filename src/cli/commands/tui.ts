import { parseOptions } from '../options.js';

export const summary = 'terminal UI: run models on a dataset with live progress, compare them, browse queries';

export const usage = `usage: cbir tui [--report <dir>] [--index <dir>] [--data <manifest dir>] [--models <ids>] [--out <dir>]

Without --report: opens on the run screen. Pick a dataset (default: the synthetic phantom) and
models, start, and follow per-model progress (images/s, ETA) while you browse; the run goes on
in the background and resumes from its work folder when started again. When it finishes, its
report opens. With --report: opens a report folder written by \`cbir report\` / \`cbir start\`
(e.g. runs/start) without recomputing anything.

Views: overall P@1/3/5/10 micro and macro (best per column marked, 95 % intervals), per
modality, anatomical vs pathological, per source dataset, k-NN classification and linear
probing, paired comparison, and a query browser (top-k matches with class, similarity, ✓/✗,
images drawn with Unicode half blocks). e exports the current view as CSV or Markdown; ? lists
the keys; q quits. Needs an interactive terminal (80×24 or larger); otherwise it prints the
equivalent \`cbir report\` / \`cbir eval\` commands and exits with code 2.

Search: s searches with your own image, DICOM file or folder (type or paste its path); the
results show in the query browser (similarity, class, ✓/✗ when the image's class is known). It
searches the --index folder, else the open report's train split for the current model (the
study's index, built in memory on the first search; m searches again with another model).

options:
  --report <dir>        report folder to open
  --data <dir>          manifest folder: the run screen's dataset; with --report, the manifest
                        for the query browser (default: the report's, as report.json names it)
  --work <dir>          the report's work folder (embeddings, k-NN cache; default: the one report.json names)
  --models <ids>        models ticked on the run screen (default: the ones \`cbir start\` runs)
  --out <dir>           report folder of a new run (default runs/tui-<dataset>)
  --index <dir>         a saved index (\`cbir index build\`) that s searches (default: the report's train split)
  --export-dir <dir>    where exports go (default <report>/exports)`;

export async function run(args: string[]): Promise<number> {
  const { values } = parseOptions('tui', {
    args,
    strict: true,
    allowPositionals: false,
    options: {
      report: { type: 'string' },
      data: { type: 'string' },
      work: { type: 'string' },
      models: { type: 'string' },
      out: { type: 'string' },
      'export-dir': { type: 'string' },
      index: { type: 'string' },
    },
  });
  // Ink renders only the last frame when it thinks it runs in CI (CI / CONTINUOUS_INTEGRATION set).
  // Someone who opens the TUI in a real terminal wants it live, so on a TTY that guess is switched
  // off before Ink is loaded; without a TTY the TUI refuses anyway (runTui).
  if (process.stdin.isTTY && process.stdout.isTTY) {
    for (const key of ['CI', 'CONTINUOUS_INTEGRATION']) if (key in process.env) process.env[key] = '0';
  }
  const { runTui } = await import('../../tui/main.js');
  return runTui({
    report: values.report,
    data: values.data,
    work: values.work,
    out: values.out,
    exportDir: values['export-dir'],
    index: values.index,
    models: values.models
      ?.split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  });
}
