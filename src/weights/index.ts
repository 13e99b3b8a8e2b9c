// readCheckpoint: a PyTorch (.pth/.pt/.bin, the zip archive torch.save writes) or safetensors
// file -> its state dict as name -> {shape, dtype, data}. The format is detected from the
// content, not the extension. Nothing here executes code from the file (see pickle.ts).
//
// Conveniences, reported in `CheckpointInfo` so nothing happens silently:
// - wrappers are unwrapped: a top-level dict without tensors that has 'state_dict',
//   'model_state_dict' or 'model' (checked in that order) is replaced by that entry, repeatedly
//   (training scripts save {'epoch': ..., 'state_dict': ...});
// - a leading 'module.' (torch.nn.DataParallel / DistributedDataParallel) is stripped from every
//   name that has it.
import { closeSync, fstatSync, openSync, readFileSync, readSync } from 'node:fs';
import { UserError } from '../errors.ts';
import { looksLikeSafetensors, readSafetensors } from './safetensors.ts';
import { looksLikeZip } from './zip.ts';
import { isTensor, readTorchZip } from './torch-zip.ts';
import type { CheckpointValue } from './torch-zip.ts';
import type { CheckpointTensor } from './tensor.ts';

export type { CheckpointTensor, DType } from './tensor.ts';

export const WRAPPER_KEYS = ['state_dict', 'model_state_dict', 'model'];

export interface CheckpointInfo {
  format: 'safetensors' | 'torch-zip';
  /** wrapper keys descended into, outermost first */
  unwrapped: string[];
  /** how many names lost a leading 'module.' */
  strippedModulePrefix: number;
  /** entries of the state dict that are not tensors (ignored) */
  ignored: string[];
  tensors: Map<string, CheckpointTensor>;
}

const LEGACY_HINT = 'Load it in Python once and save it again with a current PyTorch (zip format, the default since 1.6): '
  + 'torch.save(torch.load(path, map_location="cpu"), "weights.pth"), or convert it to safetensors '
  + '(safetensors.torch.save_file(state_dict, "weights.safetensors")). Only do that with a file you trust: '
  + 'loading a pickle in Python can execute code.';

/** The first 512 bytes and the size of a file. */
function sniff(path: string): { head: Uint8Array; size: number } {
  const fd = openSync(path, 'r');
  try {
    const head = new Uint8Array(512);
    const n = readSync(fd, head, 0, head.length, 0);
    return { head: head.subarray(0, n), size: fstatSync(fd).size };
  } finally {
    closeSync(fd);
  }
}

/** Reads the checkpoint at `path` with details of what was unwrapped, stripped and ignored. */
export function loadCheckpoint(path: string): CheckpointInfo {
  let head: Uint8Array;
  let size: number;
  try {
    ({ head, size } = sniff(path));
  } catch (e) {
    throw new UserError(`cannot read checkpoint ${path}: ${(e as Error).message}`);
  }
  const isTar = head.byteLength > 262 && Buffer.from(head.subarray(257, 262)).toString('latin1') === 'ustar';
  if (!looksLikeZip(head) && !looksLikeSafetensors(head, size)) {
    if (head[0] === 0x80 || isTar) {
      throw new UserError(`${path} is a legacy (pre-1.6, non-zip) PyTorch file or a plain pickle; exp reads only the zip `
        + `format torch.save writes today and safetensors. ${LEGACY_HINT}`);
    }
    throw new UserError(`${path} is neither a PyTorch checkpoint (zip archive written by torch.save) nor a safetensors file. `
      + 'Pass a .pth/.pt file or a .safetensors file.');
  }
  const bytes = readFileSync(path);
  const info: CheckpointInfo = { format: 'safetensors', unwrapped: [], strippedModulePrefix: 0, ignored: [], tensors: new Map() };
  let entries: [string, CheckpointValue][];
  if (looksLikeZip(head)) {
    info.format = 'torch-zip';
    let root = readTorchZip(bytes, path);
    for (;;) {
      if (!(root instanceof Map)) {
        throw new UserError(`${path} holds a ${describe(root)}, not a state dict (a dict of tensors). `
          + 'Save model.state_dict() instead of the model or a tensor list.');
      }
      const hasTensors = [...root.values()].some(isTensor);
      const key = hasTensors ? undefined : WRAPPER_KEYS.find((k) => root instanceof Map && root.get(k) instanceof Map);
      if (!key) break;
      info.unwrapped.push(key);
      root = root.get(key) as CheckpointValue;
    }
    entries = [...root.entries()].map(([k, v]) => [String(k), v]);
  } else {
    entries = [...readSafetensors(bytes, path)];
  }
  for (const [name, value] of entries) {
    if (!isTensor(value)) { info.ignored.push(name); continue; }
    let n = name;
    if (n.startsWith('module.')) { n = n.slice('module.'.length); info.strippedModulePrefix++; }
    if (info.tensors.has(n)) throw new UserError(`${path}: two tensors are named ${n} once 'module.' is stripped; re-save the state dict without DataParallel's prefix.`);
    info.tensors.set(n, value);
  }
  if (info.tensors.size === 0) {
    throw new UserError(`${path} holds no tensors${info.ignored.length ? ` (its entries: ${info.ignored.slice(0, 8).join(', ')})` : ''}. `
      + `Expected a state dict, possibly wrapped under ${WRAPPER_KEYS.map((k) => `'${k}'`).join(', ')}.`);
  }
  return info;
}

/** The state dict of a checkpoint: name -> {shape, dtype, data} (see loadCheckpoint). */
export function readCheckpoint(path: string): Map<string, CheckpointTensor> {
  return loadCheckpoint(path).tensors;
}

function describe(v: CheckpointValue): string {
  if (v === null) return 'None';
  if (Array.isArray(v)) return 'list or tuple';
  if (isTensor(v)) return 'single tensor';
  return typeof v;
}
