/**
 * `npm run bench [name ...]`: runs the benchmarks one after another, each in its own process
 * (so peak memory is measured per benchmark), prints their Markdown and saves it to
 * runs/bench/<name>.md. Names: the files in bench/ (embed, search, metrics, descriptors, tsne, scale, …).
 * Options after the names go to each named benchmark: `npm run bench -- scale --rows 50000 --dims 768`
 * (scale alone defaults to the full study size: hours and ~45 GB of disk).
 * Speed and memory targets live here, never in the tests; BENCHMARKS.md records measured runs.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpus, totalmem } from 'node:os';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const available = readdirSync(join(ROOT, 'bench'))
  .filter((f) => f.endsWith('.ts') && f !== 'run.ts')
  .map((f) => f.replace(/\.ts$/, ''))
  .sort();
const argv = process.argv.slice(2);
const firstFlag = argv.findIndex((a) => a.startsWith('-'));
const asked = firstFlag < 0 ? argv : argv.slice(0, firstFlag);
const passed = firstFlag < 0 ? [] : argv.slice(firstFlag);
const unknown = asked.filter((a) => !available.includes(a));
if (unknown.length) {
  console.error(`unknown benchmark(s): ${unknown.join(', ')}; available: ${available.join(', ')}`);
  process.exit(2);
}
const names = asked.length ? asked : available;
const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'CPU'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`;
console.log(`# radcbir benchmarks\n\nMachine: ${machine}\n`);
const out = join(ROOT, 'runs', 'bench');
mkdirSync(out, { recursive: true });
let failed = 0;
for (const name of names) {
  console.log(`## ${name}\n`);
  const t0 = Date.now();
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'bench', `${name}.ts`), ...passed], {
    cwd: ROOT,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 64 << 20,
  });
  const text = `${r.stdout ?? ''}\n_${name}: ${((Date.now() - t0) / 1000).toFixed(0)} s wall on ${machine}; exit ${r.status}_\n`;
  console.log(text);
  writeFileSync(join(out, `${name}.md`), text);
  if (r.status !== 0) failed++;
}
process.exit(failed ? 1 : 0);
