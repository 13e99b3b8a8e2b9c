// The command table: names, options, help text and a lazy loader per command, so `exp --help`
// and a typo never load tfjs or sharp.

export interface OptionSpec {
  type: 'string' | 'boolean';
  multiple?: boolean;
  short?: string;
  default?: string | boolean;
  help: string;
  valueName?: string;
}

export interface CommandModule {
  run(args: string[], opts: Record<string, unknown>): Promise<number | void>;
}

export interface CommandSpec {
  name: string;
  usage: string;
  summary: string;
  description?: string;
  example: string;
  minArgs: number;
  options: Record<string, OptionSpec>;
  load(): Promise<CommandModule>;
}

const runsDir: OptionSpec = { type: 'string', help: 'where run records live (default: runs)', valueName: 'DIR' };
const quiet: OptionSpec = { type: 'boolean', help: 'print only errors and the final result' };
const backend: OptionSpec = {
  type: 'string',
  help: 'auto|tensorflow|webgpu|native|wasm|cpu|webgpu-software (default auto: the fastest that loads)',
  valueName: 'NAME',
};

export const COMMANDS: CommandSpec[] = [
  {
    name: 'run',
    usage: '<experiment.yaml>... [options] | --resume RUN | --point SWEEP/N',
    summary: 'validate, compile and run experiments, recording everything under runs/',
    description:
      'Validates each experiment file, compiles it into stages (index, split, stats, cache, train,\n' +
      'predict, submission) shown live, and writes a run record under the runs directory.\n' +
      'With a sweep (the file\'s sweep: block and/or --sweep) every point is a run sharing a sweep id;\n' +
      'running the same sweep again skips points already completed with the same identity.',
    example: 'exp run experiments/quickstart.yaml --sweep augment.color_jitter.enabled=false,true --sweep seed=1,2,3',
    minArgs: 0,
    options: {
      set: { type: 'string', multiple: true, help: 'override a config value, read as YAML: key.path=value', valueName: 'K=V' },
      sweep: { type: 'string', multiple: true, help: 'run one point per value: key.path=v1,v2 (product over several)', valueName: 'K=V1,V2' },
      backend,
      'runs-dir': runsDir,
      name: { type: 'string', help: 'run name (default: the experiment name)', valueName: 'NAME' },
      resume: { type: 'string', help: 'continue an interrupted run from its last checkpoint', valueName: 'RUN' },
      point: { type: 'string', help: 'run point N of a recorded sweep (e.g. a cluster array job)', valueName: 'SWEEP/N' },
      'dry-run': { type: 'boolean', help: 'validate and print the plan; run nothing' },
      'no-cache': { type: 'boolean', help: 'recompute cached stages (statistics, resized images) instead of reading the shared cache' },
      quiet,
    },
    load: () => import('./commands/run.ts'),
  },
  {
    name: 'validate',
    usage: '<experiment.yaml>...',
    summary: 'check experiment files against the schema and the semantic rules',
    description:
      'Reports every problem as file:line:col  path  message and exits 2 when any file has an error.\n' +
      'A data path that does not exist is a warning here and an error for exp run.',
    example: 'exp validate experiments/*.yaml',
    minArgs: 1,
    options: { set: { type: 'string', multiple: true, help: 'apply an override before validating', valueName: 'K=V' } },
    load: () => import('./commands/validate.ts'),
  },
  {
    name: 'plan',
    usage: '<experiment.yaml> [options]',
    summary: 'print the compiled stages and which are cached; runs nothing',
    example: 'exp plan experiments/focal-hier.yaml',
    minArgs: 1,
    options: {
      set: { type: 'string', multiple: true, help: 'apply an override', valueName: 'K=V' },
      json: { type: 'boolean', help: 'print the plan as JSON' },
    },
    load: () => import('./commands/plan.ts'),
  },
  {
    name: 'compare',
    usage: '<run>... [options]',
    summary: 'config diff, metric deltas, paired significance and learning curves of runs',
    description:
      'Compares runs with a baseline (--baseline, else the first): config keys that differ, metrics per\n' +
      'split, level and TTA count as deltas, paired bootstrap CIs and McNemar on shared validation\n' +
      'examples (aligned by id), and learning curves. Quoted globs ("runs/*") work.',
    example: 'exp compare "runs/*focal*" --html compare.html',
    minArgs: 1,
    options: {
      baseline: { type: 'string', help: 'the run others are measured against (default: the first)', valueName: 'RUN' },
      format: { type: 'string', help: 'table|md|json|csv (default table)', valueName: 'FMT' },
      html: { type: 'string', help: 'also write a self-contained HTML page with charts', valueName: 'FILE' },
      split: { type: 'string', help: 'metrics of this split only; significance split (default val)', valueName: 'SPLIT' },
      level: { type: 'string', help: 'level for metrics, significance and curves (default: the target)', valueName: 'LEVEL' },
      'runs-dir': runsDir,
    },
    load: () => import('./commands/compare.ts'),
  },
  {
    name: 'ensemble',
    usage: '<run>... (--logits | --probs) [options]',
    summary: "blend runs' predictions by logits or probabilities into a run of kind ensemble",
    description:
      'Checks that the runs cover the same examples (by image id), levels and classes, then streams their\n' +
      'predictions in row blocks into a new run: predictions/, metrics.json, submission.csv.\n' +
      'Runs may be directories, ids or quoted globs like "runs/*".',
    example: 'exp ensemble "runs/*focal*" --logits --weights 2,1',
    minArgs: 1,
    options: {
      logits: { type: 'boolean', help: 'weighted mean of logits, then softmax (usually the better blend)' },
      probs: { type: 'boolean', help: 'weighted mean of probabilities, stored as log-probabilities' },
      weights: { type: 'string', help: 'relative weight per run, in argument order (normalised)', valueName: 'W1,W2,...' },
      optimize: { type: 'boolean', help: 'search the weights on val (finest-level macro-F1); flatters val' },
      out: { type: 'string', help: 'where the ensemble run is created (default: the runs directory)', valueName: 'DIR' },
      'runs-dir': runsDir,
      name: { type: 'string', help: 'run name (default: ensemble)', valueName: 'NAME' },
      split: { type: 'string', help: 'splits to blend (default: those the first run has default predictions for)', valueName: 'val,test' },
      tta: { type: 'string', help: "use each run's predictions with this TTA count instead of its default", valueName: 'N' },
    },
    load: () => import('./commands/ensemble.ts'),
  },
  {
    name: 'predict',
    usage: '<run> [--split val|test] [--tta N]',
    summary: "new predictions from a trained run's best checkpoint, without retraining",
    description:
      'Writes predictions/<split>/tta<N>/ beside the originals and records them in run.json (and\n' +
      'metrics.json for val), so the TTA count is an ablation that costs no training.',
    example: 'exp predict runs/20261128-120000-quickstart-a1b2c3 --split val --tta 8',
    minArgs: 1,
    options: {
      split: { type: 'string', help: 'val or test (default val)', valueName: 'SPLIT' },
      tta: { type: 'string', help: 'views per image: N-1 augmented + 1 plain (default: the run\'s tta.count)', valueName: 'N' },
      backend,
      'runs-dir': runsDir,
    },
    load: () => import('./commands/predict.ts'),
  },
  {
    name: 'data inspect',
    usage: '<dataset-dir> [--json]',
    summary: 'format, classes per level, images per class, missing files',
    example: 'exp data inspect data/sample/train',
    minArgs: 1,
    options: {
      format: { type: 'string', help: 'herbarium|folders (default: detected)', valueName: 'NAME' },
      levels: { type: 'string', help: 'comma-separated level names, finest first', valueName: 'L1,L2' },
      json: { type: 'boolean', help: 'print JSON' },
    },
    load: () => import('./commands/data-inspect.ts'),
  },
  {
    name: 'data synth',
    usage: '<out-dir> [options]',
    summary: 'generate a herbarium-like dataset in the Herbarium 2020 layout',
    example: 'exp data synth /tmp/herb --species 24 --seed 1',
    minArgs: 1,
    options: {
      species: { type: 'string', help: 'number of species (default 12)', valueName: 'N' },
      seed: { type: 'string', help: 'generator seed (default 0)', valueName: 'N' },
      size: { type: 'string', help: 'image size in pixels (default 128)', valueName: 'PX' },
    },
    load: () => import('./commands/data-synth.ts'),
  },
  {
    name: 'stats',
    usage: '<dataset-dir> [options]',
    summary: 'per-channel mean and std over the training images (cached)',
    example: 'exp stats data/sample/train --resize 64',
    minArgs: 1,
    options: {
      resize: { type: 'string', help: 'shorter side in pixels before measuring (default 512)', valueName: 'PX' },
      format: { type: 'string', help: 'herbarium|folders (default: detected)', valueName: 'NAME' },
      json: { type: 'boolean', help: 'print JSON' },
    },
    load: () => import('./commands/stats.ts'),
  },
  {
    name: 'ls',
    usage: '[--runs-dir runs]',
    summary: 'list runs: id, name, status, species macro-F1, backend, git SHA, duration',
    example: 'exp ls --runs-dir runs',
    minArgs: 0,
    options: { 'runs-dir': runsDir, sweep: { type: 'string', help: 'only runs of this sweep', valueName: 'ID' }, json: { type: 'boolean', help: 'print JSON' } },
    load: () => import('./commands/ls.ts'),
  },
  {
    name: 'reproduce',
    usage: '<run> [options]',
    summary: 'rebuild a run from its record (commit + git.patch) and compare the metrics',
    description:
      'Checks out the recorded commit in a temporary git worktree, applies git.patch, links the\n' +
      'installed node_modules (warning when package-lock.json differs from the recorded hash), runs\n' +
      'the recorded experiment with its recorded overrides, and compares metrics.json: exactly on\n' +
      'deterministic backends, within --tolerance otherwise. Exit 1 when they differ.',
    example: 'exp reproduce runs/20261128-120000-quickstart-a1b2c3',
    minArgs: 1,
    options: {
      'runs-dir': runsDir,
      backend,
      tolerance: { type: 'string', help: 'largest absolute difference accepted on non-deterministic backends (default 1e-6)', valueName: 'X' },
      keep: { type: 'boolean', help: 'keep the temporary worktree and the reproduced run' },
      quiet,
    },
    load: () => import('./commands/reproduce.ts'),
  },
  {
    name: 'show',
    usage: '<run>',
    summary: "one run's record in readable form",
    example: 'exp show runs/20261128-120000-quickstart-a1b2c3',
    minArgs: 1,
    options: { 'runs-dir': runsDir, json: { type: 'boolean', help: 'print run.json and metrics.json' } },
    load: () => import('./commands/show.ts'),
  },
  {
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
    minArgs: 1,
    options: {
      backbone: { type: 'string', help: 'the architecture the checkpoint was saved from', valueName: 'NAME' },
      out: { type: 'string', help: 'directory to write the tfjs layers model to', valueName: 'DIR' },
      'include-head': { type: 'boolean', help: 'also import the ImageNet classifier (global average pool + dense)' },
      'allow-partial': { type: 'boolean', help: 'write the model even when weights are missing, unexpected or mis-shaped' },
      'input-size': { type: 'string', help: 'input size of the saved model in pixels (default 224; weights do not depend on it)', valueName: 'PX' },
      json: { type: 'boolean', help: 'print the import report as JSON' },
    },
    load: () => import('./commands/weights-import.ts'),
  },
];
