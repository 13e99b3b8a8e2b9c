// The label hierarchy: dense class indices per level, sorted by the dataset's own ids, and the
// parent of each class at the next coarser level. A format describes its label "units" (a
// Herbarium category, a leaf directory), each with one key per level; this module turns them into
// LevelClasses and checks that the hierarchy is a tree.
import type { DatasetIndex, LevelClasses } from './types.ts';
import { UserError } from '../errors.ts';
import { compareIds } from './formats/paths.ts';

export interface LabelUnits {
  /** Per level, finest first: the class id of each unit (a name where the data has no id). */
  keys: (number | string)[][];
  /** Per level: the class name of each unit. */
  names: string[][];
}

export interface Hierarchy {
  levels: LevelClasses[];
  /** Per level: the dense class index of each unit. */
  unitClass: Int32Array[];
}

/**
 * Dense classes per level (sorted by id: numeric ids numerically, strings by code point) and the
 * parent links. Throws a UserError naming both parents when a class sits under two.
 */
export function buildHierarchy(levelNames: string[], units: LabelUnits, source: string): Hierarchy {
  const nUnits = units.keys[0]?.length ?? 0;
  const levels: LevelClasses[] = [];
  const unitClass: Int32Array[] = [];
  for (let l = 0; l < levelNames.length; l++) {
    const keys = units.keys[l];
    const firstUnit = new Map<number | string, number>();
    for (let u = 0; u < nUnits; u++) if (!firstUnit.has(keys[u])) firstUnit.set(keys[u], u);
    const ids = [...firstUnit.keys()].sort(compareIds);
    const dense = new Map<number | string, number>();
    ids.forEach((id, i) => dense.set(id, i));
    const cls = new Int32Array(nUnits);
    for (let u = 0; u < nUnits; u++) cls[u] = dense.get(keys[u])!;
    levels.push({ name: levelNames[l], ids, names: ids.map((id) => units.names[l][firstUnit.get(id)!]) });
    unitClass.push(cls);
  }
  for (let l = 0; l + 1 < levels.length; l++) {
    const parent = new Int32Array(levels[l].ids.length).fill(-1);
    const child = unitClass[l];
    const up = unitClass[l + 1];
    for (let u = 0; u < nUnits; u++) {
      const c = child[u];
      if (parent[c] === -1) parent[c] = up[u];
      else if (parent[c] !== up[u]) throw treeError(levels, l, c, parent[c], up[u], source);
    }
    levels[l].parent = parent;
  }
  return { levels, unitClass };
}

function treeError(levels: LevelClasses[], l: number, c: number, p1: number, p2: number, source: string): UserError {
  const lv = levels[l];
  const up = levels[l + 1];
  const label = (x: LevelClasses, i: number) =>
    String(x.ids[i]) === x.names[i] ? `'${x.names[i]}'` : `'${x.names[i]}' (id ${x.ids[i]})`;
  return new UserError(
    `${source}: ${lv.name} ${label(lv, c)} is under two ${up.name} classes, ${label(up, p1)} and ` +
      `${label(up, p2)}. The label hierarchy must be a tree (each class has one parent): check that ` +
      `data.levels lists the levels finest first (now: ${levels.map((x) => x.name).join(', ')}), ` +
      `or correct the metadata.`,
  );
}

/** Number of images per class of each level (labels -1 are not counted). */
export function classCounts(index: DatasetIndex): Int32Array[] {
  return index.levels.map((lv, l) => {
    const counts = new Int32Array(lv.ids.length);
    const labels = index.labels[l];
    for (let i = 0; i < labels.length; i++) if (labels[i] >= 0) counts[labels[i]]++;
    return counts;
  });
}

/**
 * Re-express `other` (a validation set given by path, or a test set) in the dense classes of
 * `train`, so one model's outputs index both. A labelled class that training lacks is a UserError.
 */
export function alignToTraining(train: DatasetIndex, other: DatasetIndex): DatasetIndex {
  const names = train.levels.map((l) => l.name).join(', ');
  const otherNames = other.levels.map((l) => l.name).join(', ');
  if (names !== otherNames) {
    throw new UserError(`${other.root}: levels (${otherNames}) differ from the training set's (${names}); both must be read with the same data.levels.`);
  }
  const labels = train.levels.map((lv, l) => {
    const dense = new Map<number | string, number>();
    lv.ids.forEach((id, i) => dense.set(id, i));
    const src = other.labels[l];
    const out = new Int32Array(src.length);
    const unknown = new Set<string>();
    for (let i = 0; i < src.length; i++) {
      if (src[i] < 0) { out[i] = -1; continue; }
      const id = other.levels[l].ids[src[i]];
      const d = dense.get(id);
      if (d === undefined) unknown.add(String(id));
      out[i] = d ?? -1;
    }
    if (unknown.size) {
      const first = [...unknown].slice(0, 5).join(', ');
      throw new UserError(
        `${other.root}: ${unknown.size} ${lv.name} class(es) do not occur in the training set ${train.root} (first: ${first}). ` +
          `A validation set can only hold classes the model is trained on; remove those images or add them to training.`,
      );
    }
    return out;
  });
  return { ...other, levels: train.levels, labels };
}
