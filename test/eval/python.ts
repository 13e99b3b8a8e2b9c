// Peer checks against numpy / scikit-learn through Debian's /usr/bin/python3 (python3-numpy,
// python3-sklearn). When they are absent the tests that need them skip with the reason.
import { spawnSync } from 'node:child_process';

const PYTHON = '/usr/bin/python3';

/** undefined when python3 imports every module, else why not (for test skip messages). */
export function pythonMissing(modules: string[]): string | undefined {
  const r = spawnSync(PYTHON, ['-c', `import ${modules.join(', ')}`], { encoding: 'utf8' });
  if (r.error) return `${PYTHON} not found (${r.error.message})`;
  if (r.status !== 0) return `${PYTHON} lacks ${modules.join(', ')} (apt-get install ${modules.map((m) => `python3-${m}`).join(' ')})`;
  return undefined;
}

/** Runs a Python program with argv; returns stdout, throws with stderr on failure. */
export function runPython(code: string, args: string[] = [], input?: string): string {
  const r = spawnSync(PYTHON, ['-c', code, ...args], { encoding: 'utf8', input, maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`python failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}
