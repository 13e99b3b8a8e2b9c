// A pickle reader for exactly what torch.save writes for a state dict, and nothing more.
//
// Why not a general unpickler: pickle is a program. GLOBAL names any Python callable and REDUCE
// calls it, so `torch.load` of an untrusted file can run os.system. This VM never calls anything:
// it understands a fixed set of data opcodes, and a GLOBAL is accepted only when it names one of
// the few constructors a state dict needs (ALLOWED_GLOBALS, torch.*Storage); those are
// interpreted here by name. Any other GLOBAL (os.system, builtins.eval, subprocess.Popen, ...)
// stops the read at that opcode, before anything after it runs, with a UserError saying why.
import { UserError } from '../errors.ts';

/** A Python global the VM allowed, by name (never resolved to anything callable). */
export class Global {
  constructor(readonly module: string, readonly name: string) {}
  get qualified(): string {
    return `${this.module}.${this.name}`;
  }
}

/** What the persistent-id hook returns for a storage ('storage', type, key, location, numel). */
export interface StorageRef {
  kind: 'storage';
  key: string;
  type: string;
  numel: number;
}

/** torch._utils._rebuild_tensor_v2(storage, storage_offset, size, stride, ...), not yet read. */
export interface TensorRef {
  kind: 'tensor';
  storage: StorageRef;
  offset: number;
  size: number[];
  stride: number[];
}

export type PyValue = null | boolean | number | string | PyValue[] | Map<PyValue, PyValue> | Global | StorageRef | TensorRef | object;

const ALLOWED_GLOBALS = new Set([
  'collections.OrderedDict',
  'torch._utils._rebuild_tensor_v2',
  'torch._utils._rebuild_parameter',
]);

export function isAllowedGlobal(module: string, name: string): boolean {
  return ALLOWED_GLOBALS.has(`${module}.${name}`) || (module === 'torch' && /^[A-Za-z0-9]+Storage$/.test(name));
}

const MARK = Symbol('mark');
type Slot = PyValue | typeof MARK;

export interface UnpickleOptions {
  /** names the file in errors */
  file: string;
  /** BINPERSID: turns a persistent id into a value (torch: a storage reference) */
  persistentLoad?: (pid: PyValue) => PyValue;
}

function fixHint(file: string): string {
  return `exp reads only plain state dicts and never executes code from a checkpoint. To import ${file}, re-save just `
    + 'its weights in Python: sd = torch.load(path, map_location="cpu", weights_only=True) (PyTorch >= 1.13 refuses code '
    + 'there too; drop weights_only only for a file you trust); torch.save(sd.get("state_dict", sd), "weights.pth") '
    + '(or safetensors.torch.save_file(sd, "weights.safetensors")), and import that file.';
}

const OPNAMES: Record<number, string> = {
  0x63: 'GLOBAL', 0x93: 'STACK_GLOBAL', 0x52: 'REDUCE', 0x62: 'BUILD', 0x69: 'INST', 0x6f: 'OBJ', 0x81: 'NEWOBJ',
  0x92: 'NEWOBJ_EX', 0x50: 'PERSID', 0x82: 'EXT1', 0x83: 'EXT2', 0x84: 'EXT4',
};

/** Runs the pickle program in `data` under the restrictions above and returns its result. */
export function unpickle(data: Uint8Array, opts: UnpickleOptions): PyValue {
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const stack: Slot[] = [];
  const memo = new Map<number, PyValue>();
  let pos = 0;
  const fail = (why: string) => new UserError(`${opts.file}: refused to read its pickled state dict (byte ${pos}): ${why}. ${fixHint(opts.file)}`);
  const need = (n: number) => {
    if (pos + n > data.byteLength) throw fail('the pickle ends early (truncated file?)');
  };
  const u8 = () => { need(1); return data[pos++]; };
  const u16 = () => { need(2); const v = dv.getUint16(pos, true); pos += 2; return v; };
  const i32 = () => { need(4); const v = dv.getInt32(pos, true); pos += 4; return v; };
  const u32 = () => { need(4); const v = dv.getUint32(pos, true); pos += 4; return v; };
  const str = (n: number) => { need(n); const s = Buffer.from(data.buffer, data.byteOffset + pos, n).toString('utf8'); pos += n; return s; };
  const line = () => {
    const end = data.indexOf(0x0a, pos);
    if (end < 0 || end - pos > 256) throw fail('malformed GLOBAL');
    return str(end - pos + 1).slice(0, -1);
  };
  const pop = (): PyValue => {
    const v = stack.pop();
    if (v === undefined || v === MARK) throw fail('stack underflow (malformed pickle)');
    return v;
  };
  const popMark = (): PyValue[] => {
    const i = stack.lastIndexOf(MARK);
    if (i < 0) throw fail('no MARK on the stack (malformed pickle)');
    const items = stack.splice(i) as PyValue[];
    items.shift();
    return items;
  };
  const global = (module: string, name: string): Global => {
    if (!isAllowedGlobal(module, name)) {
      throw fail(`it refers to the Python callable ${module}.${name}, which is not part of a PyTorch state dict `
        + '(allowed: collections.OrderedDict, torch._utils._rebuild_tensor_v2, torch._utils._rebuild_parameter, torch.*Storage). '
        + `Loading this file with torch.load would call ${module}.${name}; exp refused without executing anything`);
    }
    return new Global(module, name);
  };
  const setItems = (target: PyValue, items: PyValue[]) => {
    if (!(target instanceof Map)) throw fail('SETITEM on something that is not a dict');
    for (let i = 0; i + 1 < items.length; i += 2) target.set(items[i], items[i + 1]);
  };
  const appendTo = (target: PyValue, items: PyValue[]) => {
    if (!Array.isArray(target)) throw fail('APPEND on something that is not a list');
    target.push(...items);
  };
  const toInt = (v: PyValue, what: string): number => {
    if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw fail(`${what} is not an integer`);
    return v;
  };
  const intList = (v: PyValue, what: string): number[] => {
    if (!Array.isArray(v)) throw fail(`${what} is not a tuple`);
    return v.map((x) => toInt(x, what));
  };
  const reduce = (fn: PyValue, args: PyValue): PyValue => {
    if (!(fn instanceof Global) || !Array.isArray(args)) throw fail('REDUCE of something that is not an allowed global');
    switch (fn.qualified) {
      case 'collections.OrderedDict': {
        const m = new Map<PyValue, PyValue>();
        const pairs = args[0];
        if (Array.isArray(pairs)) for (const p of pairs) if (Array.isArray(p) && p.length === 2) m.set(p[0], p[1]);
        return m;
      }
      case 'torch._utils._rebuild_tensor_v2': {
        const storage = args[0] as StorageRef;
        if (!storage || (storage as { kind?: string }).kind !== 'storage') throw fail('_rebuild_tensor_v2 without a storage');
        return { kind: 'tensor', storage, offset: toInt(args[1], 'storage offset'), size: intList(args[2], 'tensor size'), stride: intList(args[3], 'tensor stride') } satisfies TensorRef;
      }
      case 'torch._utils._rebuild_parameter':
        return args[0];
      default:
        throw fail(`${fn.qualified} is a storage type, which a state dict never calls`);
    }
  };

  const peek = (): PyValue => {
    const v = stack[stack.length - 1];
    if (v === undefined || v === MARK) throw fail('memoize on an empty stack');
    return v;
  };
  const memoGet = (i: number): PyValue => {
    if (!memo.has(i)) throw fail(`memo ${i} read before it was written`);
    return memo.get(i)!;
  };

  for (;;) {
    const op = u8();
    switch (op) {
      case 0x80: u8(); break; // PROTO
      case 0x95: need(8); pos += 8; break; // FRAME: a length hint only
      case 0x2e: { // STOP
        const v = pop();
        return v;
      }
      case 0x7d: stack.push(new Map()); break; // EMPTY_DICT
      case 0x5d: stack.push([]); break; // EMPTY_LIST
      case 0x29: stack.push([]); break; // EMPTY_TUPLE (tuples are plain arrays)
      case 0x28: stack.push(MARK); break; // MARK
      case 0x58: stack.push(str(u32())); break; // BINUNICODE
      case 0x8c: stack.push(str(u8())); break; // SHORT_BINUNICODE
      case 0x4a: stack.push(i32()); break; // BININT
      case 0x4b: stack.push(u8()); break; // BININT1
      case 0x4d: stack.push(u16()); break; // BININT2
      case 0x8a: { // LONG1: little-endian two's complement of n bytes
        const n = u8();
        need(n);
        let v = 0n;
        for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(data[pos + i]);
        if (n > 0 && data[pos + n - 1] & 0x80) v -= 1n << BigInt(8 * n);
        pos += n;
        if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < -BigInt(Number.MAX_SAFE_INTEGER)) throw fail('an integer is too large');
        stack.push(Number(v));
        break;
      }
      case 0x47: { need(8); stack.push(dv.getFloat64(pos, false)); pos += 8; break; } // BINFLOAT (big endian)
      case 0x4e: stack.push(null); break; // NONE
      case 0x88: stack.push(true); break; // NEWTRUE
      case 0x89: stack.push(false); break; // NEWFALSE
      case 0x74: stack.push(popMark()); break; // TUPLE
      case 0x85: stack.push([pop()]); break; // TUPLE1
      case 0x86: { const b = pop(); const a = pop(); stack.push([a, b]); break; } // TUPLE2
      case 0x87: { const c = pop(); const b = pop(); const a = pop(); stack.push([a, b, c]); break; } // TUPLE3
      case 0x73: { const v = pop(); const k = pop(); setItems(stack[stack.length - 1] as PyValue, [k, v]); break; } // SETITEM
      case 0x75: { const items = popMark(); setItems(stack[stack.length - 1] as PyValue, items); break; } // SETITEMS
      case 0x61: { const v = pop(); appendTo(stack[stack.length - 1] as PyValue, [v]); break; } // APPEND
      case 0x65: { const items = popMark(); appendTo(stack[stack.length - 1] as PyValue, items); break; } // APPENDS
      case 0x71: memo.set(u8(), peek()); break; // BINPUT
      case 0x72: memo.set(u32(), peek()); break; // LONG_BINPUT
      case 0x94: memo.set(memo.size, peek()); break; // MEMOIZE
      case 0x68: stack.push(memoGet(u8())); break; // BINGET
      case 0x6a: stack.push(memoGet(u32())); break; // LONG_BINGET
      case 0x63: { const module = line(); const name = line(); stack.push(global(module, name)); break; } // GLOBAL
      case 0x93: { // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') throw fail('STACK_GLOBAL without names');
        stack.push(global(module, name));
        break;
      }
      case 0x52: { const args = pop(); const fn = pop(); stack.push(reduce(fn, args)); break; } // REDUCE
      case 0x62: { // BUILD: only an OrderedDict's attribute dict (state_dict()._metadata), dropped
        const state = pop();
        const target = stack[stack.length - 1];
        if (!(target instanceof Map) || !(state === null || state instanceof Map || Array.isArray(state))) {
          throw fail('BUILD (setting object state) on something other than an OrderedDict');
        }
        break;
      }
      case 0x51: { // BINPERSID
        const pid = pop();
        if (!opts.persistentLoad) throw fail('a persistent id outside a torch archive');
        stack.push(opts.persistentLoad(pid));
        break;
      }
      default: {
        const name = OPNAMES[op];
        pos--;
        throw fail(name
          ? `it uses the pickle opcode ${name}, which builds arbitrary Python objects and never occurs in a state dict`
          : `unsupported pickle opcode 0x${op.toString(16).padStart(2, '0')}, which torch.save does not emit for a state dict`);
      }
    }
  }

}
