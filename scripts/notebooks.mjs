#!/usr/bin/env node
// Execute every notebook in notebooks/ headless, in name order, with the tslab kernel; write the
// executed copies (with outputs) to runs/notebooks/ (the committed notebooks carry no outputs);
// stop at the first failing cell, naming the notebook and the cell.
//
//   node scripts/notebooks.mjs [--only <name part>] [--out <dir>] [--timeout <s per cell>] [--check]
//
// Needs Jupyter's notebook runner (Debian: apt-get install -y jupyter-nbconvert python3-nbclient
// python3-ipykernel) and the tslab kernel, which this script installs when it is missing
// (`tslab install --python=<Jupyter's python>`). Cells run the way `jupyter nbconvert --to notebook
// --execute` runs them (its ExecutePreprocessor is nbclient's NotebookClient); nbclient is driven
// directly so that a failing cell's error text is kept in the executed copy and the cell is named.
// The notebooks read $CBIR_NOTEBOOK_RUNS (set here to --out) for their output folders.
//
// Exit status: 0 all notebooks ran, 1 a notebook failed, 2 Jupyter/tslab unavailable or bad usage.
import { spawnSync, spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync, accessSync, constants, statSync } from 'node:fs';
import { delimiter, dirname, join, resolve, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const NOTEBOOKS = join(ROOT, 'notebooks');
const KERNEL = 'tslab';
const INSTALL_HINT =
  "install Jupyter's notebook runner (Debian/Ubuntu: `apt-get install -y jupyter-nbconvert python3-nbclient python3-ipykernel`)";

// nbclient driver: executes one notebook, always writes the executed copy, prints a JSON result line.
const DRIVER = String.raw`
import json, sys
import nbformat
from nbclient import NotebookClient
src, dst, kernel, timeout, cwd = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
nb = nbformat.read(src, as_version=4)
for c in nb.cells:
    if c.cell_type == 'code':
        c.outputs = []
        c.execution_count = None
import time
state = {'cell': None, 'kernel_seconds': None}
t0 = time.monotonic()
def on_start(cell, cell_index):
    if state['kernel_seconds'] is None:
        state['kernel_seconds'] = round(time.monotonic() - t0, 1)
    state['cell'] = cell_index
def client_for(nb):
    # startup_timeout: a kernel start must not depend on how busy the machine is (nbclient's default is 60 s)
    return NotebookClient(nb, timeout=timeout, startup_timeout=300, kernel_name=kernel, resources={'metadata': {'path': cwd}}, on_cell_start=on_start)
result = {'ok': True, 'cells': len(nb.cells)}
try:
    try:
        client_for(nb).execute()
    except BaseException as first:
        if state['cell'] is not None:
            raise
        # the kernel did not start: retry once with a fresh kernel, and say so
        sys.stderr.write('kernel start failed (%s: %s); retrying once\n' % (type(first).__name__, str(first)[:200]))
        t0 = time.monotonic()
        result['kernelRetried'] = True
        client_for(nb).execute()
    result['kernelSeconds'] = state['kernel_seconds']
except BaseException as e:
    i = state['cell']
    cell = nb.cells[i] if i is not None else None
    text = ''
    if cell is not None:
        for o in cell.get('outputs', []):
            if o.get('output_type') == 'stream' and o.get('name') == 'stderr':
                text += o.get('text', '')
            elif o.get('output_type') == 'error':
                text += o.get('ename', '') + ': ' + o.get('evalue', '') + '\n' + '\n'.join(o.get('traceback', []))
    result = {'ok': False, 'cell': i, 'kind': type(e).__name__, 'source': cell.source if cell is not None else '', 'message': str(e)[-3000:], 'stderr': text[-6000:]}
finally:
    nbformat.write(nb, dst)
print('@@RESULT ' + json.dumps(result), flush=True)
`;

function which(cmd, path) {
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    const p = join(dir, cmd);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      /* next */
    }
  }
  return null;
}

/** The tool chain: jupyter, the python it runs on (from its #! line), nbclient, the tslab kernel. */
export function probe(env = process.env) {
  const PATH = [join(ROOT, 'node_modules', '.bin'), env.PATH ?? ''].join(delimiter);
  const jupyter = which('jupyter', PATH);
  if (!jupyter) return { ok: false, reason: `jupyter not found on PATH: ${INSTALL_HINT}`, PATH };
  let python = env.CBIR_JUPYTER_PYTHON ?? null;
  if (!python) {
    const first = readFileSync(jupyter, 'utf8').split('\n', 1)[0];
    const m = /^#!\s*(\S+)(?:\s+(\S+))?/.exec(first);
    python = m ? (m[1].endsWith('/env') && m[2] ? m[2] : m[1]) : 'python3';
  }
  const nbc = spawnSync(python, ['-c', 'import nbclient, nbformat'], { encoding: 'utf8', env: { ...env, PATH } });
  if (nbc.status !== 0)
    return {
      ok: false,
      reason: `${python} (Jupyter's python) cannot import nbclient/nbformat: ${INSTALL_HINT}`,
      jupyter,
      python,
      PATH,
    };
  const kernels = kernelspecs(jupyter, python, { ...env, PATH });
  if (kernels === null)
    return {
      ok: false,
      reason: `cannot list Jupyter kernels (neither \`jupyter kernelspec list\` nor \`${python} -m jupyter_client.kernelspecapp\` works): ${INSTALL_HINT}`,
      jupyter,
      python,
      PATH,
    };
  return { ok: true, jupyter, python, PATH, tslab: kernels.includes(KERNEL), kernels };
}

function kernelspecs(jupyter, python, env) {
  for (const [cmd, args] of [
    [jupyter, ['kernelspec', 'list', '--json']],
    [python, ['-m', 'jupyter_client.kernelspecapp', 'list', '--json']],
  ]) {
    const r = spawnSync(cmd, args, { encoding: 'utf8', env });
    if (r.status !== 0) continue;
    try {
      return Object.keys(JSON.parse(r.stdout).kernelspecs ?? {});
    } catch {
      /* next */
    }
  }
  return null;
}

function installKernel(t) {
  const tslab = which('tslab', t.PATH);
  if (!tslab) return `tslab is not installed in node_modules: run \`npm install\``;
  console.error(`installing the tslab Jupyter kernel (tslab install --python=${t.python}) …`);
  const r = spawnSync(tslab, ['install', `--python=${t.python}`], {
    encoding: 'utf8',
    env: { ...process.env, PATH: t.PATH },
  });
  if (r.status !== 0)
    return `\`tslab install --python=${t.python}\` failed: ${(r.stderr || r.stdout).trim().slice(-500)}`;
  const after = kernelspecs(t.jupyter, t.python, { ...process.env, PATH: t.PATH });
  return after?.includes(KERNEL)
    ? null
    : 'the tslab kernel is still not listed by `jupyter kernelspec list` after installing it';
}

function runDriver(t, src, dst, timeout, out) {
  return new Promise((resolveP) => {
    const child = spawn(t.python, ['-c', DRIVER, src, dst, KERNEL, String(timeout), NOTEBOOKS], {
      cwd: NOTEBOOKS,
      env: { ...process.env, PATH: t.PATH, CBIR_NOTEBOOK_RUNS: out, PYDEVD_DISABLE_FILE_VALIDATION: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '',
      stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('close', (code) => {
      const line = stdout.split('\n').find((l) => l.startsWith('@@RESULT '));
      if (line) resolveP(JSON.parse(line.slice(9)));
      else
        resolveP({
          ok: false,
          cell: null,
          kind: 'DriverError',
          source: '',
          message: `the notebook runner exited with ${code}: ${stderr.trim().slice(-3000)}`,
          stderr: '',
        });
    });
  });
}

function cellLabel(nb, i) {
  if (i === null || i === undefined) return 'before the first cell (kernel start)';
  const cells = nb.cells ?? [];
  const code = cells.slice(0, i + 1).filter((c) => c.cell_type === 'code').length;
  return `cell ${i + 1} of ${cells.length} (code cell ${code}${cells[i]?.id ? `, id ${cells[i].id}` : ''})`;
}

async function main() {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        only: { type: 'string' },
        out: { type: 'string' },
        timeout: { type: 'string' },
        check: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }));
  } catch (e) {
    console.error(
      `${e.message}\nusage: node scripts/notebooks.mjs [--only <name part>] [--out <dir>] [--timeout <s>] [--check]`,
    );
    return 2;
  }
  if (values.help) {
    console.log(
      'usage: node scripts/notebooks.mjs [--only <name part>] [--out <dir>] [--timeout <seconds per cell, default 600>] [--check]\n\nExecutes notebooks/*.ipynb headless with the tslab kernel (installed when missing) and writes\nthe executed copies to runs/notebooks/ (or --out). --check only says whether Jupyter and the tslab\nkernel are available (exit 0) or not (exit 2), installing nothing.',
    );
    return 0;
  }
  const t = probe();
  if (values.check) {
    if (t.ok && t.tslab) {
      console.log(`available: ${t.jupyter} (python ${t.python}), kernel ${KERNEL}`);
      return 0;
    }
    console.log(
      t.ok
        ? `the ${KERNEL} Jupyter kernel is not installed: run \`npm run notebooks\` once (it installs it) or \`npx tslab install --python=${t.python}\``
        : t.reason,
    );
    return 2;
  }
  if (!t.ok) {
    console.error(`notebooks: ${t.reason}`);
    return 2;
  }
  if (!t.tslab) {
    const err = installKernel(t);
    if (err) {
      console.error(`notebooks: ${err}`);
      return 2;
    }
  }
  const timeout = values.timeout ? Number(values.timeout) : 600;
  if (!Number.isInteger(timeout) || timeout < 1) {
    console.error(`--timeout must be a positive whole number of seconds, got "${values.timeout}"`);
    return 2;
  }
  const out = resolve(values.out ?? join(ROOT, 'runs', 'notebooks'));
  mkdirSync(out, { recursive: true });
  const names = readdirSync(NOTEBOOKS)
    .filter((f) => f.endsWith('.ipynb') && !f.startsWith('.'))
    .filter((f) => !values.only || f.includes(values.only))
    .sort();
  if (names.length === 0) {
    console.error(`no notebooks${values.only ? ` matching "${values.only}"` : ''} in ${NOTEBOOKS}`);
    return 2;
  }
  const results = [];
  const t0 = Date.now();
  for (const name of names) {
    const src = join(NOTEBOOKS, name),
      dst = join(out, name);
    const start = Date.now();
    process.stderr.write(`${name} … `);
    const r = await runDriver(t, src, dst, timeout, out);
    const seconds = Math.round((Date.now() - start) / 100) / 10;
    let bytes = null;
    try {
      bytes = statSync(dst).size;
    } catch {
      /* no executed copy */
    }
    results.push({
      notebook: name,
      executed: dst,
      ok: r.ok,
      seconds,
      kernelSeconds: r.kernelSeconds ?? null,
      kernelRetried: !!r.kernelRetried,
      bytes,
      cell: r.ok ? undefined : r.cell,
    });
    writeFileSync(join(out, 'executed.json'), JSON.stringify({ notebooks: results }, null, 1) + '\n');
    if (r.ok) {
      const kernel = `kernel started in ${r.kernelSeconds ?? '?'} s${r.kernelRetried ? ', after one retry' : ''}`;
      const size = bytes === null ? '' : `; ${Math.round(bytes / 1024)} KB`;
      process.stderr.write(`ok (${seconds} s; ${kernel}${size})\n`);
      continue;
    }
    process.stderr.write('FAILED\n');
    let nb = {};
    try {
      nb = JSON.parse(readFileSync(src, 'utf8'));
    } catch {
      /* label without cells */
    }
    const source = String(r.source ?? '')
      .split('\n')
      .slice(0, 6)
      .map((l) => `    ${l}`)
      .join('\n');
    console.error(
      `\n${relative(process.cwd(), src) || src}: ${cellLabel(nb, r.cell)} failed (${r.kind})${source ? `:\n${source}` : ''}\n\n${(r.stderr || r.message || '').trim()}\n\nexecuted copy with the outputs so far: ${dst}`,
    );
    return 1;
  }
  console.error(
    `${names.length} notebook(s) executed in ${Math.round((Date.now() - t0) / 1000)} s; executed copies in ${out}`,
  );
  return 0;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = await main();
}
