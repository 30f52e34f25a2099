/**
 * Parsers of the CLI's option values, shared by every command: integers, choices (`--ep`,
 * `--index`, …) and comma lists. Each error names the flag, what it got, and an example.
 */
import { CbirError } from '../workbench/index.js';

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

/** A CbirError for a missing required option, with the command's usage line as the hint. */
export function missingOption(what: string, usage: string): CbirError {
  return new CbirError(what, { hint: usage.split('\n')[0], code: 'cli/missing-option' });
}
