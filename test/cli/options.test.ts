// Option declarations that name things declared elsewhere stay in step with them: the backends
// (model/backend.ts's registry), compare's formats, data synth's defaults (data/sample's
// SAMPLE_OPTIONS). Read from the binary's --help, as a user sees them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { exp } from './helpers.ts';
import { SAMPLE_OPTIONS } from '../../src/data/synth.ts';
import { FORMATS } from '../../src/runs/compare/render.ts';

const choicesOf = (help: string, flag: string) => help.match(new RegExp(`--${flag} \\S+ +([a-z|-]+):`))?.[1].split('|');

test('--backend offers auto and every registered backend', async () => {
  const { backends } = await import('../../src/model/backend.ts');
  for (const cmd of [['run'], ['predict'], ['reproduce']]) {
    const r = await exp([...cmd, '--help']);
    assert.deepEqual(choicesOf(r.stdout, 'backend')?.sort(), ['auto', ...backends.names()].sort(), cmd.join(' '));
  }
});

test('compare --format offers the formats the renderer has', async () => {
  const r = await exp(['compare', '--help']);
  assert.deepEqual(choicesOf(r.stdout, 'format'), [...FORMATS]);
});

test('data synth defaults to data/sample\'s generator settings', async () => {
  const r = await exp(['data', 'synth', '--help']);
  const dflt = (flag: string) => Number(r.stdout.match(new RegExp(`--${flag} \\S+ .*\\(default (\\d+)\\)`))?.[1]);
  assert.deepEqual({ species: dflt('species'), seed: dflt('seed'), size: dflt('size') },
    { species: SAMPLE_OPTIONS.species, seed: SAMPLE_OPTIONS.seed, size: SAMPLE_OPTIONS.size });
});
