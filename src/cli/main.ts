import { errorMessage, isCbirError } from '../workbench/index.js';
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

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === 'help' || name === '--help' || name === '-h') {
    await printHelp();
    return name ? 0 : 1;
  }
  const cmd = await loadCommand(name);
  if (!cmd) {
    console.error(`cbir: unknown command "${name}". Run \`cbir help\` for the list.`);
    return 2;
  }
  if ((rest[0] === '--help' || rest[0] === '-h') && cmd.usage) {
    console.log(cmd.usage);
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
