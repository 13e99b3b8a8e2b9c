// Every invalid experiment fixture, table-driven: the exact file, line:column and a message
// substring of each error reported (and no other errors), so a regression in locating or wording
// a problem fails here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { loadExperiment, assertValid } from '../../src/config/index.ts';
import { formatProblem, UserError } from '../../src/errors.ts';
import { REGISTERED } from '../../src/registry-names.gen.ts';

const CWD = fileURLToPath(new URL('../fixtures/config/', import.meta.url));

interface Expect { file: string; line?: number; col?: number; path?: string; message: string }
interface Case { name: string; file: string; sets?: string[]; mode?: 'validate' | 'run'; errors: Expect[] }

const I = (f: string): string => `invalid/${f}`;
const CASES: Case[] = [
  { name: 'YAML syntax error', file: I('syntax-nested-compact.yaml'), errors: [{ file: I('syntax-nested-compact.yaml'), line: 1, col: 7, message: 'nested mappings are not allowed' }] },
  { name: 'tab indentation', file: I('syntax-tab.yaml'), errors: [{ file: I('syntax-tab.yaml'), line: 6, col: 1, message: 'tabs are not allowed as indentation: indent with spaces' }] },
  { name: 'duplicate key', file: I('syntax-duplicate-key.yaml'), errors: [{ file: I('syntax-duplicate-key.yaml'), line: 7, col: 1, message: "duplicate key 'seed'" }] },
  { name: 'bad indentation', file: I('syntax-bad-indent.yaml'), errors: [{ file: I('syntax-bad-indent.yaml'), line: 7, col: 1, message: 'all mapping items must start at the same column' }] },
  { name: 'unclosed quote', file: I('syntax-unclosed-quote.yaml'), errors: [{ file: I('syntax-unclosed-quote.yaml'), line: 5, col: 1, message: 'missing closing "quote' }] },
  { name: 'unclosed flow list', file: I('syntax-unclosed-flow.yaml'), errors: [{ file: I('syntax-unclosed-flow.yaml'), line: 6, col: 1, message: 'end with a ]' }] },
  { name: 'empty file', file: I('empty.yaml'), errors: [{ file: I('empty.yaml'), line: 1, col: 1, message: 'the file is empty' }] },
  { name: 'root is a list', file: I('root-list.yaml'), errors: [{ file: I('root-list.yaml'), line: 1, col: 1, message: 'not a list' }] },
  { name: 'wrong type', file: I('wrong-type.yaml'), errors: [{ file: I('wrong-type.yaml'), line: 6, col: 11, path: 'train.epochs', message: "must be an integer, not 'ten'" }] },
  { name: 'list where a map belongs', file: I('wrong-type-map.yaml'), errors: [{ file: I('wrong-type-map.yaml'), line: 5, col: 10, path: 'augment', message: 'must be a map, not a list' }] },
  { name: 'YAML 1.2: off is a string, not a shorthand', file: I('class-balance.yaml'), errors: [{ file: I('class-balance.yaml'), line: 5, col: 24, path: 'loss.class_balance', message: "must be a map (or the shorthand true, false or none), not 'off'" }] },
  { name: 'out of range', file: I('out-of-range.yaml'), errors: [{ file: I('out-of-range.yaml'), line: 5, col: 20, path: 'data.val.fraction', message: 'must be < 1, not 1.5' }] },
  { name: 'unknown key lists the allowed keys', file: I('unknown-key.yaml'), errors: [{ file: I('unknown-key.yaml'), line: 5, col: 1, path: 'banana', message: "unknown key 'banana'; allowed: name, description, extends, seed, data," }] },
  { name: 'misspelt key', file: I('misspelt-key.yaml'), errors: [{ file: I('misspelt-key.yaml'), line: 7, col: 3, path: 'augment.colour_jitter', message: "unknown key 'colour_jitter'; did you mean 'color_jitter'?" }] },
  { name: 'bad enum lists the values', file: I('bad-enum.yaml'), errors: [{ file: I('bad-enum.yaml'), line: 6, col: 9, path: 'optimizer.name', message: "'adamm' is not allowed; expected one of: adam, adamw, sgd; did you mean 'adam'?" }] },
  { name: 'misspelt backbone: registered names come from the registry, with a did-you-mean', file: I('bad-backbone.yaml'), errors: [{ file: I('bad-backbone.yaml'), line: 4, col: 21, path: 'model.backbone.name', message: `'resnet51' is not allowed; expected one of: ${REGISTERED.backbone.join(', ')}; did you mean 'resnet50'?` }] },
  { name: 'missing required value points at its parent', file: I('missing-required.yaml'), errors: [{ file: I('missing-required.yaml'), line: 3, col: 1, path: 'data.train', message: "missing required key 'train'" }] },
  { name: 'missing name points at the top', file: I('missing-name.yaml'), errors: [{ file: I('missing-name.yaml'), line: 1, col: 1, path: 'name', message: "missing required key 'name'" }] },
  { name: 'bad name', file: I('bad-name.yaml'), errors: [{ file: I('bad-name.yaml'), line: 1, col: 7, path: 'name', message: "'Focal Hier' is not valid here: use lower-case letters" }] },
  { name: 'extends cycle names the chain', file: I('cycle-a.yaml'), errors: [{ file: I('cycle-b.yaml'), line: 2, col: 10, path: 'extends', message: 'extends cycle: invalid/cycle-a.yaml -> invalid/cycle-b.yaml -> invalid/cycle-a.yaml' }] },
  { name: 'missing extends file', file: I('extends-missing.yaml'), errors: [{ file: I('extends-missing.yaml'), line: 2, col: 10, path: 'extends', message: 'extends: file not found: nowhere/base.yaml' }] },
  { name: 'extends is not a path', file: I('extends-type.yaml'), errors: [{ file: I('extends-type.yaml'), line: 1, col: 10, path: 'extends', message: 'extends must be the path of a parent experiment file' }] },
  { name: 'problem inside an extends parent points into the parent', file: I('child-of-bad.yaml'), errors: [{ file: I('parent-bad.yaml'), line: 5, col: 10, path: 'loss.gamma', message: 'must be >= 0, not -1' }] },
  { name: 'bad --set key', file: 'valid/minimal.yaml', sets: ['train.epoch=3'], errors: [{ file: '--set train.epoch', path: 'train.epoch', message: "unknown key 'epoch'; did you mean 'epochs'?" }] },
  { name: 'bad --set top-level key', file: 'valid/minimal.yaml', sets: ['trian.epochs=3'], errors: [{ file: '--set trian.epochs', message: "unknown key 'trian'; did you mean 'train'?" }] },
  { name: 'bad --set value', file: 'valid/minimal.yaml', sets: ['train.batch_size=-2'], errors: [{ file: '--set train.batch_size', path: 'train.batch_size', message: 'must be >= 1, not -2' }] },
  { name: '--set without =', file: 'valid/minimal.yaml', sets: ['train.epochs'], errors: [{ file: '--set train.epochs', message: 'expected --set key=value' }] },
  { name: '--set value that is not YAML', file: 'valid/minimal.yaml', sets: ['data.levels=[species'], errors: [{ file: '--set data.levels', message: "cannot read value '[species' as YAML" }] },
  { name: '--set problem inside a list value', file: 'valid/minimal.yaml', sets: ['data.levels=[species, species]'], errors: [{ file: '--set data.levels', path: 'data.levels[1]', message: "duplicate item 'species'" }] },
  { name: 'non-increasing milestones', file: I('milestones.yaml'), errors: [{ file: I('milestones.yaml'), line: 8, col: 24, path: 'schedule.milestones[2]', message: 'strictly increasing: 20 comes after 20' }] },
  { name: 'loss weight for an undeclared level', file: I('loss-weight-level.yaml'), errors: [{ file: I('loss-weight-level.yaml'), line: 9, col: 5, path: 'loss.weights.genos', message: "undeclared level 'genos'; did you mean 'genus'?" }] },
  { name: 'decode weight for an undeclared level', file: I('hier-weight-level.yaml'), errors: [{ file: I('hier-weight-level.yaml'), line: 9, col: 16, path: 'decode.hierarchical.weights.family', message: "undeclared level 'family'" }] },
  { name: 'val fraction and path together', file: I('val-fraction-path.yaml'), errors: [{ file: I('val-fraction-path.yaml'), line: 7, col: 5, path: 'data.val.path', message: 'fraction and data.val.path are exclusive' }] },
  { name: 'crop size larger than resize', file: I('size-resize.yaml'), errors: [{ file: I('size-resize.yaml'), line: 5, col: 31, path: 'data.image.size', message: 'crop size 256 is larger than the resized image' }] },
  { name: 'empty levels', file: I('empty-levels.yaml'), errors: [{ file: I('empty-levels.yaml'), line: 5, col: 11, path: 'data.levels', message: 'must have at least 1 item, not 0' }] },
  { name: 'duplicate level', file: I('duplicate-level.yaml'), errors: [{ file: I('duplicate-level.yaml'), line: 5, col: 28, path: 'data.levels[2]', message: "duplicate item 'species': the same as data.levels[0]" }] },
  { name: 'negative learning rate', file: I('negative-lr.yaml'), errors: [{ file: I('negative-lr.yaml'), line: 5, col: 29, path: 'optimizer.lr', message: 'must be > 0, not -0.1' }] },
  { name: 'hue out of range', file: I('hue.yaml'), errors: [{ file: I('hue.yaml'), line: 8, col: 10, path: 'augment.color_jitter.hue', message: 'must be <= 0.5, not 0.7' }] },
  { name: 'optimizer phases overlap', file: I('phases-overlap.yaml'), errors: [{ file: I('phases-overlap.yaml'), line: 9, col: 62, path: 'optimizer.phases[1].from_epoch', message: 'overlaps phase 0 (epochs [0, 10))' }] },
  { name: 'cycle without optimizers', file: I('cycle-empty.yaml'), errors: [{ file: I('cycle-empty.yaml'), line: 6, col: 34, path: 'optimizer.cycle.optimizers', message: 'must have at least 1 item' }] },
  { name: 'random_crop and random_resized_crop both on', file: I('crops.yaml'), errors: [{ file: I('crops.yaml'), line: 6, col: 16, path: 'augment.random_crop', message: 'random_crop and random_resized_crop are exclusive' }] },
  { name: 'normalize must be auto or a map', file: I('normalize-string.yaml'), errors: [{ file: I('normalize-string.yaml'), line: 5, col: 14, path: 'data.normalize', message: "'imagenet' is not allowed; expected one of: auto (or a map with mean and std)" }] },
  { name: 'normalize std needs three values', file: I('normalize-std.yaml'), errors: [{ file: I('normalize-std.yaml'), line: 5, col: 44, path: 'data.normalize.std', message: 'must have at least 3 items, not 2' }] },
  { name: 'tta count below 1', file: I('tta-zero.yaml'), errors: [{ file: I('tta-zero.yaml'), line: 6, col: 10, path: 'tta.count', message: 'must be >= 1, not 0' }] },
  { name: 'unknown sweep grid key', file: I('sweep-key.yaml'), errors: [{ file: I('sweep-key.yaml'), line: 7, col: 5, path: 'sweep.grid.loss.gama', message: "unknown key 'gama'; did you mean 'gamma'?" }] },
  { name: 'missing data path is an error for exp run', file: I('missing-data-run.yaml'), mode: 'run', errors: [{ file: I('missing-data-run.yaml'), line: 4, col: 10, path: 'data.train', message: 'https://www.kaggle.com/c/herbarium-2020-fgvc7' }] },
  {
    name: 'every problem in a file at once', file: I('many.yaml'), errors: [
      { file: I('many.yaml'), line: 3, col: 11, path: 'data.format', message: "did you mean 'folders'?" },
      { file: I('many.yaml'), line: 6, col: 11, path: 'train.epochs', message: 'must be >= 1, not 0' },
      { file: I('many.yaml'), line: 7, col: 15, path: 'tta.count', message: 'must be >= 1, not 0' },
      { file: I('many.yaml'), line: 7, col: 26, path: 'tta.reduce', message: "'mean' is not allowed; expected one of: logits, probs" },
    ],
  },
];

test('at least 25 invalid fixtures are covered', () => {
  assert.ok(new Set(CASES.filter((c) => c.file.startsWith('invalid/')).map((c) => c.file)).size >= 25);
});

for (const c of CASES) {
  test(`invalid: ${c.name}`, () => {
    const r = loadExperiment(c.file, { cwd: CWD, sets: c.sets, mode: c.mode ?? 'validate' });
    const errors = r.problems.filter((p) => p.severity !== 'warning');
    assert.equal(r.config, null);
    assert.equal(errors.length, c.errors.length, errors.map(formatProblem).join('\n'));
    c.errors.forEach((want, i) => {
      const got = errors[i];
      assert.equal(got.file, want.file, formatProblem(got));
      assert.equal(got.line, want.line, formatProblem(got));
      assert.equal(got.col, want.col, formatProblem(got));
      if (want.path) assert.equal(got.path, want.path, formatProblem(got));
      assert.ok(got.message.includes(want.message), `${formatProblem(got)}\n  does not include: ${want.message}`);
    });
  });
}

test('problems print as file:line:col  path  message, and assertValid throws them all (exit code 2)', () => {
  const r = loadExperiment(I('many.yaml'), { cwd: CWD });
  assert.equal(formatProblem(r.problems[1]), 'invalid/many.yaml:6:11  train.epochs  must be >= 1, not 0');
  assert.throws(() => assertValid(r), (e: unknown) => {
    assert.ok(e instanceof UserError);
    assert.equal(e.exitCode, 2);
    assert.equal(e.problems.length, 4);
    assert.match(e.message, /^invalid\/many\.yaml: 4 problems/);
    for (const p of r.problems) assert.ok(e.message.includes(formatProblem(p)));
    assert.match(e.message, /exp validate invalid\/many\.yaml/);
    return true;
  });
});
