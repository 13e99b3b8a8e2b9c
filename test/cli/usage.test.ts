// Usage mistakes as users make them: each one exits 2 with one style of message (error line,
// Usage, Example), says what is wrong in exp's words (never Node's parseArgs text), and suggests
// the command, subcommand or option that was probably meant.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { exp, type Result } from './helpers.ts';
import { REGISTERED } from '../../src/registry-names.gen.ts';

/** The shared shape of a usage error for `command`. */
function assertUsage(r: Result, command: string, message: RegExp): void {
  assert.equal(r.code, 2, r.stderr);
  assert.equal(r.stdout, '');
  const [first, usage, example, ...rest] = r.stderr.trimEnd().split('\n');
  assert.match(first, message);
  assert.ok(first.startsWith(`error: exp ${command}`), first);
  assert.ok(usage.startsWith(`Usage: exp ${command} `), usage);
  assert.ok(example.startsWith('Example: exp '), example);
  assert.deepEqual(rest, []);
  assert.doesNotMatch(r.stderr, /TypeError|ERR_PARSE_ARGS|\n\s+at /);
}

test('missing arguments name what is needed, with the command\'s own usage line', async () => {
  const [ensemble, predict, run, weights] = await Promise.all([
    exp(['ensemble']), exp(['predict']), exp(['run']), exp(['weights', 'import', 'x.pth', '--out', 'w']),
  ]);
  assertUsage(ensemble, 'ensemble', /^error: exp ensemble needs the runs to blend/);
  assert.match(ensemble.stderr, /\nUsage: exp ensemble <run>\.\.\. \(--logits \| --probs\) \[options\]\n/);
  assertUsage(predict, 'predict', /^error: exp predict needs a trained run\.$/);
  assert.match(predict.stderr, /\nUsage: exp predict <run> \[--split val\|test\] \[--tta N\]\n/);
  assertUsage(run, 'run', /^error: exp run needs an experiment file \(or --resume RUN, or --point SWEEP\/N\)\.$/);
  assertUsage(weights, 'weights import', /needs --backbone NAME/);
});

test('did you mean: commands, subcommands, options and option values', async () => {
  const [rn, inspct, sett, backend, noMatch] = await Promise.all([
    exp(['rn', 'experiments/quickstart.yaml']),
    exp(['data', 'inspct', 'x']),
    exp(['run', 'experiments/quickstart.yaml', '--sett', 'seed=2']),
    exp(['run', 'experiments/quickstart.yaml', '--backend', 'wsm']),
    exp(['ls', '--bogus']),
  ]);
  assert.equal(rn.code, 2);
  assert.match(rn.stderr, /^error: unknown command 'rn'; did you mean 'run'\?\n/);
  assert.equal(inspct.code, 2);
  assert.match(inspct.stderr, /^error: unknown command 'exp data inspct'; did you mean 'exp data inspect'\?\n/);
  assertUsage(sett, 'run', /^error: exp run: unknown option '--sett'; did you mean --set\?$/);
  // The choices are the backend registry's names, in its order, after auto.
  const backends = ['auto', ...REGISTERED.backend];
  assert.ok(backends.includes('wasm') && backends.includes('native'));
  assertUsage(backend, 'run', new RegExp(`^error: exp run: --backend wsm: expected one of ${backends.join(', ')}; did you mean wasm\\?$`));
  assertUsage(noMatch, 'ls', /^error: exp ls: unknown option '--bogus'; its options are --runs-dir, --sweep, --json\.$/);
});

test('typed values: integers with bounds, numbers, flags without values, a value that is missing', async () => {
  const [tta, zero, tolerance, flagValue, missing, extra] = await Promise.all([
    exp(['predict', 'some-run', '--tta', 'two']),
    exp(['ensemble', 'a', '--logits', '--tta=0']),
    exp(['reproduce', 'some-run', '--tolerance', '-1']),
    exp(['ls', '--json=yes']),
    exp(['run', 'experiments/quickstart.yaml', '--set']),
    exp(['show', 'a', 'b']),
  ]);
  assertUsage(tta, 'predict', /^error: exp predict: --tta two: expected a whole number >= 1\.$/);
  assertUsage(zero, 'ensemble', /--tta 0: expected a whole number >= 1\.$/);
  assertUsage(tolerance, 'reproduce', /--tolerance -1: expected a number >= 0\.$/);
  assertUsage(flagValue, 'ls', /--json takes no value/);
  assertUsage(missing, 'run', /--set needs a value: --set K=V\.$/);
  assertUsage(extra, 'show', /takes at most 1 argument \(a run\); unexpected 'b'\.$/);
});

test('--logits with --probs says "not both"; neither says which to choose', async () => {
  const [both, neither] = await Promise.all([exp(['ensemble', 'a', 'b', '--logits', '--probs']), exp(['ensemble', 'a', 'b'])]);
  assertUsage(both, 'ensemble', /^error: exp ensemble: --logits and --probs given together; choose one, not both\.$/);
  assertUsage(neither, 'ensemble', /^error: exp ensemble needs --logits or --probs \(how to blend\)\.$/);
});

test('a command group helps with --help (exit 0) and names its subcommands when one is missing', async () => {
  const [help, helpWord, bare] = await Promise.all([exp(['data', '--help']), exp(['help', 'data']), exp(['data'])]);
  assert.equal(help.code, 0, help.stderr);
  assert.match(help.stdout, /^Usage: exp data <inspect\|synth>/);
  assert.match(help.stdout, /\n {2}data inspect {2}format, classes per level/);
  assert.match(help.stdout, /\n {2}data synth {4}generate/);
  assert.equal(helpWord.stdout, help.stdout);
  assert.equal(bare.code, 2);
  assert.match(bare.stderr, /^error: 'exp data' needs a subcommand: inspect, synth\.\nRun 'exp data --help'/);
});

test('every command\'s --help lists its options with their defaults, and exits 0', async () => {
  const top = await exp(['--help']);
  const names = [...top.stdout.matchAll(/^ {2}(\S+(?: [a-z]+)?) {2,}/gm)].map((m) => m[1]);
  assert.ok(names.length >= 13, top.stdout);
  const helps = await Promise.all(names.map((n) => exp([...n.split(' '), '--help'])));
  helps.forEach((h, i) => {
    assert.equal(h.code, 0, `${names[i]}: ${h.stderr}`);
    assert.ok(h.stdout.startsWith(`Usage: exp ${names[i]} `), h.stdout);
    assert.match(h.stdout, /\nExample:\n {2}exp /);
  });
  const synth = helps[names.indexOf('data synth')].stdout;
  assert.match(synth, /--species N +number of species \(default 12\)/);
  const ls = helps[names.indexOf('ls')].stdout;
  assert.match(ls, /--runs-dir DIR +where run records live \(default runs\)/);
});
