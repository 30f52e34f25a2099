import { closest, errorMessage, isCbirError, toolVersion } from '../workbench/index.js';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cliHintFor } from './hints.js';
import { unknownOption, usageOptions } from './options.js';

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

// `cbir models list | head`: the reader left; stop quietly instead of printing a stack trace.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code !== 'EPIPE') throw e;
  process.exit(0);
});

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

/** The closest of `names` to `given` when it is near enough to be a typo, else null. */
export function didYouMean(given: string, names: readonly string[]): string | null {
  return closest(given, names);
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
      // one prefix per line: a message that already starts with `cbir <name>` keeps its own
      const prefix = e.message.startsWith(`cbir ${name}`) ? '' : `cbir ${name}: `;
      console.error(`${prefix}${e.message}${cli ? `\n  → in the CLI: ${cli}` : ''}`);
      return e.code === 'cli/unknown-option' ? 2 : 1;
    }
    const unknown = unknownOption(e, name, usageOptions(cmd.usage)); // commands that call parseArgs themselves
    if (unknown) {
      console.error(`cbir ${name}: ${unknown.message}`);
      return 2;
    }
    if ((e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      console.error(`cbir ${name}: ${errorMessage(e)}${cmd.usage ? '\n\n' + cmd.usage : ''}`);
      return 2;
    }
    throw e;
  }
}
