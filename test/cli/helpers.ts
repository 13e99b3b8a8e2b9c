// Run the real `exp` binary in a child process, as a user would.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const BIN = fileURLToPath(new URL('../../bin/exp.js', import.meta.url));

export interface Result {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** `bin`: another copy of exp's bin/exp.js (default: this checkout's). */
export function exp(args: string[], opts: { cwd?: string; env?: Record<string, string>; bin?: string; onStdout?: (s: string) => void } = {}): Promise<Result> & { child: ReturnType<typeof spawn> } {
  const child = spawn(process.execPath, [opts.bin ?? BIN, ...args], {
    cwd: opts.cwd ?? ROOT,
    env: { ...process.env, EXP_TEST: '1', ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => {
    stdout += d;
    opts.onStdout?.(stdout);
  });
  child.stderr.on('data', (d) => (stderr += d));
  const p = new Promise<Result>((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }))) as Promise<Result> & { child: typeof child };
  p.child = child;
  return p;
}

/** Settings that make the quickstart a few-second smoke run on data/sample. */
export const SMOKE = [
  '--set', 'train.epochs=1',
  '--set', 'train.max_steps_per_epoch=2',
  '--set', 'train.batch_size=16',
  '--set', 'data.image={resize: 36, size: 32}',
  '--set', 'tta.count=2',
];

/** Fails with ajv's messages when `value` does not match the run-record schema `name`. */
export async function assertSchema(name: 'run' | 'metrics' | 'history-row' | 'index', value: unknown): Promise<void> {
  const { validator, schemaErrors } = await import('../../src/runs/schemas.ts');
  const valid = validator(name)(value) === true;
  if (!valid) throw new Error(`${name} record does not match its schema: ${schemaErrors(name)}`);
}
