// Where every config value came from. A SourceNode tree mirrors the config value tree: each node
// knows the file (or --set/--sweep argument) and line:col of its key and of its value. Merging
// layers merges these trees by the same rules as the values, so a value set in an `extends`
// parent still points into the parent, and a problem under a value that has no node of its own
// (a default, or a child of a --set value) points at the nearest ancestor that has one.
import type { Seg } from './schema.ts';

export interface Origin {
  /** Display name: a path relative to the working directory, or e.g. "--set train.epochs". */
  file: string;
  /** Absolute path of the file, when the origin is a file (relative data paths resolve against it). */
  abs?: string;
  line?: number; // 1-based
  col?: number; // 1-based
}

export interface SourceNode {
  key?: Origin;
  value?: Origin;
  children?: Map<string, SourceNode>;
}

/** A config value with its source tree: one file, one override, or several merged. */
export interface Layer {
  value: unknown;
  source: SourceNode;
}

export function isMap(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export type Anchor = 'value' | 'key';

/** The origin of the node at `path` (its key or its value), or of its nearest located ancestor. */
export function locate(root: SourceNode, path: readonly Seg[], anchor: Anchor = 'value'): Origin | undefined {
  let node: SourceNode | undefined = root;
  let best = root.value ?? root.key;
  for (let i = 0; i < path.length && node; i++) {
    node = node.children?.get(String(path[i]));
    if (!node) break;
    const here = i === path.length - 1 && anchor === 'key' ? node.key ?? node.value : node.value ?? node.key;
    best = here ?? best;
  }
  return best;
}

/** The node at `path`, creating empty nodes on the way (for overrides). */
export function nodeAt(root: SourceNode, path: readonly Seg[]): SourceNode {
  let node = root;
  for (const seg of path) {
    node.children ??= new Map();
    let next = node.children.get(String(seg));
    if (!next) {
      next = {};
      node.children.set(String(seg), next);
    }
    node = next;
  }
  return node;
}

/** Deep merge: maps merge key by key, anything else in `over` (lists included) replaces. */
export function mergeLayers(base: Layer, over: Layer): Layer {
  if (!isMap(base.value) || !isMap(over.value)) return over;
  const value: Record<string, unknown> = { ...base.value };
  const children = new Map(base.source.children ?? []);
  for (const [k, v] of Object.entries(over.value)) {
    const overNode = over.source.children?.get(k) ?? {};
    if (k in value) {
      const merged = mergeLayers({ value: value[k], source: children.get(k) ?? {} }, { value: v, source: overNode });
      value[k] = merged.value;
      children.set(k, merged.source);
    } else {
      value[k] = v;
      children.set(k, overNode);
    }
  }
  return { value, source: { key: over.source.key ?? base.source.key, value: over.source.value ?? base.source.value, children } };
}

/** "loss.weights.genus", "schedule.milestones[2]". */
export function formatPath(path: readonly Seg[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number' || /^\d+$/.test(seg)) out += `[${seg}]`;
    else out += out ? `.${seg}` : seg;
  }
  return out;
}
