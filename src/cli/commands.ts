// The command table: names, typed options (one declaration each: kind, default, help), help text
// and a lazy loader per command, so `exp --help` and a typo never load tfjs or sharp. A command
// module's run() receives Opts<'its name'>: every option parsed and defaulted (src/cli/args.ts).
import type { BackendName } from '../model/backend.ts';
import { REGISTERED } from '../registry-names.gen.ts';
import { choice, flag, int, list, number, text, type Arity, type OneOf, type Options, type Values } from './args.ts';

/** Defaults shared by several commands, declared once. */
export const DEFAULTS = {
  /** Where run records live (--runs-dir). */
  runsDir: 'runs',
} as const;
// The cache directory's default is data.cache.dir's in the schema: commands that need it (stats)
// build a config, so it is declared there only.

/** auto plus the names the model/backend.ts registry knows (written by npm run gen). */
export const BACKENDS = ['auto', ...REGISTERED.backend] as const satisfies readonly BackendName[];
/** compare's output formats (src/runs/compare/render.ts FORMATS; a test keeps them in step). */
export const COMPARE_FORMATS = ['table', 'md', 'json', 'csv'] as const;

const runsDir = text('where run records live', { valueName: 'DIR', default: DEFAULTS.runsDir });
const quiet = flag('print only errors and the final result');
const backend = choice('the TensorFlow.js backend (default auto: the fastest that loads)', BACKENDS);
const json = flag('print JSON');
const set = (help: string) => list(help, 'K=V');
const launcher = (help: string) => choice(help, REGISTERED.launcher);
const wait = flag('with a scheduler (slurm): wait until every submitted point has ended, polling squeue');

/** Every command's options, by command name. */
export const OPTIONS = {
  run: {
    set: set('override a config value, read as YAML: key.path=value'),
    sweep: list('run one point per value: key.path=v1,v2 (product over several)', 'K=V1,V2'),
    backend,
    'runs-dir': runsDir,
    name: text('run name (default: the experiment name)', { valueName: 'NAME' }),
    resume: text('continue an interrupted run from its last checkpoint', { valueName: 'RUN' }),
    point: text('run point N of a recorded sweep (e.g. a cluster array job)', { valueName: 'SWEEP/N' }),
    launcher: launcher("where the points run (default: the file's launcher.name, local); slurm submits one job array and exits"),
    wait,
    'dry-run': flag('validate and print the plan (with --resume: from where; with --point: what a task would do); run nothing'),
    'no-cache': flag('recompute cached stages (statistics, resized images) instead of reading the shared cache'),
    quiet,
  },
  validate: { set: set('apply an override before validating') },
  plan: { set: set('apply an override'), json: flag('print the plan as JSON') },
  compare: {
    sweep: text('every run of this sweep (an id or a unique prefix)', { valueName: 'ID' }),
    baseline: text('the run others are measured against (default: the first)', { valueName: 'RUN' }),
    format: choice('output format', COMPARE_FORMATS, { valueName: 'FMT', default: 'table' }),
    html: text('also write a self-contained HTML page with charts', { valueName: 'FILE' }),
    split: text('metrics of this split only; significance split (default val)', { valueName: 'SPLIT' }),
    level: text('level for metrics, significance and curves (default: the target)', { valueName: 'LEVEL' }),
    'min-effect': number('effects within +-X macro-F1 count as "no effect"', { min: 0, default: 0.01, valueName: 'X' }),
    'runs-dir': runsDir,
  },
  ensemble: {
    logits: flag('weighted mean of logits, then softmax (usually the better blend)'),
    probs: flag('weighted mean of probabilities, stored as log-probabilities'),
    weights: text('relative weight per run, in argument order (normalised)', { valueName: 'W1,W2,...' }),
    optimize: flag('search the weights on val (finest-level macro-F1); flatters val'),
    out: text('where the ensemble run is created (default: the runs directory)', { valueName: 'DIR' }),
    'runs-dir': runsDir,
    name: text('run name (default: ensemble)', { valueName: 'NAME' }),
    split: text('splits to blend (default: those the first run has default predictions for)', { valueName: 'val,test' }),
    tta: int("use each run's predictions with this TTA count instead of its default", { min: 1 }),
    quiet,
  },
  predict: {
    split: choice('the split to predict', ['val', 'test'], { valueName: 'SPLIT', default: 'val' }),
    tta: int("views per image: N-1 augmented + 1 plain (default: the run's tta.count)", { min: 1 }),
    backend,
    'runs-dir': runsDir,
    quiet,
  },
  'data inspect': {
    format: text('herbarium|folders (default: detected)', { valueName: 'NAME' }),
    levels: text('comma-separated level names, finest first (default: detected)', { valueName: 'L1,L2' }),
    json,
  },
  // The defaults are data/sample's (SAMPLE_OPTIONS in src/data/synth.ts; a test keeps them in step).
  'data synth': {
    species: int('number of species', { min: 1, default: 12 }),
    seed: int('generator seed', { min: 0, default: 2020 }),
    size: int('image width in pixels', { min: 16, default: 96, valueName: 'PX' }),
  },
  stats: {
    set: set('with an experiment file: apply an override (data.val.fraction=0.1, data.limit=100, ...)'),
    resize: int('with a dataset directory: shorter side in pixels before measuring (default 512, data.image.resize)', { min: 8, valueName: 'PX' }),
    format: text('with a dataset directory: herbarium|folders (default: detected)', { valueName: 'NAME' }),
    levels: text('with a dataset directory: level names, finest first (default: detected)', { valueName: 'L1,L2' }),
    json,
  },
  'sweep status': { 'runs-dir': runsDir, json },
  'sweep submit': {
    'runs-dir': runsDir,
    launcher: launcher("where the points run (default: the launcher that submitted the sweep before, else the file's launcher.name)"),
    wait,
    backend,
    'no-cache': flag('recompute cached stages instead of reading the shared cache'),
    quiet,
  },
  'sweep cancel': { 'runs-dir': runsDir },
  ls: { 'runs-dir': runsDir, sweep: text('only runs of this sweep (an id or a unique prefix)', { valueName: 'ID' }), json },
  reproduce: {
    'runs-dir': runsDir,
    backend: choice("the backend to re-run on (default: the run's)", BACKENDS),
    tolerance: number('largest absolute difference accepted when bitwise equality is not expected', { min: 0, default: 1e-6 }),
    keep: flag('keep the temporary worktree and the reproduced run'),
    quiet,
  },
  show: { 'runs-dir': runsDir, json: flag('print run.json and metrics.json') },
  'weights import': {
    backbone: text('the architecture the checkpoint was saved from (required)', { valueName: 'NAME', required: true }),
    out: text('directory to write the tfjs layers model to (required)', { valueName: 'DIR', required: true }),
    'include-head': flag('also import the ImageNet classifier (global average pool + dense)'),
    'allow-partial': flag('write the model even when weights are missing, unexpected or mis-shaped'),
    'input-size': int('input size of the saved model in pixels (weights do not depend on it)', { min: 32, default: 224, valueName: 'PX' }),
    json: flag('print the import report as JSON'),
  },
} satisfies Record<string, Options>;

export type CommandName = keyof typeof OPTIONS;
/** What command `C`'s run() receives. */
export type Opts<C extends CommandName> = Values<(typeof OPTIONS)[C]>;

export interface CommandModule<O = Record<string, unknown>> {
  run(args: string[], opts: O): Promise<number | void>;
}

export interface CommandSpec<C extends CommandName = CommandName> {
  name: C;
  usage: string;
  summary: string;
  description?: string;
  example: string;
  args: Arity;
  options: (typeof OPTIONS)[C];
  oneOf?: OneOf[];
  load(): Promise<CommandModule<Opts<C>>>;
}

function command<C extends CommandName>(spec: Omit<CommandSpec<C>, 'options'>): CommandSpec<CommandName> {
  return { ...spec, options: OPTIONS[spec.name] } as unknown as CommandSpec<CommandName>;
}

export const COMMANDS: CommandSpec[] = [
  command({
    name: 'run',
    usage: '<experiment.yaml>... [options] | --resume RUN | --point SWEEP/N',
    summary: 'validate, compile and run experiments, recording everything under runs/',
    description:
      'Validates each experiment file, compiles it into stages (index, split, stats, cache, train,\n' +
      'predict, submission) shown live, and writes a run record under the runs directory.\n' +
      'With a sweep (the file\'s sweep: block and/or --sweep) every point is a run sharing a sweep id;\n' +
      'running the same sweep again skips points already completed with the same identity.\n' +
      'With --launcher slurm (or launcher.name: slurm) the points not yet completed, queued or running\n' +
      'go to Slurm as one job array (sbatch --array), and exp exits; follow them with exp sweep status.',
    example: 'exp run experiments/quickstart.yaml --sweep augment.color_jitter.enabled=false,true --sweep seed=1,2,3',
    args: { min: 1, needs: 'an experiment file', unless: ['resume', 'point'] },
    load: () => import('./commands/run.ts'),
  }),
  command({
    name: 'validate',
    usage: '<experiment.yaml>...',
    summary: 'check experiment files against the schema and the semantic rules',
    description:
      'Reports every problem as file:line:col  path  message and exits 2 when any file has an error.\n' +
      'A data path that does not exist is a warning here and an error for exp run.',
    example: 'exp validate experiments/*.yaml',
    args: { min: 1, needs: 'an experiment file' },
    load: () => import('./commands/validate.ts'),
  }),
  command({
    name: 'plan',
    usage: '<experiment.yaml> [options]',
    summary: 'print the compiled stages and which are cached; runs nothing',
    example: 'exp plan experiments/focal-hier.yaml',
    args: { min: 1, max: 1, needs: 'an experiment file' },
    load: () => import('./commands/plan.ts'),
  }),
  command({
    name: 'compare',
    usage: '<run>... [options] | --sweep ID',
    summary: 'did it help? the effect across seeds first, then config diff, metrics, paired tests and curves',
    description:
      'Answers first: for each swept key, the effect on val macro-F1 paired by seed, with a 95 % interval\n' +
      'over both training seeds and validation examples, P(better) and a verdict. Then the config diff,\n' +
      'metrics per split, level and TTA count, each run against its same-seed baseline (paired bootstrap\n' +
      'and McNemar on shared validation examples, aligned by id), and learning curves. Runs may be\n' +
      'directories, ids or id prefixes, quoted globs ("runs/*"), or every run of a sweep (--sweep).',
    example: 'exp compare --sweep sw-2290 --html compare.html',
    args: { min: 0, needs: 'the runs to compare (directories, ids, id prefixes or quoted globs), or --sweep ID' },
    load: () => import('./commands/compare.ts'),
  }),
  command({
    name: 'ensemble',
    usage: '<run>... (--logits | --probs) [options]',
    summary: "blend runs' predictions by logits or probabilities into a run of kind ensemble",
    description:
      'Checks that the runs cover the same examples (by image id), levels and classes, then streams their\n' +
      'predictions in row blocks into a new run: predictions/, metrics.json, submission.csv.\n' +
      'Runs may be directories, ids or quoted globs like "runs/*".',
    example: 'exp ensemble "runs/*focal*" --logits --weights 2,1',
    args: { min: 1, needs: 'the runs to blend (directories, ids or quoted globs)' },
    oneOf: [{ options: ['logits', 'probs'], required: 'how to blend' }],
    load: () => import('./commands/ensemble.ts'),
  }),
  command({
    name: 'predict',
    usage: '<run> [--split val|test] [--tta N]',
    summary: "new predictions from a trained run's best checkpoint, without retraining",
    description:
      'Writes predictions/<split>/tta<N>/ beside the originals and records them in run.json (and\n' +
      'metrics.json for val), so the TTA count is an ablation that costs no training.',
    example: 'exp predict runs/20261128-120000-quickstart-a1b2c3 --split val --tta 8',
    args: { min: 1, max: 1, needs: 'a trained run' },
    load: () => import('./commands/predict.ts'),
  }),
  command({
    name: 'data inspect',
    usage: '<dataset-dir> [--json]',
    summary: 'format, classes per level, images per class, missing files',
    example: 'exp data inspect data/sample/train',
    args: { min: 1, max: 1, needs: 'a dataset directory' },
    load: () => import('./commands/data-inspect.ts'),
  }),
  command({
    name: 'data synth',
    usage: '<out-dir> [options]',
    summary: 'generate a herbarium-like dataset in the Herbarium 2020 layout',
    example: 'exp data synth /tmp/herb --species 24 --seed 1',
    args: { min: 1, max: 1, needs: 'an output directory' },
    load: () => import('./commands/data-synth.ts'),
  }),
  command({
    name: 'stats',
    usage: '<experiment.yaml | dataset-dir> [options]',
    summary: 'per-channel mean and std over the training images, as normalize: auto measures them (cached)',
    description:
      'Measures what a run\'s stats stage measures: the training images after the validation split\n' +
      '(and data.limit), at data.image.resize, read through the resized-image cache when\n' +
      'data.cache.enabled, with the same cache. Given an experiment file, its settings are used\n' +
      '(--set applies overrides); given a dataset directory, those of an experiment that names only\n' +
      'that directory: format and levels detected as exp data inspect does, the default split.',
    example: 'exp stats experiments/quickstart.yaml',
    args: { min: 1, max: 1, needs: 'an experiment file or a dataset directory' },
    load: () => import('./commands/stats.ts'),
  }),
  command({
    name: 'sweep status',
    usage: '<sweep> [--runs-dir DIR] [--json]',
    summary: "each point of a sweep: its run's state, the scheduler's live state, job, log and last progress line",
    description:
      'The state of each point comes from its run records (completed, running, failed, interrupted, or\n' +
      'missing); where the sweep went to a scheduler, its live state too (Slurm: pending, running or\n' +
      'requeued, from squeue; never sacct), the task id, its log file and the log\'s last line.',
    example: 'exp sweep status sw-2290',
    args: { min: 1, max: 1, needs: 'a sweep id (or a unique prefix)' },
    load: () => import('./commands/sweep.ts').then((m) => ({ run: m.status })),
  }),
  command({
    name: 'sweep submit',
    usage: '<sweep> [--launcher NAME] [--wait] [--runs-dir DIR]',
    summary: 'run or submit again every point of a recorded sweep that is not completed, queued or running',
    description:
      'Reads the sweep record, decides each point from its run records (completed points are skipped,\n' +
      'failed, interrupted and missing ones run again, an interrupted one from its checkpoint) and hands\n' +
      'the rest to the launcher: on Slurm, one job array of exactly those points.',
    example: 'exp sweep submit sw-2290 --launcher slurm',
    args: { min: 1, max: 1, needs: 'a sweep id (or a unique prefix)' },
    load: () => import('./commands/sweep.ts').then((m) => ({ run: m.submit })),
  }),
  command({
    name: 'sweep cancel',
    usage: '<sweep> [--runs-dir DIR]',
    summary: "cancel a sweep's queued and running tasks (Slurm: scancel)",
    description: 'A cancelled running point is marked interrupted; exp sweep submit continues it later.',
    example: 'exp sweep cancel sw-2290',
    args: { min: 1, max: 1, needs: 'a sweep id (or a unique prefix)' },
    load: () => import('./commands/sweep.ts').then((m) => ({ run: m.cancel })),
  }),
  command({
    name: 'ls',
    usage: '[--runs-dir DIR] [--sweep ID] [--json]',
    summary: 'list runs: id, name, status, val macro-F1 (level, TTA), backend, git SHA, duration, swept values',
    example: 'exp ls --runs-dir runs',
    args: { min: 0, max: 0 },
    load: () => import('./commands/ls.ts'),
  }),
  command({
    name: 'reproduce',
    usage: '<run> [options]',
    summary: 'rebuild a run from its record (commit + git.patch) and compare the metrics',
    description:
      'Checks out the recorded commit in a temporary git worktree, applies git.patch, links the\n' +
      'installed node_modules (warning when package-lock.json differs from the recorded hash) and the\n' +
      "built addons, runs the recorded experiment with its recorded overrides on the run's backend,\n" +
      'and compares metrics.json: exactly when the same deterministic backend runs on the same CPU\n' +
      'instruction set, within --tolerance otherwise, naming what differs (backend, CPU, library\n' +
      'versions, code). Exit 1 when the metrics differ.',
    example: 'exp reproduce runs/20261128-120000-quickstart-a1b2c3',
    args: { min: 1, max: 1, needs: 'a run' },
    load: () => import('./commands/reproduce.ts'),
  }),
  command({
    name: 'show',
    usage: '<run> [--json]',
    summary: "one run's record in readable form",
    example: 'exp show runs/20261128-120000-quickstart-a1b2c3',
    args: { min: 1, max: 1, needs: 'a run' },
    load: () => import('./commands/show.ts'),
  }),
  command({
    name: 'weights import',
    usage: '<checkpoint> --backbone NAME --out DIR [options]',
    summary: 'import a PyTorch .pth or .safetensors state dict into a backbone (tfjs model directory)',
    description:
      'Reads the checkpoint without executing anything in it (pickled code is refused), maps the names of\n' +
      "the backbone's reference definition (torchvision resnet18/34/50 and mobilenet_v2, pretrainedmodels\n" +
      'se_resnext50_32x4d, timm or torchvision efficientnet_b0) to its layers, converts layouts, and writes\n' +
      'DIR/model.json + weights.bin + import-report.json for model.backbone.weights. Anything missing,\n' +
      'unexpected or of the wrong shape is listed and is an error unless --allow-partial.',
    example: 'exp weights import resnet50.pth --backbone resnet50 --out weights/resnet50-imagenet',
    args: { min: 1, max: 1, needs: 'a checkpoint file' },
    load: () => import('./commands/weights-import.ts'),
  }),
];
