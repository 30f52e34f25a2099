import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { didYouMean, main } from '../../src/cli/main.js';
import { PROJECT_ROOT } from '../helpers/datasets.js';

async function capture(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [],
    err: string[] = [];
  const log = console.log,
    error = console.error;
  console.log = (...a: unknown[]) => void out.push(a.join(' '));
  console.error = (...a: unknown[]) => void err.push(a.join(' '));
  try {
    return { code: await main(argv), out: out.join('\n'), err: err.join('\n') };
  } finally {
    console.log = log;
    console.error = error;
  }
}

const commands = readdirSync(join(PROJECT_ROOT, 'src', 'cli', 'commands'))
  .filter((f) => f.endsWith('.ts') && !f.startsWith('_'))
  .map((f) => f.replace(/\.ts$/, ''));
const subcommands: Record<string, string[]> = {
  data: ['prepare', 'stats'],
  embed: ['merge'],
  embeddings: ['info', 'import-h5', 'export-h5'],
  models: ['list', 'pull', 'verify'],
};

test('--help of every command and subcommand prints its usage and exits 0, touching nothing', async () => {
  assert.ok(commands.length >= 8, commands.join(', '));
  for (const c of commands) {
    for (const argv of [[c, '--help'], [c, '-h'], ...(subcommands[c] ?? []).map((s) => [c, s, '--help'])]) {
      const r = await capture(argv);
      assert.equal(r.code, 0, `cbir ${argv.join(' ')} exited ${r.code}: ${r.err}`);
      assert.match(r.out, /usage|cbir/i, `cbir ${argv.join(' ')} printed: ${r.out}`);
      assert.equal(r.err, '', `cbir ${argv.join(' ')} wrote to stderr: ${r.err}`);
    }
  }
});

test('cbir --version prints the version; a mistyped command gets "did you mean"', async () => {
  const v = await capture(['--version']);
  assert.equal(v.code, 0);
  assert.match(v.out, /^radcbir \d+\.\d+\.\d+$/);
  const typo = await capture(['reprot']);
  assert.equal(typo.code, 2);
  assert.match(typo.err, /Did you mean `cbir report`\?/);
  const far = await capture(['zzzzzzzz']);
  assert.doesNotMatch(far.err, /Did you mean/);
  assert.equal(didYouMean('figrues', commands), 'figures');
  assert.equal(didYouMean('xyz', commands), null);
});
