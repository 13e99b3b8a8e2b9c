// Valid experiments: defaults, extends chains (deep merge, list replacement, positions pointing
// into the right file), shorthands, --set typing, override order, data path resolution.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { loadExperiment, assertValid, locate, validateConfig, type Override } from '../../src/config/index.ts';
import { formatProblem } from '../../src/errors.ts';

const CWD = fileURLToPath(new URL('../fixtures/config/', import.meta.url));
const TRAIN = join(CWD, 'data/train');
const TEST = join(CWD, 'data/test');
const load = (file: string, opts: Parameters<typeof loadExperiment>[1] = {}) => loadExperiment(file, { cwd: CWD, ...opts });
const ok = (file: string, opts: Parameters<typeof loadExperiment>[1] = {}) => {
  const r = load(file, opts);
  assert.deepEqual(r.problems.map(formatProblem), []);
  return { r, c: assertValid(r) };
};

test('a minimal file gets every default', () => {
  const { r, c } = ok('valid/minimal.yaml');
  assert.equal(c.seed, 0);
  assert.equal(c.data.train, TRAIN);
  assert.deepEqual(r.asWritten, { 'data.train': '../data/train' });
  assert.equal(c.data.test, null);
  assert.deepEqual(c.data.val, { fraction: 0.2, stratify: true, seed: 0, cap_per_class: null, path: null });
  assert.deepEqual(c.data.levels, ['species', 'genus', 'family']);
  assert.deepEqual(c.data.image, { resize: 512, size: 224 });
  assert.equal(c.data.normalize, 'auto');
  assert.deepEqual(c.model, { backbone: { name: 'resnet18', weights: null, freeze: [] }, head: { pool: 'concat', hidden: 0, dropout: 0 } });
  assert.deepEqual(c.loss, { type: 'focal', gamma: 2, class_balance: { enabled: true, beta: 0.9 }, label_smoothing: 0, weights: {} });
  assert.deepEqual(c.optimizer, { name: 'adam', lr: 3e-4, momentum: 0.9, nesterov: false, weight_decay: 0, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, phases: [], cycle: null });
  assert.deepEqual(c.schedule, { type: 'step', milestones: [], factor: 0.5, warmup_epochs: 0, min_lr: 0 });
  assert.deepEqual(c.train, { epochs: 10, batch_size: 32, accumulate: 1, ema: { enabled: false, decay: 0.999 }, sampler: 'uniform', max_steps_per_epoch: null, replicas: 1, recompute: false });
  assert.deepEqual(c.augment.color_jitter, { enabled: false, brightness: 0.2, contrast: 0.2, saturation: 0.2, hue: 0.02 });
  assert.equal(c.augment.random_crop, true);
  assert.deepEqual(c.tta, { count: 1, reduce: 'logits' });
  assert.deepEqual(c.decode, { logit_adjust: { tau: 0 }, hierarchical: { enabled: false, weights: {} } });
  assert.deepEqual(c.outputs, { predictions: ['val', 'test'], dtype: 'float32', submission: true });
  assert.equal(c.sweep, null);
  // Keys come out in schema order, so config.yaml reads like the reference page.
  assert.deepEqual(Object.keys(c), ['name', 'seed', 'data', 'model', 'loss', 'optimizer', 'schedule', 'train', 'augment', 'tta', 'decode', 'outputs', 'sweep', 'launcher']);
  assert.equal(r.rawText, readFileSync(join(CWD, 'valid/minimal.yaml'), 'utf8'));
});

test('extends chain of depth 3: maps deep-merge, lists replace, paths resolve from the file that wrote them', () => {
  const { r, c } = ok('valid/chain-leaf.yaml');
  assert.deepEqual(r.files, ['valid/chain/root.yaml', 'valid/chain/mid.yaml', 'valid/chain-leaf.yaml'].map((f) => join(CWD, f)));
  assert.equal(c.name, 'leaf');
  assert.equal(c.seed, 1);
  assert.deepEqual(c.data.levels, ['species', 'genus']);
  assert.deepEqual(c.schedule.milestones, [5]);
  assert.deepEqual(c.loss.weights, { species: 1.5, genus: 2 });
  assert.deepEqual(c.augment.color_jitter, { enabled: true, brightness: 0.3, contrast: 0.2, saturation: 0.2, hue: 0.05 });
  assert.deepEqual([c.train.epochs, c.train.batch_size], [12, 8]);
  assert.equal(c.data.train, TRAIN); // '../../data/train' relative to valid/chain/
  assert.equal((c as { extends?: string }).extends, undefined);
  // Every value remembers its file.
  assert.deepEqual(locate(r.source, ['data', 'levels']), { file: 'valid/chain/mid.yaml', abs: join(CWD, 'valid/chain/mid.yaml'), line: 4, col: 11 });
  assert.equal(locate(r.source, ['data', 'format'])?.file, 'valid/chain/root.yaml');
  assert.equal(locate(r.source, ['loss', 'weights', 'genus'])?.file, 'valid/chain-leaf.yaml');
  assert.equal(locate(r.source, ['loss', 'weights', 'species'])?.file, 'valid/chain/root.yaml');
});

test('a problem caused by a parent value points into the parent', () => {
  const r = load('valid/chain-leaf.yaml', { sets: ['train.epochs=4'] });
  const w = r.problems.find((p) => p.path === 'schedule.milestones[0]');
  assert.equal(w?.severity, 'warning'); // milestone 5 >= 4 epochs
  assert.equal(w?.file, 'valid/chain-leaf.yaml');
  const r2 = load('valid/chain-leaf.yaml', { sets: ['data.levels=[species]', 'train.epochs=20'] });
  assert.deepEqual(r2.problems.map((p) => [p.file, p.line, p.path]), [['valid/chain-leaf.yaml', 5, 'loss.weights.genus']]);
});

test('shorthands become objects before validation, so their defaults apply', () => {
  const { c } = ok('valid/shorthand.yaml');
  assert.deepEqual(c.loss.class_balance, { enabled: false, beta: 0.9 });
  assert.deepEqual(c.train.ema, { enabled: true, decay: 0.999 });
  assert.deepEqual(c.augment.color_jitter, { enabled: true, brightness: 0.2, contrast: 0.2, saturation: 0.2, hue: 0.02 });
  assert.deepEqual(c.augment.random_resized_crop, { enabled: true, scale: [0.08, 1] });
  assert.equal(c.augment.random_crop, false); // implied by random_resized_crop
  assert.deepEqual(c.decode.hierarchical, { enabled: false, weights: {} });
  assert.deepEqual(c.data.val, { fraction: null, stratify: true, seed: 0, cap_per_class: null, path: TEST });
});

test('a shorthand in a child merges with the parent map', () => {
  const { c } = ok('valid/shorthand-merge.yaml');
  assert.deepEqual(c.augment.color_jitter, { enabled: false, brightness: 0.3, contrast: 0.2, saturation: 0.2, hue: 0.02 });
});

test('--set values are read as YAML', () => {
  const { r, c } = ok('valid/minimal.yaml', {
    sets: ['train.epochs=3', 'augment.color_jitter=false', 'model.backbone.name=resnet50', 'data.levels=[species, genus]',
      'loss.weights.genus=0.5', 'data.test=data/test', 'optimizer.lr=1e-3', 'data.val.cap_per_class=10', 'model.head.dropout=0.5'],
  });
  assert.equal(c.train.epochs, 3);
  assert.deepEqual(c.augment.color_jitter, { enabled: false, brightness: 0.2, contrast: 0.2, saturation: 0.2, hue: 0.02 });
  assert.equal(c.model.backbone.name, 'resnet50');
  assert.deepEqual(c.data.levels, ['species', 'genus']);
  assert.deepEqual(c.loss.weights, { genus: 0.5 });
  assert.equal(c.data.test, TEST); // --set paths are relative to the working directory
  assert.equal(c.optimizer.lr, 0.001);
  assert.equal(c.data.val.cap_per_class, 10);
  assert.equal(r.overrides[0].value, 3);
  assert.equal(r.overrides.length, 9);
});

test('override order: extends chain, file, sweep point, --sweep, --set (last wins), all recorded', () => {
  const sweepPoint: Override[] = [
    { key: 'train.epochs', value: 5, source: { file: 'valid/chain-leaf.yaml', line: 3, col: 5 } },
    { key: 'loss.gamma', value: 1, source: { file: 'valid/chain-leaf.yaml', line: 4, col: 5 } },
  ];
  const sweeps: Override[] = [
    { key: 'train.epochs', value: 6, source: { file: '--sweep train.epochs' } },
    { key: 'seed', value: 9, source: { file: '--sweep seed' } },
  ];
  const { r, c } = ok('valid/chain-leaf.yaml', { sweepPoint, sweeps, sets: ['train.epochs=7'] });
  assert.equal(c.train.epochs, 7);
  assert.equal(c.seed, 9);
  assert.equal(c.loss.gamma, 1);
  assert.deepEqual(r.overrides, [
    { key: 'train.epochs', value: 5, source: 'valid/chain-leaf.yaml:3:5' },
    { key: 'loss.gamma', value: 1, source: 'valid/chain-leaf.yaml:4:5' },
    { key: 'train.epochs', value: 6, source: '--sweep train.epochs' },
    { key: 'seed', value: 9, source: '--sweep seed' },
    { key: 'train.epochs', value: 7, source: '--set train.epochs' },
  ]);
});

test('the full example experiment (every section) validates; its missing Herbarium data is a warning saying where to put it', () => {
  const r = load('valid/focal-hier.yaml');
  assert.ok(r.config);
  assert.deepEqual(r.problems.map((p) => [p.severity, p.path, p.line]), [['warning', 'data.train', 7], ['warning', 'data.test', 8]]);
  assert.match(r.problems[0].message, /herbarium-2020-fgvc7.*nybg2020\/train\/metadata\.json exists/);
  assert.equal(r.config.loss.weights.species, 1.5);
  assert.deepEqual(r.config.schedule.milestones, [10, 20, 25, 30]);
  const run = load('valid/focal-hier.yaml', { mode: 'run' });
  assert.equal(run.config, null);
  assert.deepEqual(run.problems.map((p) => p.severity), ['error', 'error']);
});

test('the AdamEva cycle and a sweep block validate', () => {
  const { c } = ok('valid/adameva.yaml');
  assert.equal(c.optimizer.cycle?.every, 5);
  assert.deepEqual(c.optimizer.cycle?.optimizers[1], { name: 'sgd', lr: 0.01, momentum: 0.8, nesterov: false, weight_decay: 0, beta1: 0.9, beta2: 0.999, epsilon: 1e-8 });
  assert.deepEqual(c.sweep, { grid: { 'loss.gamma': [0, 2], 'augment.vflip': [true, false] }, seeds: [1, 2] });
});

test('validateConfig is pure: no I/O, no mutation of its input, problems without a source map', () => {
  const raw = { name: 'x', data: { format: 'folders', train: 'anything' }, augment: { color_jitter: true } };
  const copy = structuredClone(raw);
  const v = validateConfig(raw);
  assert.deepEqual(raw, copy);
  assert.deepEqual(v.errors, []);
  assert.equal(v.config?.data.train, 'anything'); // paths are resolved by the I/O edge, not here
  assert.equal(v.config?.augment.color_jitter.enabled, true);
  const bad = validateConfig({ name: 'x', data: { format: 'folders', train: 't' }, tta: { count: 0 } });
  assert.equal(bad.config, null);
  assert.deepEqual(bad.errors.map((e) => [e.file, e.path, e.message]), [[undefined, 'tta.count', 'must be >= 1, not 0']]);
});
