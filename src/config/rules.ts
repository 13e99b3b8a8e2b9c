// Semantic rules: what the schema cannot say. Each rule is a small pure function from the
// validated (defaulted) config to problems at config paths; validate.ts locates them in the files.
import type { ExperimentConfig } from './types.gen.ts';
import { checkKeyPath, type Seg } from './schema.ts';
import type { Anchor } from './source.ts';
import { splitKey } from './overrides.ts';
import { suggest, unknownKeyMessage } from '../util/didyoumean.ts';

export interface RuleProblem {
  path: Seg[];
  message: string;
  severity?: 'error' | 'warning';
  anchor?: Anchor; // 'key' points at the key (e.g. a misnamed map key), default the value
}

export interface Rule {
  name: string;
  /** Dotted config paths the rule reads; it is skipped when the schema rejected any of them. */
  reads: string[];
  check(config: ExperimentConfig): RuleProblem[];
}

const levelWeights: Rule = {
  name: 'level weights name declared levels',
  reads: ['data.levels', 'loss.weights', 'decode.hierarchical.weights'],
  check(c) {
    const out: RuleProblem[] = [];
    const levels = c.data.levels;
    const maps: Array<[Seg[], Record<string, number>]> = [
      [['loss', 'weights'], c.loss.weights],
      [['decode', 'hierarchical', 'weights'], c.decode.hierarchical.weights],
    ];
    for (const [path, weights] of maps) {
      for (const level of Object.keys(weights)) {
        if (levels.includes(level)) continue;
        const near = suggest(level, levels);
        out.push({
          path: [...path, level],
          anchor: 'key',
          message: `weight for undeclared level '${level}'${near ? `; did you mean '${near}'?` : ''} (data.levels: ${levels.join(', ')})`,
        });
      }
    }
    return out;
  },
};

const milestones: Rule = {
  name: 'milestones increase and fall within the epochs',
  reads: ['schedule', 'train.epochs'],
  check(c) {
    const out: RuleProblem[] = [];
    const m = c.schedule.milestones;
    const epochs = c.train.epochs;
    m.forEach((v, i) => {
      if (i > 0 && v <= m[i - 1]) {
        out.push({ path: ['schedule', 'milestones', i], message: `milestones must be strictly increasing: ${v} comes after ${m[i - 1]}` });
      } else if (v >= epochs) {
        out.push({
          path: ['schedule', 'milestones', i],
          severity: 'warning',
          message: `milestone ${v} is not below train.epochs (${epochs}), so it never takes effect`,
        });
      }
    });
    if (m.length > 0 && c.schedule.type !== 'step') {
      out.push({ path: ['schedule', 'milestones'], severity: 'warning', message: `milestones are used only by schedule type 'step', not '${c.schedule.type}'` });
    }
    if (c.schedule.warmup_epochs >= epochs) {
      out.push({ path: ['schedule', 'warmup_epochs'], severity: 'warning', message: `warmup (${c.schedule.warmup_epochs} epochs) lasts the whole run (train.epochs = ${epochs})` });
    }
    return out;
  },
};

const validationSplit: Rule = {
  name: 'validation split is a fraction or a path',
  reads: ['data.val'],
  check(c) {
    const { fraction, path } = c.data.val;
    if (fraction !== null && path !== null) {
      return [{
        path: ['data', 'val', 'path'],
        anchor: 'key',
        message: 'data.val.fraction and data.val.path are exclusive: a validation directory replaces the random split; remove fraction (or set it to null)',
      }];
    }
    if (fraction === null && path === null) {
      return [{ path: ['data', 'val', 'fraction'], message: 'data.val needs a fraction (e.g. 0.2) or a path to a validation directory' }];
    }
    return [];
  },
};

const imageGeometry: Rule = {
  name: 'crop fits in the resized image',
  reads: ['data.image'],
  check(c) {
    const { size, resize } = c.data.image;
    if (size <= resize) return [];
    return [{ path: ['data', 'image', 'size'], message: `crop size ${size} is larger than the resized image (data.image.resize: ${resize}); make size <= resize` }];
  },
};

const crops: Rule = {
  name: 'one kind of random crop',
  reads: ['augment.random_crop', 'augment.random_resized_crop'],
  check(c) {
    const out: RuleProblem[] = [];
    const rrc = c.augment.random_resized_crop;
    if (rrc.enabled && c.augment.random_crop) {
      out.push({ path: ['augment', 'random_crop'], message: 'random_crop and random_resized_crop are exclusive; set random_crop: false (or disable random_resized_crop)' });
    }
    if (rrc.scale[0] > rrc.scale[1]) {
      out.push({ path: ['augment', 'random_resized_crop', 'scale'], message: `scale is [min, max]: ${rrc.scale[0]} > ${rrc.scale[1]}` });
    }
    return out;
  },
};

const optimizerPhases: Rule = {
  name: 'optimizer phases and cycle',
  reads: ['optimizer', 'train.epochs'],
  check(c) {
    const out: RuleProblem[] = [];
    const { phases, cycle } = c.optimizer;
    const epochs = c.train.epochs;
    if (phases.length > 0 && cycle !== null) {
      out.push({ path: ['optimizer', 'cycle'], anchor: 'key', message: 'optimizer.phases and optimizer.cycle are exclusive; use one' });
    }
    const end = (to: number | null): number => to ?? epochs;
    phases.forEach((p, i) => {
      if (p.from_epoch >= epochs) {
        out.push({ path: ['optimizer', 'phases', i, 'from_epoch'], message: `phase starts at epoch ${p.from_epoch}, after the last epoch (train.epochs: ${epochs}, counted from 0)` });
      }
      if (p.to_epoch !== null && p.to_epoch <= p.from_epoch) {
        out.push({ path: ['optimizer', 'phases', i, 'to_epoch'], message: `to_epoch (${p.to_epoch}) must be greater than from_epoch (${p.from_epoch}); the range is [from_epoch, to_epoch)` });
      } else if (p.to_epoch !== null && p.to_epoch > epochs) {
        out.push({ path: ['optimizer', 'phases', i, 'to_epoch'], message: `to_epoch (${p.to_epoch}) is past train.epochs (${epochs}); use null for "to the end"` });
      }
    });
    const order = phases.map((p, i) => ({ p, i })).sort((a, b) => a.p.from_epoch - b.p.from_epoch || a.i - b.i);
    for (let k = 1; k < order.length; k++) {
      const prev = order[k - 1];
      const cur = order[k];
      if (cur.p.from_epoch < end(prev.p.to_epoch)) {
        const range = `[${prev.p.from_epoch}, ${prev.p.to_epoch ?? 'end'})`;
        out.push({ path: ['optimizer', 'phases', cur.i, 'from_epoch'], message: `phase overlaps phase ${prev.i} (epochs ${range}); phases must not overlap` });
      }
    }
    if (cycle && cycle.every >= epochs && cycle.optimizers.length > 1) {
      out.push({ path: ['optimizer', 'cycle', 'every'], severity: 'warning', message: `cycle.every (${cycle.every}) >= train.epochs (${epochs}): only the first optimizer ever runs` });
    }
    return out;
  },
};

const sweepKeys: Rule = {
  name: 'sweep grid keys exist',
  reads: ['sweep'],
  check(c) {
    const out: RuleProblem[] = [];
    for (const key of Object.keys(c.sweep?.grid ?? {})) {
      const path = splitKey(key);
      const check = checkKeyPath(path);
      if (!check.ok) {
        out.push({ path: ['sweep', 'grid', key], anchor: 'key', message: `${unknownKeyMessage(String(path[check.index]), check.allowed)} (in sweep key '${key}')` });
      } else if (path[0] === 'sweep' || path[0] === 'name' || path[0] === 'extends') {
        out.push({ path: ['sweep', 'grid', key], anchor: 'key', message: `'${key}' cannot be swept` });
      }
    }
    return out;
  },
};

const hierarchy: Rule = {
  name: 'hierarchical decoding needs levels',
  reads: ['decode.hierarchical.enabled', 'data.levels'],
  check(c) {
    if (c.decode.hierarchical.enabled && c.data.levels.length < 2) {
      return [{ path: ['decode', 'hierarchical', 'enabled'], severity: 'warning', message: 'hierarchical decoding needs at least two data.levels; with one it changes nothing' }];
    }
    return [];
  },
};

export const RULES: readonly Rule[] = [levelWeights, milestones, validationSplit, imageGeometry, crops, optimizerPhases, sweepKeys, hierarchy];
