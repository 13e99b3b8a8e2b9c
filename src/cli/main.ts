// argv -> typed options -> a lazily imported command. The one place errors are caught and
// turned into exit codes: UserError 2 (a fixable mistake: short message, no stack trace),
// RunError 1, anything else 1 with a stack trace (a bug in exp).
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ExpError, UserError, formatProblem } from '../errors.ts';
import { COMMANDS, type CommandSpec } from './commands.ts';
import { EXP_VERSION } from './version.ts';

export async function main(argv: string[]): Promise<number> {
  try {
    return await dispatch(argv);
  } catch (err) {
    return report(err);
  }
}

async function dispatch(argv: string[]): Promise<number> {
  if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
    const topic = argv[0] === 'help' ? argv.slice(1).join(' ') : '';
    if (topic) return dispatch([...topic.split(' '), '--help']);
    process.stdout.write(globalHelp());
    return 0;
  }
  if (argv[0] === '--version' || argv[0] === '-V') {
    process.stdout.write(`exp ${EXP_VERSION}\n`);
    return 0;
  }
  // two-word commands: "data inspect", "weights import"
  const two = COMMANDS.find((c) => c.name === `${argv[0]} ${argv[1] ?? ''}`);
  const spec = two ?? COMMANDS.find((c) => c.name === argv[0]);
  if (!spec) {
    const group = COMMANDS.filter((c) => c.name.startsWith(`${argv[0]} `));
    if (group.length) {
      throw new UserError(
        `'exp ${argv[0]}' needs a subcommand: ${group.map((c) => c.name.split(' ')[1]).join(', ')}. ` +
          `Run 'exp ${group[0].name} --help' for an example.`,
      );
    }
    throw new UserError(`unknown command '${argv[0]}'. Commands: ${[...new Set(COMMANDS.map((c) => c.name.split(' ')[0]))].join(', ')}. Run 'exp --help'.`);
  }
  const rest = argv.slice(spec.name.split(' ').length);
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(commandHelp(spec));
    return 0;
  }
  let parsed;
  try {
    parsed = parseArgs({
      args: rest,
      options: spec.options as ParseArgsConfig['options'],
      allowPositionals: true,
      strict: true,
    });
  } catch (e) {
    throw new UserError(`exp ${spec.name}: ${(e as Error).message.replace(/^TypeError \[\w+\]: /, '')}. Run 'exp ${spec.name} --help'.`);
  }
  const { positionals, values } = parsed;
  if (positionals.length < spec.minArgs) {
    throw new UserError(`exp ${spec.name} needs ${spec.usage.replace(/^\S+( \S+)?/, '').trim() || 'arguments'}.\nUsage: exp ${spec.name} ${spec.usage}\nExample: ${spec.example}`);
  }
  const mod = await spec.load();
  return (await mod.run(positionals, values as Record<string, unknown>)) ?? 0;
}

function report(err: unknown): number {
  const debug = process.env.EXP_DEBUG === '1';
  if (err instanceof ExpError) {
    if (err instanceof UserError && err.problems.length && !err.message.includes(formatProblem(err.problems[0]))) {
      for (const p of err.problems) process.stderr.write(`${formatProblem(p)}\n`);
      const n = err.problems.filter((p) => p.severity !== 'warning').length;
      process.stderr.write(`${err.message || `${n} problem${n === 1 ? '' : 's'}`}\n`);
    } else {
      process.stderr.write(`error: ${err.message}\n`);
    }
    if (debug) process.stderr.write(`${err.stack}\n`);
    return err.exitCode;
  }
  process.stderr.write(`internal error (a bug in exp; please report it with EXP_DEBUG=1 output):\n${
    debug || !(err instanceof Error) ? String((err as Error)?.stack ?? err) : `${err.message}\n${err.stack?.split('\n').slice(1, 4).join('\n')}`
  }\n`);
  return 1;
}

function globalHelp(): string {
  const w = Math.max(...COMMANDS.map((c) => c.name.length)) + 2;
  return [
    `exp ${EXP_VERSION}: declarative, reproducible experiments for hierarchical image classification`,
    '',
    'Usage: exp <command> [options]',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(w)}${c.summary}`),
    '',
    "Run 'exp <command> --help' for a command's options and an example.",
    'Exit codes: 0 success, 1 run failure, 2 invalid input (config, arguments, data).',
    'Set EXP_DEBUG=1 to see stack traces.',
    '',
  ].join('\n');
}

function commandHelp(spec: CommandSpec): string {
  const opts = Object.entries(spec.options).map(([name, o]) => {
    const flag = `--${name}${o.type === 'string' ? ` ${o.valueName ?? 'VALUE'}` : ''}`;
    return `  ${flag.padEnd(26)}${o.help}${o.multiple ? ' (repeatable)' : ''}`;
  });
  return [
    `Usage: exp ${spec.name} ${spec.usage}`,
    '',
    spec.description ?? spec.summary,
    '',
    ...(opts.length ? ['Options:', ...opts, ''] : []),
    'Example:',
    `  ${spec.example}`,
    '',
  ].join('\n');
}
