// Hashes of a run's results that must not change between equal runs (determinism and resume tests).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { createHash } from 'node:crypto';

const sha = (b: string | Buffer) => createHash('sha256').update(b).digest('hex');

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => (statSync(join(dir, n)).isDirectory() ? files(join(dir, n)) : [join(dir, n)]));
}

/** sha256 of what must not change between equal runs: history without timings, metrics, every .npy. */
export function resultHashes(dir: string): Record<string, string> {
  const history = readFileSync(join(dir, 'history.jsonl'), 'utf8').trim().split('\n').map((l) => {
    const { seconds: _s, images_per_s: _i, ...rest } = JSON.parse(l);
    return JSON.stringify(rest);
  });
  const out: Record<string, string> = { history: sha(history.join('\n')), metrics: sha(readFileSync(join(dir, 'metrics.json'))) };
  for (const f of files(join(dir, 'predictions')).filter((f) => f.endsWith('.npy'))) out[relative(dir, f)] = sha(readFileSync(f));
  return out;
}
