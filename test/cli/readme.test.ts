// The README's command lines as a newcomer types them: every one written as `exp ...` (the one
// form the README explains), naming a command that exists, and those on the bundled quickstart
// validate, plan and dry-run cleanly: exit 0 and no warning (a README example that prints
// warnings teaches the wrong thing).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { exp, ROOT } from './helpers.ts';

/** Lines of the README's sh code blocks, comments removed. */
function shLines(): string[] {
  const text = readFileSync(join(ROOT, 'README.md'), 'utf8');
  return [...text.matchAll(/```sh\n([\s\S]*?)```/g)].flatMap((m) => m[1].split('\n'))
    .map((l) => l.replace(/(^|\s)#.*$/, '').trim()).filter(Boolean);
}

/** POSIX-shell words of a line: '...' and "..." quoting, no expansion (quoted globs stay as typed). */
function words(line: string): string[] {
  const out: string[] = [];
  for (const m of line.matchAll(/'([^']*)'|"([^"]*)"|(\S+)/g)) out.push(m[1] ?? m[2] ?? m[3]);
  return out;
}

test('the README writes exp one way, and its commands exist', async () => {
  const lines = shLines();
  const bad = lines.filter((l) => /^(node bin\/exp\.js|npx exp|\.\/bin\/exp)/.test(l));
  assert.deepEqual(bad, [], 'command lines use `exp ...`, the form the README explains once');
  const cmds = lines.filter((l) => l.startsWith('exp '));
  assert.ok(cmds.length >= 10, `found ${cmds.length} exp lines`);
  const heads = [...new Set(cmds.map((l) => words(l).slice(1, 3).filter((w) => /^[a-z]+$/.test(w)).join(' ')))];
  const top = await exp(['--help']);
  const known = [...top.stdout.matchAll(/^ {2}(\S+(?: [a-z]+)?) {2,}/gm)].map((m) => m[1]);
  for (const h of heads) assert.ok(known.some((k) => h === k || h.startsWith(`${k} `)), `exp ${h} is not a command`);
});

test('the README\'s quickstart command lines validate, plan and dry-run without a warning', async () => {
  const runnable = shLines().filter((l) => /^exp (validate|plan|run) experiments\/quickstart\.yaml/.test(l));
  assert.ok(runnable.some((l) => l.includes('--set')), 'the --set example is among them');
  for (const line of runnable) {
    const args = words(line).slice(1);
    if (args[0] === 'run') args.push('--dry-run');
    const r = await exp(args);
    assert.equal(r.code, 0, `${line}\n${r.stderr}`);
    assert.doesNotMatch(r.stdout + r.stderr, /warning/i, line);
  }
});
