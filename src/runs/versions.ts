// Tool and dependency versions recorded in run.json, and the CPU. tfjs's version is read from its
// package.json rather than by importing tfjs (only src/model imports it, and loading it costs
// seconds); the lockfile hash pins the whole dependency tree. The CPU is there because results are
// bit-identical per backend and, for the native backend (oneDNN dispatches kernels by instruction
// set and splits reductions by thread count), per instruction set and core count.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { arch, availableParallelism, cpus } from 'node:os';
import type { CpuInfo, Versions } from './schemas.ts';
import { sha256 } from '../util/hash.ts';

const PACKAGE_ROOT = new URL('../../', import.meta.url);

function readOrNull(url: URL | string): Buffer | null {
  try {
    return readFileSync(url);
  } catch {
    return null;
  }
}

/** The installed @tensorflow/tfjs-core version, or null when it cannot be found. */
export function tfjsVersion(): string | null {
  try {
    const require = createRequire(new URL('package.json', PACKAGE_ROOT));
    const json = readFileSync(require.resolve('@tensorflow/tfjs-core/package.json'), 'utf8');
    return (JSON.parse(json) as { version?: string }).version ?? null;
  } catch {
    return null;
  }
}

export function expVersion(): string {
  const pkg = readOrNull(new URL('package.json', PACKAGE_ROOT));
  return pkg ? ((JSON.parse(pkg.toString('utf8')) as { version?: string }).version ?? 'unknown') : 'unknown';
}

/** The x86 vector extensions kernels (oneDNN, XNNPACK) dispatch on, and Arm's. */
const SIMD = [
  'sse4_1', 'sse4_2', 'avx', 'avx2', 'fma', 'f16c', 'avx_vnni',
  'avx512f', 'avx512cd', 'avx512bw', 'avx512dq', 'avx512vl', 'avx512_vnni', 'avx512_bf16', 'avx512_fp16',
  'amx_tile', 'amx_bf16', 'amx_int8',
  'asimd', 'asimdhp', 'asimddp', 'i8mm', 'bf16', 'sve', 'sve2',
];
/** x86-64 microarchitecture levels (the psABI's), each needing the flags listed and the level below. */
const X86_LEVELS: [string, string[]][] = [
  ['x86-64-v2', ['cx16', 'lahf_lm', 'popcnt', 'pni', 'sse4_1', 'sse4_2', 'ssse3']],
  ['x86-64-v3', ['avx', 'avx2', 'bmi1', 'bmi2', 'f16c', 'fma', 'abm', 'movbe', 'xsave']],
  ['x86-64-v4', ['avx512f', 'avx512bw', 'avx512cd', 'avx512dq', 'avx512vl']],
];

/**
 * The CPU from /proc/cpuinfo's text (Linux; its "flags" or Arm's "Features" line) and os.cpus():
 * model, instruction-set level, the vector extensions present, and the cores.
 */
export function cpuInfo(cpuinfo: string | null = readOrNull('/proc/cpuinfo')?.toString('utf8') ?? null, machine: string = arch()): CpuInfo {
  const field = (name: string) => cpuinfo?.match(new RegExp(`^${name}\\s*:\\s*(.*)$`, 'm'))?.[1].trim();
  const flags = new Set((field('flags') ?? field('Features') ?? '').split(/\s+/).filter(Boolean));
  const model = field('model name') ?? cpus()[0]?.model?.trim() ?? null;
  let isa: string | null = null;
  if (machine === 'x64') {
    if (flags.size) {
      isa = 'x86-64-v1';
      for (const [level, need] of X86_LEVELS) {
        if (!need.every((f) => flags.has(f))) break;
        isa = level;
      }
    }
  } else {
    isa = machine;
  }
  return { model: model || null, isa, simd: SIMD.filter((f) => flags.has(f)), cores: availableParallelism() };
}

let cached: Versions | undefined;

/** Versions of node, exp, tfjs, the sha256 of exp's package-lock.json (null when absent) and the CPU. */
export function versions(): Versions {
  if (!cached) {
    const lock = readOrNull(new URL('package-lock.json', PACKAGE_ROOT));
    cached = { node: process.version, exp: expVersion(), tfjs: tfjsVersion(), lockfile_sha256: lock ? sha256(lock) : null, cpu: cpuInfo() };
  }
  return structuredClone(cached);
}
