// The classification head of the reference recipe: pool the backbone's feature map (global
// average, or average and max concatenated), an optional hidden dense layer with ReLU and
// dropout, then one linear layer per label level ("logits_species", "logits_genus", ...).
// Outputs are logits; losses apply log-softmax themselves so large logits stay finite.
import { tf } from './tf.ts';
import { layerSeed, sym } from './layers/blocks.ts';
import { SeededDropout } from './layers/dropout.ts';
import { UserError } from '../errors.ts';

type ST = tf.SymbolicTensor;

export type Pool = 'concat' | 'avg';

export interface HeadSpec {
  pool: Pool;
  /** Units of the hidden dense layer; 0 = none. */
  hidden: number;
  /** Dropout rate after the hidden layer (or after pooling when hidden = 0). */
  dropout: number;
}

export interface Level {
  name: string;
  numClasses: number;
}

const LEVEL_NAME = /^[A-Za-z][A-Za-z0-9_]*$/;


export function validateHead(spec: HeadSpec, levels: Level[]): void {
  if (spec.pool !== 'concat' && spec.pool !== 'avg') {
    throw new UserError(`model.head.pool '${spec.pool}' is not a pooling. Available: concat, avg`);
  }
  if (!Number.isInteger(spec.hidden) || spec.hidden < 0) {
    throw new UserError(`model.head.hidden must be a whole number >= 0 (0 = no hidden layer), got ${spec.hidden}`);
  }
  if (!(spec.dropout >= 0 && spec.dropout < 1)) {
    throw new UserError(`model.head.dropout must be in [0, 1), got ${spec.dropout}`);
  }
  if (levels.length === 0) throw new UserError('the model needs at least one label level to predict');
  const seen = new Set<string>();
  for (const l of levels) {
    if (!LEVEL_NAME.test(l.name)) {
      throw new UserError(`label level '${l.name}' cannot name a model output: use letters, digits and _ (e.g. species)`);
    }
    if (seen.has(l.name)) throw new UserError(`label level '${l.name}' appears twice`);
    seen.add(l.name);
    if (!Number.isInteger(l.numClasses) || l.numClasses < 1) {
      throw new UserError(`label level '${l.name}' has ${l.numClasses} classes; it needs at least 1`);
    }
  }
}

/** The output layer name of a level. */
export function logitsName(level: string): string {
  return `logits_${level}`;
}

/** Appends the head to a feature map [n,h,w,c]; returns one logits tensor per level, in order. */
export function buildHead(features: ST, spec: HeadSpec, levels: Level[], seed: number): ST[] {
  validateHead(spec, levels);
  const avg = sym(tf.layers.globalAveragePooling2d({ name: 'head.pool_avg' }), features);
  let x = avg;
  if (spec.pool === 'concat') {
    const max = sym(tf.layers.globalMaxPooling2d({ name: 'head.pool_max' }), features);
    x = sym(tf.layers.concatenate({ name: 'head.pool', axis: -1 }), [avg, max]);
  }
  if (spec.hidden > 0) {
    x = sym(tf.layers.dense({
      units: spec.hidden, activation: 'relu', name: 'head.fc',
      kernelInitializer: tf.initializers.heNormal({ seed: layerSeed(seed, 'head.fc') }),
    }), x);
  }
  if (spec.dropout > 0) {
    x = sym(new SeededDropout({ rate: spec.dropout, seed: layerSeed(seed, 'head.dropout'), name: 'head.dropout' }), x);
  }
  return levels.map((l) => {
    const name = logitsName(l.name);
    return sym(tf.layers.dense({
      units: l.numClasses, name,
      kernelInitializer: tf.initializers.glorotUniform({ seed: layerSeed(seed, name) }),
    }), x);
  });
}
