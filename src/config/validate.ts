// The pure core of validation: raw merged config + source tree -> {config, warnings, errors}.
// Steps: expand shorthands and implied values (normalize.ts), ajv against the schema with
// defaults applied and all errors collected, then the semantic rules (rules.ts). Every problem is
// located through the source tree, so it points at the YAML node (or --set argument) it is about.
// Throws nothing for user mistakes.
import { Ajv2020, type ErrorObject, type Options, type ValidateFunction } from 'ajv/dist/2020.js';
import type { Problem } from '../errors.ts';
import type { ExperimentConfig } from './types.gen.ts';
import { resolvedSchema, ANNOTATIONS, schemaAt, type SchemaNode, allowedKeys, orderBySchema, type Seg } from './schema.ts';
import { isMap, locate, formatPath, type Anchor, type SourceNode } from './source.ts';
import { expandShorthands, fillImplied } from './normalize.ts';
import { getAtPath } from './overrides.ts';
import { unknownKeyMessage, suggest } from './didyoumean.ts';
import { RULES, type Rule, type RuleProblem } from './rules.ts';

export interface ValidationResult {
  /** The fully defaulted config, or null when there is any error. */
  config: ExperimentConfig | null;
  warnings: Problem[];
  errors: Problem[];
}

/** ajv as exp uses it: every error, defaults filled in, strict about the schema itself. */
export function newAjv(options: Options = {}): Ajv2020 {
  // allowUnionTypes: the schema says "string or null" as type: [string, null] rather than with
  // anyOf, because ajv applies no defaults inside anyOf/oneOf.
  const ajv = new Ajv2020({ allErrors: true, useDefaults: true, strict: true, allowUnionTypes: true, ...options });
  for (const keyword of ANNOTATIONS) ajv.addKeyword({ keyword, schemaType: ['string', 'array'] });
  return ajv;
}

let validator: ValidateFunction | undefined;
function compiled(): ValidateFunction {
  // The schema of the loaded config: shorthands are expanded and `extends` merged by now.
  validator ??= newAjv().compile(resolvedSchema());
  return validator;
}

export function validateConfig(raw: unknown, source: SourceNode = {}, rules: readonly Rule[] = RULES): ValidationResult {
  const problem = (path: Seg[], message: string, severity: 'error' | 'warning' = 'error', anchor: Anchor = 'value', at: Seg[] = path): Problem => {
    const o = locate(source, at, anchor);
    return { file: o?.file, line: o?.line, col: o?.col, path: formatPath(path) || undefined, message, severity };
  };
  if (!isMap(raw)) {
    const message = raw === null || raw === undefined
      ? 'the file is empty; an experiment is a map of keys and needs at least name, data.format and data.train'
      : `an experiment file is a map of keys (name, data, ...), not ${describe(raw)}`;
    return { config: null, warnings: [], errors: [problem([], message)] };
  }
  const input = structuredClone(raw);
  expandShorthands(input);
  fillImplied(input);
  const validate = compiled();
  const errors: Problem[] = [];
  const badPaths: string[] = [];
  if (!validate(input)) {
    const seen = new Set<string>();
    for (const e of validate.errors ?? []) {
      const mapped = fromAjv(e, input);
      if (!mapped) continue;
      const p = problem(mapped.path, mapped.message, 'error', mapped.anchor, mapped.at);
      const id = `${p.path}\u0000${p.message}`;
      if (seen.has(id)) continue;
      seen.add(id);
      errors.push(p);
      badPaths.push(p.path ?? '');
    }
  }
  const config = orderBySchema(input) as ExperimentConfig;
  const warnings: Problem[] = [];
  for (const rule of rules) {
    // A rule reading a value the schema rejected would only add noise (or trip over it).
    if (badPaths.some((b) => rule.reads.some((r) => overlaps(b, r)))) continue;
    let found: RuleProblem[];
    try {
      found = rule.check(config);
    } catch (e) {
      // A rule may trip over a value the schema already rejected; those problems are reported.
      if (errors.length > 0) continue;
      throw e;
    }
    for (const r of found) {
      const p = problem(r.path, r.message, r.severity ?? 'error', r.anchor);
      (p.severity === 'warning' ? warnings : errors).push(p);
    }
  }
  return { config: errors.length ? null : config, warnings, errors };
}

function overlaps(a: string, b: string): boolean {
  return a === b || a.startsWith(`${b}.`) || a.startsWith(`${b}[`) || b.startsWith(`${a}.`) || b.startsWith(`${a}[`);
}

const TYPE_WORDS: Record<string, string> = {
  string: 'a string', integer: 'an integer', number: 'a number', boolean: 'true or false',
  object: 'a map', array: 'a list', null: 'null',
};

/** The schema's own words for a pattern ("Use ...", which editors show too), as "use ...". */
function patternWords(node: SchemaNode | undefined, pattern: string): string {
  const words = typeof node?.patternErrorMessage === 'string' ? node.patternErrorMessage.replace(/\.$/, '') : '';
  return words ? words.charAt(0).toLowerCase() + words.slice(1) : `use the pattern ${pattern}`;
}

export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a map';
  if (typeof v === 'string') return `'${v.length > 40 ? `${v.slice(0, 40)}...` : v}'`;
  return String(v);
}

function firstSentence(s: string | undefined): string {
  if (!s) return '';
  const m = /^(.*?\.)(\s|$)/.exec(s);
  return m ? m[1] : s;
}

/** A schema error as a problem at `path`, located at `at` (default `path`). */
function fromAjv(e: ErrorObject, input: unknown): { path: Seg[]; message: string; anchor?: Anchor; at?: Seg[] } | undefined {
  const path: Seg[] = e.instancePath === '' ? [] : e.instancePath.split('/').slice(1).map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
  const value = getAtPath(input, path);
  const p = e.params as Record<string, any>;
  switch (e.keyword) {
    case 'if':
      return undefined; // its `then` error says it better
    case 'required': {
      const child = schemaAt([...path, p.missingProperty]);
      const what = child?.enum ? `one of ${child.enum.join(', ')}` : firstSentence(child?.description);
      return { path: [...path, p.missingProperty], message: `missing required key '${p.missingProperty}'${what ? ` (${what})` : ''}`, anchor: 'key', at: path };
    }
    case 'additionalProperties': {
      const node = schemaAt(path);
      return { path: [...path, p.additionalProperty], message: unknownKeyMessage(p.additionalProperty, node ? allowedKeys(node) : []), anchor: 'key' };
    }
    case 'type': {
      const want = String(p.type).split(',').map((t) => TYPE_WORDS[t] ?? t).join(' or ');
      // A map that a file may also write as a shorthand says so (the editor accepts those too).
      const short = schemaAt(path)?.['x-shorthand']?.map((h) => String(h.value));
      const also = short ? ` (or the shorthand ${short.slice(0, -1).join(', ')} or ${short[short.length - 1]})` : '';
      return { path, message: `must be ${want}${also}, not ${describe(value)}` };
    }
    case 'enum': {
      const allowedValues = (p.allowedValues as unknown[]).map(String);
      const near = typeof value === 'string' ? suggest(value, allowedValues) : undefined;
      const extra = e.schemaPath.includes('/then/') ? ' (or a map with mean and std)' : '';
      return { path, message: `${describe(value)} is not allowed; expected one of: ${allowedValues.join(', ')}${extra}${near ? `; did you mean '${near}'?` : ''}` };
    }
    case 'minimum': case 'maximum': case 'exclusiveMinimum': case 'exclusiveMaximum':
      return { path, message: `must be ${p.comparison} ${p.limit}, not ${describe(value)}` };
    case 'minItems':
      return { path, message: `must have at least ${p.limit} item${p.limit === 1 ? '' : 's'}${Array.isArray(value) ? `, not ${value.length}` : ''}` };
    case 'maxItems':
      return { path, message: `must have at most ${p.limit} items${Array.isArray(value) ? `, not ${value.length}` : ''}` };
    case 'minLength':
      return { path, message: 'must not be empty' };
    case 'pattern':
      return { path, message: `${describe(value)} is not valid here: ${patternWords(schemaAt(path), p.pattern)}` };
    case 'uniqueItems': {
      const [first, dup] = [Math.min(p.i, p.j), Math.max(p.i, p.j)];
      const item = Array.isArray(value) ? value[dup] : undefined;
      return { path: [...path, dup], message: `duplicate item ${describe(item)}: the same as ${formatPath([...path, first])}` };
    }
    default:
      return { path, message: e.message ?? `fails ${e.keyword}` };
  }
}
