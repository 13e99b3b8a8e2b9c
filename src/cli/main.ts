// argv -> a command and its typed options -> the lazily imported command. The one place errors
// are caught and turned into exit codes: an ExpError exits with its own code (UserError 2: a
// fixable mistake, short message, no stack trace; RunError 1; InterruptedError 128 + the signal),
// anything else 1 with a stack trace (a bug in exp).
import { ExpError, UserError } from '../errors.ts';
import { suggest } from '../util/didyoumean.ts';
import { optionHelp, parseCommandArgs } from './args.ts';
import { COMMANDS, type CommandSpec } from './commands.ts';
import { EXP_VERSION } from './version.ts';

export async function main(argv: string[]): Promise<number> {
  endQuietlyOnClosedPipes();
  try {
    return await dispatch(argv);
  } catch (err) {
    return report(err);
  }
}

const isHelp = (a: string | undefined) => a === '--help' || a === '-h';
/** First words: "run", and "data" for "data inspect" / "data synth". */
const heads = () => [...new Set(COMMANDS.map((c) => c.name.split(' ')[0]))];

async function dispatch(argv: string[]): Promise<number> {
  if (argv.length === 0 || isHelp(argv[0]) || argv[0] === 'help') {
    const topic = argv[0] === 'help' ? argv.slice(1) : [];
    if (topic.length) return dispatch([...topic, '--help']);
    process.stdout.write(globalHelp());
    return 0;
  }
  if (argv[0] === '--version' || argv[0] === '-V') {
    process.stdout.write(`exp ${EXP_VERSION}\n`);
    return 0;
  }
  // two-word commands: "data inspect", "weights import"
  const spec = COMMANDS.find((c) => c.name === `${argv[0]} ${argv[1] ?? ''}`) ?? COMMANDS.find((c) => c.name === argv[0]);
  if (!spec) return unknownCommand(argv);
  const rest = argv.slice(spec.name.split(' ').length);
  if (rest.some(isHelp)) {
    process.stdout.write(commandHelp(spec));
    return 0;
  }
  const { positionals, values } = parseCommandArgs(spec, rest);
  const mod = await spec.load();
  return (await mod.run(positionals, values)) ?? 0;
}

/** A group name alone ("exp data"), a misspelt subcommand ("exp data inspct") or command ("exp rn"). */
function unknownCommand(argv: string[]): number {
  const group = COMMANDS.filter((c) => c.name.startsWith(`${argv[0]} `));
  if (group.length) {
    const subs = group.map((c) => c.name.split(' ')[1]);
    const sub = argv[1];
    if (isHelp(sub)) {
      process.stdout.write(groupHelp(argv[0], group));
      return 0;
    }
    if (sub === undefined || sub.startsWith('-')) {
      throw new UserError(`'exp ${argv[0]}' needs a subcommand: ${subs.join(', ')}.\nRun 'exp ${argv[0]} --help' for what each does.`);
    }
    const near = suggest(sub, subs);
    throw new UserError(`unknown command 'exp ${argv[0]} ${sub}'${near ? `; did you mean 'exp ${argv[0]} ${near}'?` : `; 'exp ${argv[0]}' has: ${subs.join(', ')}.`}\n` +
      `Run 'exp ${argv[0]} --help' for what each does.`);
  }
  const near = suggest(argv[0], heads());
  throw new UserError(`unknown command '${argv[0]}'${near ? `; did you mean '${near}'?` : `. Commands: ${heads().join(', ')}.`}\nRun 'exp --help' for what each does.`);
}

function report(err: unknown): number {
  const debug = process.env.EXP_DEBUG === '1';
  if (err instanceof ExpError) {
    // The message is the whole text the user reads: errors that carry located problems (a
    // UserError's `problems`) already list them in it; `problems` is for programs, not printed again.
    process.stderr.write(`error: ${err.message}\n`);
    if (debug) process.stderr.write(`${err.stack}\n`);
    return err.exitCode;
  }
  process.stderr.write(`internal error (a bug in exp; please report it with EXP_DEBUG=1 output):\n${
    debug || !(err instanceof Error) ? String((err as Error)?.stack ?? err) : `${err.message}\n${err.stack?.split('\n').slice(1, 4).join('\n')}`
  }\n`);
  return 1;
}

let pipesGuarded = false;

/**
 * `exp ls | head`: once the reader has gone, further output is dropped instead of crashing with
 * "write EPIPE". The command still ends as it would have (a run still completes its record, and
 * the exit code is its own), so nothing is left half-written because the output was cut short.
 */
function endQuietlyOnClosedPipes(): void {
  if (pipesGuarded) return;
  pipesGuarded = true;
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE') throw err;
    });
  }
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
    'Exit codes: 0 success, 1 run failure, 2 invalid input (config, arguments, data), 128 + the signal when interrupted',
    '(130 SIGINT, 143 SIGTERM, 129 SIGHUP), 140 preempted (SIGUSR2: model/last saved at the step reached).',
    'Set EXP_DEBUG=1 to see stack traces.',
    '',
  ].join('\n');
}

function groupHelp(head: string, group: CommandSpec[]): string {
  const w = Math.max(...group.map((c) => c.name.length)) + 2;
  return [
    `Usage: exp ${head} <${group.map((c) => c.name.split(' ')[1]).join('|')}> ...`,
    '',
    'Commands:',
    ...group.map((c) => `  ${c.name.padEnd(w)}${c.summary}`),
    '',
    `Run 'exp ${head} <command> --help' for its options and an example.`,
    '',
  ].join('\n');
}

export function commandHelp(spec: CommandSpec): string {
  const opts = optionHelp(spec.options);
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
