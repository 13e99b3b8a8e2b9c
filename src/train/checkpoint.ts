// Checkpoints in the tfjs layers format (model.json + weights.bin, what tf.loadLayersModel reads)
// through our own IOHandler: tfjs' file:// handler lives in tfjs-node, which may be absent.
// A checkpoint directory:
//   model.json, weights.bin       the model (raw weights)
//   ema/model.json, ema/weights.bin  the averaged weights, when EMA is on (loadable on their own)
//   state.json, state.bin         what resume needs; typed arrays (optimizer slots) go to state.bin
//                                 and state.json refers to them by offset, so a 100 MB slot set is
//                                 not written as JSON text
// The directory is written whole into a sibling temp directory and then swapped in by renames, so
// a crash leaves either the previous checkpoint or the new one. If it dies between the two renames
// the previous one is left as `<dir>.old-*`, which loadCheckpoint falls back to.
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { tf } from '../model/tf.ts';
import { writeAtomic, writeJsonAtomic } from '../util/fs.ts';
import { RunError } from '../errors.ts';
import type { Ema } from '../model/ema.ts';

/** An IOHandler that saves to / loads from a directory on disk. */
export function dirHandler(dir: string): tf.io.IOHandler {
  return {
    async save(artifacts: tf.io.ModelArtifacts): Promise<tf.io.SaveResult> {
      const data = artifacts.weightData ?? new ArrayBuffer(0);
      const bytes = new Uint8Array(Array.isArray(data) ? tf.io.CompositeArrayBuffer.join(data) : data);
      writeAtomic(join(dir, 'weights.bin'), bytes);
      const modelJson: tf.io.ModelJSON = {
        modelTopology: artifacts.modelTopology as tf.io.ModelJSON['modelTopology'],
        weightsManifest: [{ paths: ['weights.bin'], weights: artifacts.weightSpecs ?? [] }],
        format: artifacts.format,
        generatedBy: artifacts.generatedBy,
        convertedBy: artifacts.convertedBy,
      };
      if (artifacts.trainingConfig) modelJson.trainingConfig = artifacts.trainingConfig;
      writeJsonAtomic(join(dir, 'model.json'), modelJson);
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
    },
    async load(): Promise<tf.io.ModelArtifacts> {
      const json = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8')) as tf.io.ModelJSON;
      const specs: tf.io.WeightsManifestEntry[] = [];
      const parts: Uint8Array[] = [];
      for (const group of json.weightsManifest) {
        specs.push(...group.weights);
        for (const p of group.paths) parts.push(readFileSync(join(dir, p)));
      }
      return {
        modelTopology: json.modelTopology,
        trainingConfig: json.trainingConfig,
        format: json.format,
        generatedBy: json.generatedBy,
        convertedBy: json.convertedBy,
        weightSpecs: specs,
        weightData: toArrayBuffer(Buffer.concat(parts)),
      };
    },
  };
}

function toArrayBuffer(b: Uint8Array): ArrayBuffer {
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
}

type Json = unknown;
type BinRef = { $array: 'float32' | 'int32' | 'uint32'; offset: number; length: number };

/** Replace typed arrays in a JSON-like value by references into one binary blob. */
function encodeState(value: Json): { json: Json; bin: Uint8Array } {
  const chunks: Uint8Array[] = [];
  let offset = 0;
  const walk = (v: Json): Json => {
    if (v instanceof Float32Array || v instanceof Int32Array || v instanceof Uint32Array) {
      const dtype = v instanceof Float32Array ? 'float32' : v instanceof Int32Array ? 'int32' : 'uint32';
      const ref: BinRef = { $array: dtype, offset, length: v.length };
      chunks.push(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
      offset += v.byteLength;
      return ref;
    }
    if (Array.isArray(v)) return v.map(walk);
    if (v && typeof v === 'object') {
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
    }
    return v;
  };
  const json = walk(value);
  return { json, bin: Buffer.concat(chunks) };
}

function decodeState(json: Json, bin: Uint8Array): Json {
  const walk = (v: Json): Json => {
    if (Array.isArray(v)) return v.map(walk);
    if (v && typeof v === 'object') {
      const r = v as BinRef;
      if (typeof r.$array === 'string') {
        // copy into fresh, aligned memory (a Buffer's slice would be an unaligned view)
        const bytes = new Uint8Array(r.length * 4);
        bytes.set(bin.subarray(r.offset, r.offset + r.length * 4));
        const C = r.$array === 'float32' ? Float32Array : r.$array === 'int32' ? Int32Array : Uint32Array;
        return new C(bytes.buffer, bytes.byteOffset, r.length);
      }
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
    }
    return v;
  };
  return walk(json);
}

/** Write model (+ EMA weights) + state (none when undefined) into `dir`, replacing what was there as one unit. */
export async function saveCheckpoint(
  dir: string,
  model: tf.LayersModel,
  state: Json,
  opts: { ema?: Ema } = {},
): Promise<void> {
  mkdirSync(dirname(dir), { recursive: true });
  const tmp = `${dir}.tmp-${randomBytes(3).toString('hex')}`;
  try {
    await model.save(dirHandler(tmp));
    if (opts.ema) await opts.ema.withAveraged(() => model.save(dirHandler(join(tmp, 'ema'))));
    if (state !== undefined) {
      const { json, bin } = encodeState(state);
      writeAtomic(join(tmp, 'state.bin'), bin);
      writeJsonAtomic(join(tmp, 'state.json'), json);
    }
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  const old = `${dir}.old-${randomBytes(3).toString('hex')}`;
  if (existsSync(dir)) renameSync(dir, old);
  renameSync(tmp, dir);
  rmSync(old, { recursive: true, force: true });
}

/** The checkpoint directory to read: `dir`, or the newest `<dir>.old-*` left by a crash. */
function resolveDir(dir: string): string {
  if (existsSync(join(dir, 'state.json')) || existsSync(join(dir, 'model.json'))) return dir;
  const parent = dirname(dir);
  const prefix = `${basename(dir)}.old-`;
  const olds = existsSync(parent)
    ? readdirSync(parent)
        .filter((n) => n.startsWith(prefix) && existsSync(join(parent, n, 'model.json')))
        .map((n) => join(parent, n))
        .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)
    : [];
  if (olds.length) return olds[0];
  throw new RunError(`no checkpoint in ${dir} (model.json missing); the run has not finished an epoch yet`);
}

/** Weights of a saved model by name, as Float32Arrays (used to restore the EMA shadow). */
async function readWeights(dir: string): Promise<Record<string, Float32Array>> {
  const art = await dirHandler(dir).load!();
  const out: Record<string, Float32Array> = {};
  const tensors = tf.io.decodeWeights(art.weightData!, art.weightSpecs!);
  for (const [k, t] of Object.entries(tensors)) {
    out[k] = Float32Array.from(t.dataSync() as ArrayLike<number>);
    t.dispose();
  }
  return out;
}

export interface LoadedCheckpoint<S = Json> {
  model: tf.LayersModel;
  /** The state saved beside the model; undefined for a checkpoint without state.json (best/). */
  state: S | undefined;
  /** The EMA weights by name, when the checkpoint has an ema/ folder. */
  emaWeights?: Record<string, Float32Array>;
  dir: string;
}

export async function loadCheckpoint<S = Json>(dir0: string): Promise<LoadedCheckpoint<S>> {
  const dir = resolveDir(dir0);
  const model = await tf.loadLayersModel(dirHandler(dir));
  let state: S | undefined;
  if (existsSync(join(dir, 'state.json'))) {
    const json = JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as Json;
    const binPath = join(dir, 'state.bin');
    state = decodeState(json, existsSync(binPath) ? readFileSync(binPath) : new Uint8Array(0)) as S;
  }
  const emaDir = join(dir, 'ema');
  const emaWeights = existsSync(join(emaDir, 'model.json')) ? await readWeights(emaDir) : undefined;
  return { model, state, emaWeights, dir };
}
