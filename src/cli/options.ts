/**
 * Parsers of the CLI's option values, shared by every command: integers, choices (`--ep`,
 * `--index`, …) and comma lists. Each error names the flag, what it got, and an example.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { CbirError, closest, errorCode, errorMessage } from '../workbench/index.js';

/** `--flag <n>`: an integer ≥ min (default 0), or undefined when absent. */
export function intOption(v: string | undefined, name: string, min = 0): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === '' || !Number.isInteger(n) || n < min) {
    throw new CbirError(`--${name} must be an integer ≥ ${min}, got "${v}"`, {
      hint: `e.g. --${name} ${Math.max(min, 4)}`,
      code: 'cli/bad-option',
    });
  }
  return n;
}

/** `--flag <choice>`: one of `choices`, or undefined when absent. */
export function choiceOption<T extends string>(
  v: string | undefined,
  name: string,
  choices: readonly T[],
): T | undefined {
  if (v === undefined) return undefined;
  if (!(choices as readonly string[]).includes(v)) {
    throw new CbirError(
      `--${name} must be ${choices.slice(0, -1).join(', ')} or ${choices[choices.length - 1]}, got "${v}"`,
      {
        hint: `e.g. --${name} ${choices[0]}`,
        code: 'cli/bad-option',
      },
    );
  }
  return v as T;
}

/** `--ep cpu|cuda`: the ONNX execution provider. */
export function epOption(v: string | undefined): 'cpu' | 'cuda' | undefined {
  return choiceOption(v, 'ep', ['cpu', 'cuda'] as const);
}

/** `--flag a,b,c` (and repeated `--flag` values): the non-empty trimmed items, or undefined when absent. */
export function listOption(...values: (string | string[] | undefined)[]): string[] | undefined {
  const items = values
    .flatMap((v) => (v === undefined ? [] : Array.isArray(v) ? v : [v]))
    .flatMap((s) => s.split(','))
    .map((s) => s.trim())
    .filter(Boolean);
  return values.every((v) => v === undefined) ? undefined : items;
}

/**
 * A CbirError for a missing required option, with the command's usage line as the hint. `what`
 * says what is missing without naming the command ("--data and --out are required"): main.ts puts
 * `cbir <command>: ` in front.
 */
export function missingOption(what: string, usage: string): CbirError {
  return new CbirError(what, {
    hint: usage.split('\n').find((l) => l.trim() !== '' && l.trim() !== 'usage:') ?? usage,
    code: 'cli/missing-option',
  });
}

/**
 * `parseArgs` for `cbir <command>` (e.g. 'report', 'data prepare'): an unknown option becomes a
 * CbirError naming the closest option the command knows ("did you mean --models?").
 */
export function parseOptions<T extends ParseArgsConfig>(command: string, config: T): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs<T>(config);
  } catch (e) {
    const known = Object.entries(config.options ?? {}).flatMap(([name, o]) =>
      o.short ? [`--${name}`, `-${o.short}`] : [`--${name}`],
    );
    throw unknownOption(e, command, known) ?? e;
  }
}

/** The options (`--name`) a usage text mentions, for commands that parse their options themselves. */
export function usageOptions(usage: string | undefined): string[] {
  return [...new Set(usage?.match(/(?<![\w-])--[a-z][a-z0-9-]*/g) ?? [])];
}

/**
 * The CbirError for parseArgs' unknown-option error of `cbir <command>`, naming the closest of
 * `known` (`--flag` / `-f`) when it is near enough to be a typo; null for any other error.
 */
export function unknownOption(e: unknown, command: string, known: readonly string[]): CbirError | null {
  if (errorCode(e) !== 'ERR_PARSE_ARGS_UNKNOWN_OPTION') return null;
  const given = /'(-[^']*)'/.exec(errorMessage(e))?.[1] ?? '';
  // long options only: every one-letter option is one edit away from every other
  const near = given.startsWith('--')
    ? closest(
        given,
        known.filter((k) => k.startsWith('--')),
      )
    : null;
  const help = `\`cbir ${command} --help\` lists its options`;
  return new CbirError(`unknown option ${given || errorMessage(e)}`, {
    hint: near ? `did you mean ${near}? (${help})` : `${help}: ${known.filter((k) => k.startsWith('--')).join(', ')}`,
    code: 'cli/unknown-option',
  });
}
