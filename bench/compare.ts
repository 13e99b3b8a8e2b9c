// exp compare over many runs: generates N small but real run records (createRun, history.jsonl,
// metrics.json, predictions with index.json and top-5 .npy; see test/runs/compare-fixture.ts),
// then times the whole command as a user runs it, node start-up included, and the in-process
// work alone. Also traces which packages the command path resolves: it must not load tfjs,
// sharp, ajv's schema compiler, simple-git or listr2.
//
//   node --import tsx bench/compare.ts [--runs 200] [--examples 200] [--classes 50] [--epochs 10] [--reps 3]
//
// Prints a markdown table.
import { existsSync, mkdtempSync, rmSync, readFileSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir, cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { COMMANDS } from '../src/cli/commands.ts';
import { compareRuns } from '../src/runs/compare/load.ts';
import { makeRun, synthPredictions } from '../test/runs/compare/fixture.ts';

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : dflt;
}
const N = Number(arg('runs', '200'));
const examples = Number(arg('examples', '200'));
const C = Number(arg('classes', '50'));
const epochs = Number(arg('epochs', '10'));
const reps = Number(arg('reps', '3'));
const root = mkdtempSync(join(tmpdir(), 'exp-bench-compare-'));
const runsDir = join(root, 'runs');
const repo = process.cwd();

const classes = Array.from({ length: C }, (_x, i) => i);
let t = performance.now();
for (let i = 0; i < N; i++) {
  const p = synthPredictions(examples, C, 0.4 + 0.3 * ((i * 37) % 100) / 100, i + 1);
  await makeRun(runsDir, {
    name: `point-${i % 10}`, ...p, classes, tta: [1, 4], seed: i % 3,
    config: { seed: i % 3, optimizer: { lr: 0.001 * (1 + (i % 5)) }, augment: { color_jitter: { enabled: i % 2 === 1 } } },
    epochs: Array.from({ length: epochs }, (_x, e) => ({ f1: Math.min(1, 0.05 * (e + 1) + 0.001 * i), loss: 3 / (e + 1) })),
    now: new Date(Date.UTC(2026, 0, 1) + i * 1000),
  });
}
const genSeconds = (performance.now() - t) / 1000;

// The command line: bin/exp.js once commands.ts lists compare; until then the same main() with the
// compare entry added (identical start-up: tsx, main, the command table, a lazy import).
const registered = COMMANDS.some((c) => c.name === 'compare');
const wrapper = join(root, 'exp-with-compare.mjs');
writeFileSync(wrapper, `
import { COMMANDS } from ${JSON.stringify(join(repo, 'src/cli/commands.ts'))};
import { main } from ${JSON.stringify(join(repo, 'src/cli/main.ts'))};
const s = { type: 'string', help: '' };
if (!COMMANDS.some((c) => c.name === 'compare')) COMMANDS.push({ name: 'compare', usage: '<run>...', summary: '', example: '', minArgs: 1,
  options: { baseline: s, format: s, html: s, split: s, level: s, 'runs-dir': s },
  load: () => import(${JSON.stringify(join(repo, 'src/cli/commands/compare.ts'))}) });
process.exitCode = await main(process.argv.slice(2));
`);
const cli = registered ? [join(repo, 'bin/exp.js')] : ['--import', 'tsx', wrapper];

// GNU time gives the CPU seconds too: on a shared, loaded machine wall time overstates the cost.
const gnuTime = existsSync('/usr/bin/time') ? '/usr/bin/time' : null;
const cpuFile = join(root, 'cpu.txt');
function timeCli(args: string[], extraNode: string[] = []): { seconds: number; cpu: number | null; out: string } {
  const t0 = performance.now();
  const cmd = [process.execPath, ...extraNode, ...cli, ...args];
  const r = gnuTime ? spawnSync(gnuTime, ['-f', '%U %S', '-o', cpuFile, ...cmd], { encoding: 'utf8', maxBuffer: 256 << 20, cwd: repo })
    : spawnSync(cmd[0], cmd.slice(1), { encoding: 'utf8', maxBuffer: 256 << 20, cwd: repo });
  const seconds = (performance.now() - t0) / 1000;
  if (r.status !== 0) throw new Error(`exp ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  const cpu = gnuTime ? readFileSync(cpuFile, 'utf8').trim().split('\n').at(-1)!.split(' ').map(Number).reduce((a, b) => a + b, 0) : null;
  return { seconds, cpu, out: r.stdout };
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
function timed(args: string[]): [number, number | null] {
  const runs = Array.from({ length: reps }, () => timeCli(args));
  return [median(runs.map((x) => x.seconds)), runs[0].cpu === null ? null : median(runs.map((x) => x.cpu!))];
}

const glob = `${runsDir}/*`;
const rows: [string, number, number | null][] = [];
rows.push(['node start-up: `exp compare --help` (tsx, command table)', ...timed(['compare', '--help'])]);
for (const fmt of ['table', 'json']) rows.push([`\`exp compare "runs/*" --format ${fmt}\``, ...timed(['compare', glob, '--format', fmt])]);
rows.push(['`exp compare "runs/*" --html FILE`', ...timed(['compare', glob, '--html', join(root, 'compare.html')])]);
const inproc: number[] = [];
const inprocCpu: number[] = [];
for (let i = 0; i < reps; i++) {
  t = performance.now();
  const c0 = process.cpuUsage();
  await compareRuns([glob], {});
  const c1 = process.cpuUsage(c0);
  inproc.push((performance.now() - t) / 1000);
  inprocCpu.push((c1.user + c1.system) / 1e6);
}
rows.push([`in-process \`compareRuns\` (read ${N} records; one shared bootstrap of 1000 resamples for ${N - 1} same-seed pairs, McNemar; headline effects, per-class changes, confusions)`, median(inproc), median(inprocCpu)]);

// Import trace: every module URL the command resolves, through a resolve hook chained after tsx's.
const traceFile = join(root, 'trace.txt');
const hook = join(root, 'trace-hook.mjs');
writeFileSync(hook, `import { appendFileSync } from 'node:fs';
export async function resolve(s, c, next) { const r = await next(s, c); appendFileSync(${JSON.stringify(traceFile)}, r.url + '\\n'); return r; }`);
const reg = join(root, 'trace-register.mjs');
writeFileSync(reg, `import { register } from 'node:module'; register(${JSON.stringify(`file://${hook}`)});`);
timeCli(['compare', glob, '--format', 'json'], ['--import', reg]);
const urls = readFileSync(traceFile, 'utf8').split('\n').filter(Boolean);
const packages = [...new Set(urls.map((u) => /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(u)?.[1]).filter((x): x is string => !!x))].sort();
// The record validators are generated ahead of time and need two small files of ajv's runtime
// (dist/runtime/ucs2length, ajv-formats' format table); ajv's schema compiler is what is heavy.
const ajvCompiler = urls.some((u) => /node_modules\/ajv\/dist\/(core|2020|ajv|compile)/.test(u));
const heavy = [...packages.filter((p) => /^(@tensorflow\/|sharp$|simple-git$|listr2$)/.test(p)), ...(ajvCompiler ? ['ajv (schema compiler)'] : [])];

console.log(`# exp compare, ${N} runs (${examples} val examples, ${C} classes, ${epochs} epochs, TTA 1 and 4 each)\n`);
console.log(`machine: ${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, load average ${loadavg()[0].toFixed(1)}; node ${process.version}; median of ${reps}; ${registered ? 'bin/exp.js' : 'main() with the compare entry added (commands.ts lacks it)'}\n`);
console.log('| what | wall s | CPU s |\n|---|---:|---:|');
for (const [what, s, cpu] of rows) console.log(`| ${what} | ${s.toFixed(2)} | ${cpu === null ? '' : cpu.toFixed(2)} |`);
console.log(`\ngenerating the ${N} records took ${genSeconds.toFixed(1)} s`);
console.log(`packages the command resolved: ${packages.join(', ') || 'none'}`);
console.log(heavy.length ? `HEAVY PACKAGES LOADED: ${heavy.join(', ')}` : 'no tfjs, sharp, ajv schema compiler, simple-git or listr2 on the command path');
rmSync(root, { recursive: true, force: true });
