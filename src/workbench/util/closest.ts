/**
 * "Did you mean …?": the known name closest to a mistyped one (commands, options, model ids).
 */

/**
 * Edit distance with transpositions (optimal string alignment): the fewest insertions, deletions,
 * substitutions and swaps of two adjacent characters turning a into b ("modle" → "model" is 1).
 */
export function editDistance(a: string, b: string): number {
  let prev2: number[] = [];
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) cur[j] = Math.min(cur[j], prev2[j - 2] + 1);
    }
    [prev2, prev] = [prev, cur];
  }
  return prev[b.length];
}

/**
 * The candidate closest to `name` when it is near enough to be a typo — edit distance (case
 * ignored) at most max(1, ⌊length / 3⌋) — else null. Ties go to the first candidate.
 */
export function closest(name: string, candidates: readonly string[]): string | null {
  const given = name.toLowerCase();
  let best: string | null = null;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = editDistance(given, c.toLowerCase());
    if (d < bestD) [best, bestD] = [c, d];
  }
  return best !== null && bestD <= Math.max(1, Math.floor(given.length / 3)) ? best : null;
}
