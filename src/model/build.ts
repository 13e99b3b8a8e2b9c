// Model assembly: input -> registered backbone -> head with one logits output per label level.
// Also freezing by layer-name prefix, and layers-model directories (model.json + weights.bin):
// saving, loading, and copying weights into a model by name (model.backbone.weights).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tf } from './tf.ts';
import { backbones } from './backbones/index.ts';
import { buildHead, validateHead } from './head.ts';
import type { HeadSpec, Level } from './head.ts';
import { UserError } from '../errors.ts';
import { writeAtomic, writeJsonAtomic } from '../util/fs.ts';
import './layers/index.ts'; // custom layer classes must be registered before loading a model

export interface BackboneSpec {
  name: string;
  /** A tfjs layers-model directory to start from (applied by loadBackboneWeights), or null. */
  weights?: string | null;
  /** Layer-name prefixes to make non-trainable; 'backbone' means every backbone layer. */
  freeze?: string[];
  width?: number;
}

export interface ModelSpec {
  backbone: BackboneSpec;
  head: HeadSpec;
  inputSize: number;
  levels: Level[];
  seed: number;
}

/** Layers that belong to the head (everything else but the input is the backbone). */
function isHeadLayer(name: string): boolean {
  return name.startsWith('head.') || name.startsWith('logits_');
}

export function buildModel(spec: ModelSpec): tf.LayersModel {
  const backbone = backbones.get(spec.backbone.name);
  if (!Number.isInteger(spec.inputSize) || spec.inputSize < 32) {
    throw new UserError(`model input size must be a whole number of pixels >= 32, got ${spec.inputSize}`);
  }
  validateHead(spec.head, spec.levels);
  const input = tf.input({ shape: [spec.inputSize, spec.inputSize, 3], name: 'input' });
  const features = backbone.build(input, { seed: spec.seed, width: spec.backbone.width });
  const outputs = buildHead(features, spec.head, spec.levels, spec.seed);
  const model = tf.model({ inputs: input, outputs, name: spec.backbone.name });
  if (spec.backbone.freeze?.length) freezeLayers(model, spec.backbone.freeze);
  return model;
}

/** Sets every layer whose name starts with one of `prefixes` non-trainable; returns their names. */
export function freezeLayers(model: tf.LayersModel, prefixes: string[]): string[] {
  const frozen: string[] = [];
  for (const prefix of prefixes) {
    const hits = model.layers.filter((l) => prefix === 'backbone'
      ? l.name !== 'input' && !isHeadLayer(l.name)
      : l.name.startsWith(prefix));
    if (hits.length === 0) {
      const examples = model.layers.filter((l) => l.weights.length > 0).slice(0, 6).map((l) => l.name);
      throw new UserError(`model.backbone.freeze: no layer name starts with '${prefix}'. Use 'backbone' `
        + `for the whole backbone or a layer-name prefix such as ${examples.map((e) => `'${e}'`).join(', ')}`);
    }
    for (const l of hits) {
      l.trainable = false;
      frozen.push(l.name);
    }
  }
  return [...new Set(frozen)];
}

// ---- layers-model directories ------------------------------------------------------------

interface ModelJson {
  modelTopology?: object;
  format?: string;
  weightsManifest?: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
}

function readModelJson(dir: string): ModelJson {
  const path = join(dir, 'model.json');
  if (!existsSync(path)) {
    throw new UserError(`${path} does not exist: model weights must be a tfjs layers-model directory `
      + '(model.json + weight files), e.g. a run\'s model/best or the output of `exp weights import`');
  }
  let json: ModelJson;
  try {
    json = JSON.parse(readFileSync(path, 'utf8')) as ModelJson;
  } catch (e) {
    throw new UserError(`${path} is not valid JSON (${(e as Error).message}); re-export the model`);
  }
  if (!json.modelTopology || !Array.isArray(json.weightsManifest)) {
    throw new UserError(`${path} is not a tfjs layers model (it needs modelTopology and weightsManifest)`);
  }
  return json;
}

function readShards(dir: string, json: ModelJson): { specs: tf.io.WeightsManifestEntry[]; data: ArrayBuffer[] } {
  const specs: tf.io.WeightsManifestEntry[] = [];
  const data: ArrayBuffer[] = [];
  for (const group of json.weightsManifest!) {
    for (const p of group.paths) {
      const file = join(dir, p);
      if (!existsSync(file)) throw new UserError(`${file} is missing: ${join(dir, 'model.json')} lists it as a weight file`);
      const b = readFileSync(file);
      data.push(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer);
    }
    specs.push(...group.weights);
  }
  return { specs, data };
}

/** Saves `model` as dir/model.json + dir/weights.bin (tfjs layers-model format, one shard). */
export async function saveModelDir(model: tf.LayersModel, dir: string): Promise<void> {
  await model.save(tf.io.withSaveHandler(async (a) => {
    const data = new Uint8Array(tf.io.CompositeArrayBuffer.join(a.weightData ?? []));
    writeAtomic(join(dir, 'weights.bin'), data);
    writeJsonAtomic(join(dir, 'model.json'), {
      format: 'layers-model', generatedBy: `TensorFlow.js tfjs-layers v${tf.version_layers}`, convertedBy: null,
      modelTopology: a.modelTopology,
      weightsManifest: [{ paths: ['weights.bin'], weights: a.weightSpecs ?? [] }],
    });
    return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
  }));
}

/** Loads a model saved by saveModelDir (or any tfjs layers-model directory). */
export async function loadModelDir(dir: string): Promise<tf.LayersModel> {
  const json = readModelJson(dir);
  const { specs, data } = readShards(dir, json);
  return tf.loadLayersModel(tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: specs, weightData: data }));
}

export interface WeightsReport {
  /** Weights copied ("layer/weight"). */
  matched: string[];
  /** Weights of the model that the directory does not have (they keep their initial values). */
  missing: string[];
  /** Weights in the directory that the model does not have. */
  unexpected: string[];
  /** Present in both with different shapes (not copied). */
  shapeMismatch: { name: string; expected: number[]; got: number[] }[];
}

/**
 * Copies weights from a layers-model directory into `model`, matched by "layer/weight" name
 * (layer names follow the reference PyTorch modules, so an imported checkpoint lines up).
 * Nothing that does not match is copied; the report says what happened to every weight.
 */
export async function loadBackboneWeights(model: tf.LayersModel, dir: string): Promise<WeightsReport> {
  const json = readModelJson(dir);
  const { specs, data } = readShards(dir, json);
  const source = tf.io.decodeWeights(data, specs);
  const report: WeightsReport = { matched: [], missing: [], unexpected: [], shapeMismatch: [] };
  const used = new Set<string>();
  try {
    for (const w of model.weights) {
      const name = w.originalName;
      const t = source[name];
      if (!t) { report.missing.push(name); continue; }
      used.add(name);
      const expected = w.shape as number[];
      if (!tf.util.arraysEqual(expected, t.shape) || t.dtype !== w.dtype) {
        report.shapeMismatch.push({ name, expected, got: t.shape });
        continue;
      }
      w.write(t);
      report.matched.push(name);
    }
    report.unexpected = Object.keys(source).filter((n) => !used.has(n));
  } finally {
    tf.dispose(Object.values(source));
  }
  return report;
}
