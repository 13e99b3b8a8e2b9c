// PyTorch / safetensors checkpoint -> a tfjs layers-model directory of an exp backbone.
//
// Every weight of the built backbone asks for one checkpoint tensor by name: layer "<module>"
// weight "kernel|depthwise_kernel|bias|gamma|beta|moving_mean|moving_variance" wants torch
// "<module>.weight|bias|running_mean|running_var", after the checkpoint's module names went
// through the backbone's weight-name table (its registry entry's `weightNames`). Layouts are converted on the way:
//   conv / grouped conv weight [out, in/groups, kh, kw] -> kernel [kh, kw, in/groups, out]
//   depthwise weight [C, 1, kh, kw] -> depthwise_kernel [kh, kw, C, 1]
//   linear weight [out, in] -> kernel [in, out];  1-D tensors unchanged
// BatchNorm's num_batches_tracked is a counter, not a weight: ignored. The classifier is skipped
// unless includeHead. Anything missing, left over, or of the wrong shape is reported by name, and
// is an error unless allowPartial.
import { createReadStream, existsSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { dirname, join, resolve } from 'node:path';
import { tf } from '../model/tf.ts';
import { backbones } from '../model/backbones/index.ts';
import { saveModelDir } from '../model/build.ts';
import { UserError } from '../errors.ts';
import { writeJsonAtomic } from '../util/fs.ts';
import { loadCheckpoint } from './index.ts';
import { permute } from './tensor.ts';
import type { CheckpointTensor } from './tensor.ts';

/** Bump when a mapping or conversion changes: resolveWeights' cache keys include it. */
export const IMPORTER_VERSION = 1;

export interface ImportOptions {
  backbone: string;
  /** also import the classifier, as global average pooling + a Dense layer */
  includeHead?: boolean;
  /** input size of the saved model (weights do not depend on it); default 224 */
  inputSize?: number;
  /** write the model even when weights are missing, unexpected or mis-shaped */
  allowPartial?: boolean;
}

export interface ImportReport {
  checkpoint: string;
  format: string;
  backbone: string;
  reference: string;
  unwrapped: string[];
  strippedModulePrefix: number;
  /** non-tensor entries of the state dict */
  ignoredEntries: string[];
  /** BatchNorm num_batches_tracked counters (not weights) */
  ignoredBuffers: string[];
  /** classifier tensors left out (includeHead off) */
  skippedHead: string[];
  /** exp weights set from the checkpoint ("layer/weight") */
  matched: string[];
  /** exp weights the checkpoint lacks, with the torch name looked for */
  missing: { weight: string; torch: string }[];
  /** checkpoint tensors nothing asked for */
  unexpected: string[];
  /** shapes in the checkpoint's (torch) layout */
  shapeMismatch: { torch: string; weight: string; expected: number[]; got: number[] }[];
}

const TORCH_PARAM: Record<string, string> = {
  kernel: 'weight', depthwise_kernel: 'weight', bias: 'bias',
  gamma: 'weight', beta: 'bias', moving_mean: 'running_mean', moving_variance: 'running_var',
};

/** Axis permutation torch layout -> exp layout for a layer's weight (out[i] = in[perm[i]]). */
function layoutPerm(layerClass: string, weight: string, rank: number): number[] {
  if (rank === 1) return [0];
  if ((layerClass === 'Conv2D' || layerClass === 'GroupConv2D') && weight === 'kernel') return [2, 3, 1, 0];
  if ((layerClass === 'DepthwiseConv2D' || layerClass === 'PaddedDepthwiseConv2D') && weight === 'depthwise_kernel') return [2, 3, 0, 1];
  if (layerClass === 'Dense' && weight === 'kernel') return [1, 0];
  throw new Error(`no torch layout conversion for ${layerClass} weight '${weight}' of rank ${rank}`);
}

function splitName(name: string): [string, string] {
  const i = name.lastIndexOf('.');
  return i < 0 ? ['', name] : [name.slice(0, i), name.slice(i + 1)];
}

/** input -> backbone features (-> 'avgpool' -> Dense `headLayer` with `headClasses` units). */
export function buildImportModel(backbone: string, inputSize: number, head?: { layer: string; classes: number }): tf.LayersModel {
  const b = backbones.get(backbone);
  const input = tf.input({ shape: [inputSize, inputSize, 3], name: 'input' });
  let x = b.build(input, { seed: 0 });
  if (head) {
    x = tf.layers.globalAveragePooling2d({ name: 'avgpool' }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.dense({ units: head.classes, name: head.layer }).apply(x) as tf.SymbolicTensor;
  }
  return tf.model({ inputs: input, outputs: x, name: backbone });
}

function listSome(xs: string[], n = 12, sep = ', '): string {
  return xs.length <= n ? xs.join(sep) : `${xs.slice(0, n).join(sep)}${sep}and ${xs.length - n} more`;
}

/** Human-readable summary of a report (several lines; every problem listed by name). */
export function formatImportReport(r: ImportReport, all = true): string {
  const lim = all ? Infinity : 12;
  const lines = [`${r.checkpoint} (${r.format}${r.unwrapped.length ? `, unwrapped ${r.unwrapped.join(' > ')}` : ''}`
    + `${r.strippedModulePrefix ? `, stripped 'module.' from ${r.strippedModulePrefix} names` : ''}) -> ${r.backbone} (${r.reference})`,
  `  matched ${r.matched.length} weights`];
  if (r.skippedHead.length) lines.push(`  classifier not imported (use --include-head): ${listSome(r.skippedHead, lim)}`);
  if (r.ignoredBuffers.length) lines.push(`  ignored ${r.ignoredBuffers.length} BatchNorm num_batches_tracked counters`);
  if (r.ignoredEntries.length) lines.push(`  ignored non-tensor entries: ${listSome(r.ignoredEntries, lim)}`);
  if (r.missing.length) lines.push(`  missing ${r.missing.length} (not in the checkpoint): ${listSome(r.missing.map((m) => `${m.torch} (for ${m.weight})`), lim)}`);
  if (r.unexpected.length) lines.push(`  unexpected ${r.unexpected.length} (no ${r.backbone} weight takes them): ${listSome(r.unexpected, lim)}`);
  if (r.shapeMismatch.length) {
    lines.push(`  wrong shape ${r.shapeMismatch.length}: ${listSome(r.shapeMismatch.map((s) =>
      `${s.torch} is [${s.got}], ${r.backbone} needs [${s.expected}]`), lim, '; ')}`);
  }
  return lines.join('\n');
}

/** Reads `path`, maps and converts its tensors into a fresh `opts.backbone` model. */
export async function importCheckpoint(path: string, opts: ImportOptions): Promise<{ model: tf.LayersModel; report: ImportReport }> {
  const backbone = backbones.get(opts.backbone);
  const table = backbone.weightNames;
  const ckpt = loadCheckpoint(path);
  const fromRegistry = new Map(Object.entries(backbone.torchNames ?? {}).map(([layer, mod]) => [mod, layer]));
  const report: ImportReport = {
    checkpoint: path, format: ckpt.format, backbone: opts.backbone, reference: table.reference,
    unwrapped: ckpt.unwrapped, strippedModulePrefix: ckpt.strippedModulePrefix, ignoredEntries: ckpt.ignored,
    ignoredBuffers: [], skippedHead: [], matched: [], missing: [], unexpected: [], shapeMismatch: [],
  };
  // exp name ("<layer>.<param>") -> [torch name, tensor]
  const byExpName = new Map<string, [string, CheckpointTensor]>();
  const headModules = new Set(table.head);
  for (const [name, t] of ckpt.tensors) {
    const [module, param] = splitName(name);
    if (param === 'num_batches_tracked') { report.ignoredBuffers.push(name); continue; }
    if (headModules.has(module) && !opts.includeHead) { report.skippedHead.push(name); continue; }
    let layer = fromRegistry.get(module) ?? module;
    if (table.toLayer) layer = table.toLayer(layer);
    if (headModules.has(module)) layer = table.headLayer;
    byExpName.set(`${layer}.${param}`, [name, t]);
  }
  let head: { layer: string; classes: number } | undefined;
  if (opts.includeHead) {
    const w = byExpName.get(`${table.headLayer}.weight`);
    if (!w || w[1].shape.length !== 2) {
      throw new UserError(`${path} has no classifier (${table.head.map((h) => `${h}.weight`).join(' or ')}, a [classes, features] matrix) `
        + 'to import; leave out --include-head to import the backbone only.');
    }
    head = { layer: table.headLayer, classes: w[1].shape[0] };
  }
  const model = buildImportModel(opts.backbone, opts.inputSize ?? 224, head);
  const used = new Set<string>();
  const writes: [tf.LayerVariable, tf.Tensor][] = [];
  try {
    for (const layer of model.layers) {
      for (const w of layer.weights) {
        const short = w.originalName.slice(w.originalName.lastIndexOf('/') + 1);
        const expName = `${layer.name}.${TORCH_PARAM[short] ?? short}`;
        const hit = byExpName.get(expName);
        if (!hit) { report.missing.push({ weight: w.originalName, torch: expName }); continue; }
        const [torchName, t] = hit;
        used.add(expName);
        const shape = w.shape as number[];
        const perm = layoutPerm(layer.getClassName(), short, shape.length);
        const expected = new Array<number>(shape.length);
        perm.forEach((p, i) => { expected[p] = shape[i]; });
        if (!tf.util.arraysEqual(expected, t.shape)) {
          report.shapeMismatch.push({ torch: torchName, weight: w.originalName, expected, got: t.shape });
          continue;
        }
        // copies: checkpoint arrays may be views into the file's buffer
        const data = t.data instanceof Float32Array ? t.data : Float32Array.from(t.data);
        const converted = perm.length > 1 ? permute(data, t.shape, perm).data : data.slice();
        writes.push([w, tf.tensor(converted, shape, 'float32')]);
        report.matched.push(w.originalName);
      }
    }
    for (const [expName, [torchName]] of byExpName) if (!used.has(expName)) report.unexpected.push(torchName);
    const problems = report.missing.length + report.unexpected.length + report.shapeMismatch.length;
    if ((problems > 0 || report.matched.length === 0) && !opts.allowPartial) {
      throw new UserError(`${path} does not fit backbone ${opts.backbone}; nothing was written.\n${formatImportReport(report, false)}\n`
        + `Check --backbone (the checkpoint must come from ${table.reference}), or pass --allow-partial to keep `
        + 'the initial values of what is missing (--allow-partial --json lists every name).');
    }
    for (const [w, t] of writes) w.write(t);
  } catch (e) {
    model.dispose();
    throw e;
  } finally {
    tf.dispose(writes.map(([, t]) => t));
  }
  return { model, report };
}

/** importCheckpoint, then saves the model to `outDir` (saveModelDir) with import-report.json. */
export async function importToDir(path: string, outDir: string, opts: ImportOptions): Promise<ImportReport> {
  const { model, report } = await importCheckpoint(path, opts);
  try {
    await saveModelDir(model, outDir);
    writeJsonAtomic(join(outDir, 'import-report.json'), { importerVersion: IMPORTER_VERSION, ...report });
  } finally {
    model.dispose();
  }
  return report;
}

async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/**
 * For `model.backbone.weights`: a tfjs layers-model directory is returned as is; a checkpoint
 * file is imported (strictly: every backbone weight, nothing else) into
 * <cacheDir>/weights/<backbone>-<sha256 of content, importer version>/ on first use and that
 * directory returned; later calls with the same content reuse it.
 */
export async function resolveWeights(pathOrDir: string, backbone: string, cacheDir: string): Promise<string> {
  if (!existsSync(pathOrDir)) throw new UserError(`model.backbone.weights: ${pathOrDir} does not exist`);
  if (statSync(pathOrDir).isDirectory()) {
    if (!existsSync(join(pathOrDir, 'model.json'))) {
      throw new UserError(`model.backbone.weights: ${pathOrDir} is a directory without model.json; give a tfjs layers-model `
        + 'directory (e.g. the output of `exp weights import`) or a .pth/.safetensors checkpoint file');
    }
    return pathOrDir;
  }
  backbones.get(backbone); // fails early, before hashing, for an unknown backbone
  const key = (await sha256File(pathOrDir)).slice(0, 20);
  const dir = resolve(cacheDir, 'weights', `${backbone}-${key}-v${IMPORTER_VERSION}`);
  if (existsSync(join(dir, 'model.json'))) return dir;
  // import into a sibling, then rename: a crash never leaves a half-written cache entry
  const tmp = `${dir}.tmp-${process.pid}`;
  mkdirSync(dirname(dir), { recursive: true });
  rmSync(tmp, { recursive: true, force: true });
  try {
    await importToDir(pathOrDir, tmp, { backbone });
    if (!existsSync(join(dir, 'model.json'))) {
      rmSync(dir, { recursive: true, force: true });
      renameSync(tmp, dir);
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return dir;
}
