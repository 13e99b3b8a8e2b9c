// Run identity, in one place: what makes two runs "the same run". A run's identity is a hash of
// its config hash (the resolved config as written), the code (git SHA and the hash of the
// uncommitted patch) and its data fingerprint. The index stage records it; a sweep computes it
// for a point before running it, to skip a point already done. Both go through the functions
// here (the same loading, the same combination), so they cannot drift apart.
import type { ExperimentConfig } from '../config/types.gen.ts';
import type { DatasetIndex } from '../data/types.ts';
import { loadDataset, type LoadProgress } from '../data/formats/index.ts';
import { dataFingerprint } from '../data/fingerprint.ts';
import { alignToTraining } from '../data/hierarchy.ts';
import { hashValue, sha256, stableStringify } from '../util/hash.ts';

/** sha256 over what determines a result: resolved config, code (sha + patch) and data. */
export function runIdentity(parts: { configHash: string; gitSha: string | null; patchSha256: string | null; dataFingerprint: string | null }): string {
  return sha256(stableStringify([parts.configHash, parts.gitSha, parts.patchSha256, parts.dataFingerprint]));
}

/**
 * The config fields that determine results, hashed into the run identity. Name and description
 * do not change results, nor does where the run is launched (the `launcher` block: the same point
 * run here or on a cluster is the same run). Data paths enter as written (relative to the experiment file), not as
 * resolved absolute paths, so the same checkout on two machines has the same identity; the data
 * itself enters the identity through its fingerprint.
 */
export function configHash(config: ExperimentConfig, asWritten: Record<string, string> = {}): string {
  const { name: _n, description: _d, extends: _e, sweep: _s, launcher: _l, ...rest } = config as ExperimentConfig & { description?: string; extends?: string };
  const copy = JSON.parse(JSON.stringify(rest)) as Record<string, any>;
  for (const [key, written] of Object.entries(asWritten)) {
    const path = key.split('.');
    let node = copy;
    for (const k of path.slice(0, -1)) node = node?.[k];
    if (node && path.at(-1)! in node) node[path.at(-1)!] = written;
  }
  return hashValue(copy);
}

/** The part of a config that names the data. */
export type DataBlock = Pick<ExperimentConfig['data'], 'format' | 'train' | 'test' | 'levels'>;

/** The indexes a data block names: the training set, and the test set in the training classes (the model's columns). */
export async function loadRunData(d: DataBlock, onProgress?: (split: 'train' | 'test', p: LoadProgress) => void): Promise<{ train: DatasetIndex; test?: DatasetIndex }> {
  const train = await loadDataset(d.format, d.train, d.levels, 'train', { onProgress: onProgress && ((p) => onProgress('train', p)) });
  if (!d.test) return { train };
  const test = await loadDataset(d.format, d.test, d.levels, 'test', { onProgress: onProgress && ((p) => onProgress('test', p)) });
  return { train, test: alignToTraining(train, test) };
}

/** A run's data fingerprint: the training set's, combined with the test set's when there is one. */
export async function dataFingerprintOf(data: { train: DatasetIndex; test?: DatasetIndex }): Promise<string> {
  const fps = [await dataFingerprint(data.train)];
  if (data.test) fps.push(await dataFingerprint(data.test));
  return fps.length === 1 ? fps[0].sha256 : sha256(stableStringify(fps.map((f) => f.sha256)));
}

/**
 * Git provenance and data fingerprints, each computed at most once per process: a sweep of 30
 * points over the same data reads its metadata once, and asks git once per experiment folder.
 */
export class IdentityCache {
  private git = new Map<string, Promise<{ sha: string | null; patchSha: string | null }>>();
  private data = new Map<string, Promise<string>>();

  gitOf(dir: string): Promise<{ sha: string | null; patchSha: string | null }> {
    if (!this.git.has(dir)) {
      this.git.set(dir, import('./git.ts').then(({ gitProvenance }) => gitProvenance(dir)).then((g) => ({ sha: g.sha, patchSha: g.available ? sha256(g.patch) : null })));
    }
    return this.git.get(dir)!;
  }

  /** The fingerprint the index stage will record for this config's data. */
  dataOf(config: ExperimentConfig): Promise<string> {
    const d = config.data;
    const key = stableStringify([d.format, d.train, d.test, d.levels]);
    if (!this.data.has(key)) this.data.set(key, loadRunData(d).then(dataFingerprintOf));
    return this.data.get(key)!;
  }
}
