// "Did you mean" suggestions for misspelt keys and names: optimal-string-alignment edit distance
// (a transposition counts as one edit, so 'trian' -> 'train' is one step away).

export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.length][b.length];
}

/** The closest candidate within a third of the word's length (at least 2 edits), if any. */
export function suggest(word: string, candidates: readonly string[]): string | undefined {
  const limit = Math.max(2, Math.floor(word.length / 3));
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const dist = editDistance(word.toLowerCase(), c.toLowerCase());
    if (dist < bestD) [best, bestD] = [c, dist];
  }
  return bestD <= limit ? best : undefined;
}

/** "unknown key 'x'; did you mean 'y'?" or, with no close match, the list of allowed keys. */
export function unknownKeyMessage(key: string, allowed: readonly string[], what = 'key'): string {
  const near = suggest(key, allowed);
  if (near) return `unknown ${what} '${key}'; did you mean '${near}'?`;
  if (allowed.length === 0) return `unknown ${what} '${key}'; nothing can be set here`;
  return `unknown ${what} '${key}'; allowed: ${allowed.join(', ')}`;
}
