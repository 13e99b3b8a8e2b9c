// Typed command-line options: each command declares its options once (kind, default, help) in
// commands.ts, and parseCommandArgs turns argv into a typed object for the command's run(), or a
// usage error in the one style every command shares:
//   error: exp <command>: <what is wrong>[; did you mean --x?]
//   Usage: exp <command> <usage>
//   Example: <example>
// Node's util.parseArgs is not used: its messages ("Option '--x <value>' argument missing") cannot
// be reworded, and it has no integer, choice or did-you-mean support.
import { UserError } from '../errors.ts';
import { suggest } from '../config/didyoumean.ts';

type Kind = 'text' | 'list' | 'flag' | 'int' | 'number' | 'choice';

/** One option; `T` is the type the command receives (with the default applied). */
export interface Option<T> {
  kind: Kind;
  help: string;
  /** Placeholder in help and messages: --runs-dir DIR. */
  valueName?: string;
  /** The value when the option is absent (shown in --help unless `hideDefault`). */
  initial: T;
  /** Shown in --help as "(default ...)"; undefined: nothing shown. */
  defaultText?: string;
  /** A usage error when absent. */
  required?: boolean;
  min?: number;
  max?: number;
  choices?: readonly string[];
  /** Brand so Values<> can infer T. */
  readonly _type?: T;
}

export type Options = Record<string, Option<unknown>>;
export type Values<O extends Options> = { [K in keyof O]: O[K] extends Option<infer T> ? T : never };

interface ValueOpts<D> { valueName?: string; default?: D }

/** A string; `default` or `required` makes it always present. */
export function text(help: string, o: ValueOpts<string> & { default: string }): Option<string>;
export function text(help: string, o: ValueOpts<never> & { required: true }): Option<string>;
export function text(help: string, o?: ValueOpts<never>): Option<string | undefined>;
export function text(help: string, o: ValueOpts<string> & { required?: boolean } = {}): Option<string | undefined> {
  return { kind: 'text', help, valueName: o.valueName ?? 'VALUE', initial: o.default, defaultText: o.default, required: o.required };
}

/** Repeatable: every occurrence is kept, in order. */
export function list(help: string, valueName: string): Option<string[]> {
  return { kind: 'list', help: `${help}; repeatable`, valueName, initial: [] };
}

/** A switch without a value; false when absent. */
export function flag(help: string): Option<boolean> {
  return { kind: 'flag', help, initial: false };
}

interface Bounds { min?: number; max?: number }

/** A whole number within [min, max]. */
export function int(help: string, o: ValueOpts<number> & Bounds & { default: number }): Option<number>;
export function int(help: string, o?: ValueOpts<never> & Bounds): Option<number | undefined>;
export function int(help: string, o: ValueOpts<number> & Bounds = {}): Option<number | undefined> {
  return { kind: 'int', help, valueName: o.valueName ?? 'N', initial: o.default, defaultText: o.default?.toString(), min: o.min, max: o.max };
}

/** A finite number within [min, max]. */
export function number(help: string, o: ValueOpts<number> & Bounds & { default: number }): Option<number>;
export function number(help: string, o?: ValueOpts<never> & Bounds): Option<number | undefined>;
export function number(help: string, o: ValueOpts<number> & Bounds = {}): Option<number | undefined> {
  return { kind: 'number', help, valueName: o.valueName ?? 'X', initial: o.default, defaultText: o.default?.toString(), min: o.min, max: o.max };
}

/** One of a fixed set of names. */
export function choice<const C extends string>(help: string, choices: readonly C[], o: ValueOpts<C> & { default: C }): Option<C>;
export function choice<const C extends string>(help: string, choices: readonly C[], o?: ValueOpts<never>): Option<C | undefined>;
export function choice<const C extends string>(help: string, choices: readonly C[], o: ValueOpts<C> = {}): Option<C | undefined> {
  return { kind: 'choice', help: `${choices.join('|')}: ${help}`, valueName: o.valueName ?? 'NAME', initial: o.default, defaultText: o.default, choices };
}

/** What a command takes besides options. */
export interface Arity {
  min: number;
  /** Default: any number. */
  max?: number;
  /** Completes "exp <command> needs ...", e.g. "an experiment file" (when min > 0). */
  needs?: string;
  /** Options that stand in for the positionals (exp run --resume RUN). */
  unless?: string[];
}

/** Options of which at most one (and, when `required`, exactly one) may be given. */
export interface OneOf {
  options: string[];
  required?: string; // completes "needs ... (<required>)", e.g. "how to blend"
}

export interface Usage {
  name: string;
  usage: string;
  example: string;
  args: Arity;
  options: Options;
  oneOf?: OneOf[];
}

/** A usage mistake in the shared style (main.ts prefixes "error: "). */
export function usageError(spec: Pick<Usage, 'name' | 'usage' | 'example'>, message: string): UserError {
  const sep = /^(needs|takes) /.test(message) ? ' ' : ': ';
  return new UserError(`exp ${spec.name}${sep}${message}\nUsage: exp ${spec.name} ${spec.usage}\nExample: ${spec.example}`);
}

const flagName = (name: string) => `--${name}`;

function didYouMean(word: string, candidates: readonly string[], show: (c: string) => string): string {
  const near = suggest(word, candidates);
  return near ? `; did you mean ${show(near)}?` : '';
}

function parseValue(spec: Usage, name: string, o: Option<unknown>, raw: string): unknown {
  const bad = (expected: string) => usageError(spec, `--${name} ${raw}: expected ${expected}.`);
  const bounds = () => [o.min !== undefined ? `>= ${o.min}` : '', o.max !== undefined ? `<= ${o.max}` : ''].filter(Boolean).join(' and ');
  switch (o.kind) {
    case 'int': {
      const n = /^[+-]?\d+$/.test(raw.trim()) ? Number(raw) : NaN;
      if (!Number.isSafeInteger(n) || (o.min !== undefined && n < o.min) || (o.max !== undefined && n > o.max)) {
        throw bad(`a whole number${bounds() ? ` ${bounds()}` : ''}`);
      }
      return n;
    }
    case 'number': {
      const n = raw.trim() === '' ? NaN : Number(raw);
      if (!Number.isFinite(n) || (o.min !== undefined && n < o.min) || (o.max !== undefined && n > o.max)) {
        throw bad(`a number${bounds() ? ` ${bounds()}` : ''}`);
      }
      return n;
    }
    case 'choice':
      if (!o.choices!.includes(raw)) throw usageError(spec, `--${name} ${raw}: expected one of ${o.choices!.join(', ')}${didYouMean(raw, o.choices!, (c) => c) || '.'}`);
      return raw;
    default:
      return raw;
  }
}

/** A value that looks like a negative number is a value, not an option (--tolerance -1 is then refused by its bounds). */
const looksNumeric = (s: string) => /^-\d/.test(s);

/** argv after the command name -> positionals and typed values, or a usage error. */
export function parseCommandArgs<O extends Options>(spec: Usage & { options: O }, argv: string[]): { positionals: string[]; values: Values<O> } {
  const values: Record<string, unknown> = {};
  const given = new Set<string>();
  const positionals: string[] = [];
  const names = Object.keys(spec.options);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!a.startsWith('-') || a === '-' || looksNumeric(a)) {
      positionals.push(a);
      continue;
    }
    if (!a.startsWith('--')) {
      throw usageError(spec, `unknown option '${a}' (options are spelt out, e.g. --${names[0] ?? 'help'})${didYouMean(a.slice(1), names, flagName) || '.'}`);
    }
    const eq = a.indexOf('=');
    const name = eq < 0 ? a.slice(2) : a.slice(2, eq);
    const inline = eq < 0 ? undefined : a.slice(eq + 1);
    const o = spec.options[name];
    if (!o) {
      const near = didYouMean(name, names, flagName);
      throw usageError(spec, `unknown option '--${name}'${near || `; its options are ${names.map(flagName).join(', ')}.`}`);
    }
    given.add(name);
    if (o.kind === 'flag') {
      if (inline !== undefined) throw usageError(spec, `--${name} takes no value (got '${a}').`);
      values[name] = true;
      continue;
    }
    let raw = inline;
    if (raw === undefined) {
      const next = argv[i + 1];
      if (next === undefined || (next.startsWith('--') && next.length > 2)) throw usageError(spec, `--${name} needs a value: --${name} ${o.valueName}.`);
      raw = next;
      i++;
    }
    const v = parseValue(spec, name, o, raw);
    if (o.kind === 'list') values[name] = [...((values[name] as string[] | undefined) ?? []), v];
    else values[name] = v; // given twice: the last wins, as in most CLIs (scripts append overrides)
  }
  const { min, max, needs, unless = [] } = spec.args;
  if (positionals.length < min && !unless.some((n) => given.has(n))) {
    throw usageError(spec, `needs ${needs}${unless.length ? ` (or ${unless.map((n) => `--${n} ${spec.options[n].valueName}`).join(', or ')})` : ''}.`);
  }
  if (max !== undefined && positionals.length > max) {
    const extra = positionals.slice(max).map((p) => `'${p}'`).join(' ');
    const takes = max === 0 ? 'no arguments' : `at most ${max} argument${max === 1 ? '' : 's'}${needs ? ` (${needs})` : ''}`;
    throw usageError(spec, `takes ${takes}; unexpected ${extra}.`);
  }
  for (const [name, o] of Object.entries(spec.options)) {
    if (o.required && !given.has(name)) throw usageError(spec, `needs --${name} ${o.valueName} (${o.help.replace(/ \(required\)$/, '')}).`);
  }
  for (const g of spec.oneOf ?? []) {
    const present = g.options.filter((n) => given.has(n));
    if (present.length > 1) throw usageError(spec, `${present.map(flagName).join(' and ')} given together; choose one, not both.`);
    if (present.length === 0 && g.required) throw usageError(spec, `needs ${g.options.map(flagName).join(' or ')} (${g.required}).`);
  }
  for (const [name, o] of Object.entries(spec.options)) if (!(name in values)) values[name] = Array.isArray(o.initial) ? [...o.initial] : o.initial;
  return { positionals, values: values as Values<O> };
}

/** The "Options:" lines of a command's --help. */
export function optionHelp(options: Options): string[] {
  return Object.entries(options).map(([name, o]) => {
    const flag = `--${name}${o.kind === 'flag' ? '' : ` ${o.valueName}`}`;
    const dflt = o.defaultText !== undefined ? ` (default ${o.defaultText})` : '';
    return `  ${flag.padEnd(26)}${o.help}${dflt}`;
  });
}
