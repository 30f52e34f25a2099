import { errorMessage, isCbirError, toolVersion } from '../workbench/index.js';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cliHintFor } from './hints.js';

/**
 * `cbir <command> [subcommand] [options]`. Each command is one file in ./commands exporting
 * `summary` (one line for `cbir help`) and `run(args)`; this file only dispatches, so commands
 * stay thin shells over the core library in src/workbench.
 */
export interface Command {
  summary: string;
  /** Longer usage text, printed by `cbir <command> --help`. */
  usage?: string;
  run(args: string[]): Promise<number | void>;
}

const here = dirname(fileURLToPath(import.meta.url));

function commandNames(): string[] {
  return readdirSync(join(here, 'commands'))
    .filter((f) => f.endsWith('.ts') && !f.startsWith('_'))
    .map((f) => f.replace(/\.ts$/, ''))
    .sort();
}

async function loadCommand(name: string): Promise<Command | null> {
  if (!/^[a-z][a-z0-9-]*$/.test(name) || !commandNames().includes(name)) return null;
  return (await import(`./commands/${name}.ts`)) as Command;
}

async function printHelp(): Promise<void> {
  const lines = [
    'cbir: content-based image retrieval workbench for radiology',
    '',
    'usage: cbir <command> [options]',
    '',
    'commands:',
  ];
  for (const name of commandNames()) {
    const cmd = await loadCommand(name);
    if (cmd) lines.push(`  ${name.padEnd(12)} ${cmd.summary}`);
  }
  lines.push('', 'Run `cbir <command> --help` for the options of one command.');
  console.log(lines.join('\n'));
}

/** Levenshtein distance (for "did you mean"). */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++)
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length];
}

/** The closest of `names` to `given` when it is near enough to be a typo, else null. */
export function didYouMean(given: string, names: readonly string[]): string | null {
  let best: string | null = null;
  let bestD = Infinity;
  for (const n of names) {
    const d = distance(given, n);
    if (d < bestD) [best, bestD] = [n, d];
  }
  return best !== null && bestD <= Math.max(1, Math.floor(given.length / 3)) ? best : null;
}

/** `--help` / `-h` anywhere before `--`: the user asks for the usage, whatever the subcommand. */
function asksHelp(args: readonly string[]): boolean {
  const end = args.indexOf('--');
  return (end < 0 ? args : args.slice(0, end)).some((a) => a === '--help' || a === '-h');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === 'help' || name === '--help' || name === '-h') {
    await printHelp();
    return name ? 0 : 1;
  }
  if (name === '--version' || name === '-V' || name === 'version') {
    console.log(`radcbir ${toolVersion()}`);
    return 0;
  }
  const cmd = await loadCommand(name);
  if (!cmd) {
    const near = didYouMean(name, commandNames());
    console.error(
      `cbir: unknown command "${name}".${near ? ` Did you mean \`cbir ${near}\`?` : ''} Run \`cbir help\` for the list.`,
    );
    return 2;
  }
  if (asksHelp(rest)) {
    console.log(cmd.usage ?? cmd.summary);
    return 0;
  }
  try {
    const code = await cmd.run(rest);
    return typeof code === 'number' ? code : 0;
  } catch (e) {
    if (isCbirError(e)) {
      const cli = cliHintFor(name, e);
      console.error(`cbir ${name}: ${e.message}${cli ? `\n  → in the CLI: ${cli}` : ''}`);
      return 1;
    }
    if ((e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      console.error(`cbir ${name}: ${errorMessage(e)}${cmd.usage ? '\n\n' + cmd.usage : ''}`);
      return 2;
    }
    throw e;
  }
}
