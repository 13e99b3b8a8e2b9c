// The archive torch.save writes (default since PyTorch 1.6): a zip with <prefix>/data.pkl (the
// pickled object, storages replaced by persistent ids ('storage', torch.FloatStorage, key,
// location, numel)), <prefix>/data/<key> (each storage's raw little-endian bytes) and
// <prefix>/byteorder. The pickle is read by the restricted VM in pickle.ts.
import { UserError } from '../errors.ts';
import { ZipError, ZipReader } from './zip.ts';
import { Global, unpickle } from './pickle.ts';
import type { PyValue, StorageRef, TensorRef } from './pickle.ts';
import { BYTES, decodeElements, gather } from './tensor.ts';
import type { CheckpointTensor, DType } from './tensor.ts';

const STORAGE_DTYPES: Record<string, DType> = {
  FloatStorage: 'F32', DoubleStorage: 'F64', HalfStorage: 'F16', BFloat16Storage: 'BF16', LongStorage: 'I64',
  IntStorage: 'I32', ShortStorage: 'I16', CharStorage: 'I8', ByteStorage: 'U8', BoolStorage: 'BOOL',
};

/** A Python value read from a checkpoint, with tensors materialised. */
export type CheckpointValue = null | boolean | number | string | CheckpointValue[] | Map<CheckpointValue, CheckpointValue> | CheckpointTensor;

export function isTensor(v: unknown): v is CheckpointTensor {
  return typeof v === 'object' && v !== null && 'shape' in v && 'data' in v && 'dtype' in v;
}

/** Reads the object a torch.save zip archive holds; `file` names it in errors. */
export function readTorchZip(bytes: Uint8Array, file: string): CheckpointValue {
  let zip: ZipReader;
  try {
    zip = new ZipReader(bytes);
  } catch (e) {
    if (!(e instanceof ZipError)) throw e;
    throw new UserError(`${file} looks like a zip archive but cannot be read: ${e.message}. Re-save or re-download it.`);
  }
  const pkl = [...zip.entries.keys()].find((n) => /^[^/]+\/data\.pkl$/.test(n));
  if (!pkl) {
    throw new UserError(`${file} is a zip archive without <name>/data.pkl, so torch.save did not write it. `
      + 'Pass a .pth/.pt file written by torch.save or a .safetensors file.');
  }
  const prefix = pkl.slice(0, -'data.pkl'.length);
  const order = zip.entries.has(`${prefix}byteorder`) ? Buffer.from(zip.read(`${prefix}byteorder`)).toString('utf8').trim() : 'little';
  if (order !== 'little') {
    throw new UserError(`${file} was saved on a ${order}-endian machine; re-save it on a little-endian one (x86, ARM).`);
  }

  const storages = new Map<string, Float32Array | Float64Array>();
  const storageData = (s: StorageRef): Float32Array | Float64Array => {
    let d = storages.get(s.key);
    if (!d) {
      const dtype = STORAGE_DTYPES[s.type];
      const entry = `${prefix}data/${s.key}`;
      if (!zip.entries.has(entry)) throw new UserError(`${file}: storage ${s.key} is missing from the archive (truncated file?)`);
      const raw = zip.read(entry);
      d = decodeElements(raw, dtype, 0, Math.floor(raw.byteLength / BYTES[dtype]));
      storages.set(s.key, d);
    }
    return d;
  };

  const root = unpickle(zip.read(pkl), {
    file,
    persistentLoad(pid) {
      // ('storage', <storage type>, key, location, numel)
      if (!Array.isArray(pid) || pid[0] !== 'storage' || !(pid[1] instanceof Global) || typeof pid[2] !== 'string') {
        throw new UserError(`${file}: unexpected persistent id in data.pkl; only tensor storages are supported. Re-save the state dict with torch.save.`);
      }
      const type = pid[1].name;
      if (!STORAGE_DTYPES[type]) {
        throw new UserError(`${file}: storage type torch.${type} is not supported (supported: ${Object.keys(STORAGE_DTYPES).join(', ')}). `
          + 'Convert the weights to float32 in Python before saving (sd = {k: v.float() for k, v in sd.items()}).');
      }
      return { kind: 'storage', key: pid[2], type, numel: Number(pid[4] ?? 0) } satisfies StorageRef;
    },
  });

  const seen = new Map<object, CheckpointValue>();
  const materialise = (v: PyValue): CheckpointValue => {
    if (v === null || typeof v !== 'object') return v as CheckpointValue;
    if (seen.has(v)) return seen.get(v)!;
    let out: CheckpointValue;
    if (v instanceof Map) {
      const m = new Map<CheckpointValue, CheckpointValue>();
      seen.set(v, m);
      for (const [k, x] of v) m.set(materialise(k), materialise(x));
      out = m;
    } else if (Array.isArray(v)) {
      const a: CheckpointValue[] = [];
      seen.set(v, a);
      for (const x of v) a.push(materialise(x));
      out = a;
    } else if ((v as TensorRef).kind === 'tensor') {
      const t = v as TensorRef;
      const source = storageData(t.storage);
      let data: Float32Array | Float64Array;
      try {
        data = gather(source, t.offset, t.size, t.stride);
      } catch (e) {
        throw new UserError(`${file}: a tensor does not fit its storage ${t.storage.key} (${(e as Error).message}); the file is corrupt.`);
      }
      out = { shape: [...t.size], dtype: STORAGE_DTYPES[t.storage.type], data };
    } else {
      out = null; // a bare Global or storage reference: not part of any state-dict value we use
    }
    seen.set(v, out);
    return out;
  };
  return materialise(root);
}
