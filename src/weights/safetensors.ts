// safetensors: 8-byte little-endian header length N, N bytes of JSON
// {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}}, then the raw
// little-endian tensor bytes (offsets relative to the end of the header). No code, no pickle.
import { UserError } from '../errors.ts';
import { BYTES, decodeElements, numel } from './tensor.ts';
import type { CheckpointTensor, DType } from './tensor.ts';

const DTYPES = new Set<string>(Object.keys(BYTES));

/**
 * True when `head` (the first bytes of a file of `fileSize` bytes) starts like a safetensors
 * file: a header length that fits the file, then '{'.
 */
export function looksLikeSafetensors(head: Uint8Array, fileSize = head.byteLength): boolean {
  if (head.byteLength < 10) return false;
  const n = new DataView(head.buffer, head.byteOffset, 8).getBigUint64(0, true);
  return n > 1n && n <= BigInt(fileSize - 8) && head[8] === 0x7b; // '{'
}

interface HeaderEntry {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

/** Parses a whole safetensors file; `file` names it in errors. */
export function readSafetensors(bytes: Uint8Array, file: string): Map<string, CheckpointTensor> {
  const bad = (why: string) => new UserError(`${file} is not a valid safetensors file: ${why}. `
    + 'Re-export it (safetensors.torch.save_file(state_dict, path)) or pass the original .pth file.');
  if (!looksLikeSafetensors(bytes)) throw bad('it does not start with an 8-byte header length followed by a JSON header');
  const headerLen = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset + 8, headerLen).toString('utf8')) as Record<string, unknown>;
  } catch (e) {
    throw bad(`its header is not JSON (${(e as Error).message})`);
  }
  const data = bytes.subarray(8 + headerLen);
  const out = new Map<string, CheckpointTensor>();
  for (const [name, value] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const e = value as HeaderEntry;
    if (!e || typeof e !== 'object' || !DTYPES.has(e.dtype)) {
      throw bad(`tensor '${name}' has dtype ${JSON.stringify(e?.dtype)}; supported: ${[...DTYPES].join(', ')}`);
    }
    const dtype = e.dtype as DType;
    if (!Array.isArray(e.shape) || !e.shape.every((d) => Number.isInteger(d) && d >= 0)) throw bad(`tensor '${name}' has shape ${JSON.stringify(e.shape)}`);
    const [begin, end] = e.data_offsets ?? [];
    const n = numel(e.shape);
    if (!Number.isInteger(begin) || !Number.isInteger(end) || begin < 0 || end > data.byteLength || end - begin !== n * BYTES[dtype]) {
      throw bad(`tensor '${name}' has data_offsets ${JSON.stringify(e.data_offsets)}, which do not hold ${n} x ${dtype} `
        + `inside the ${data.byteLength} data bytes`);
    }
    out.set(name, { shape: e.shape, dtype, data: decodeElements(data.subarray(begin, end), dtype, 0, n) });
  }
  return out;
}
