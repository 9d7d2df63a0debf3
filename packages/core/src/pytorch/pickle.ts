/**
 * A restricted unpickler: it reads the subset of Python's pickle format that
 * `torch.save` writes for a state dict (or a dict holding one) and builds
 * plain values from it. Nothing is ever looked up by the name a pickle gives
 * or called: GLOBAL / STACK_GLOBAL resolve only against ALLOWED_GLOBALS, and
 * REDUCE only "calls" those, by building a value here. Every other global,
 * and every opcode that could construct arbitrary objects (INST, OBJ,
 * NEWOBJ, EXT*, PERSID, ...), is refused with CheckpointError
 * ('UNSAFE_CHECKPOINT') before anything else happens.
 *
 * The machine has no recursion and every length field is checked against the
 * bytes left before it is used, so a hostile pickle costs at most time and
 * memory linear in its own size (which the caller bounds).
 */
import { badCheckpoint, unsafeCheckpoint } from './errors.js';

// ---------------------------------------------------------------- values

export class PyTuple {
  constructor(readonly items: readonly PyValue[]) {}
}

/** A dict or OrderedDict; keys in insertion order, attributes set by BUILD (e.g. `_metadata`). */
export class PyDict {
  readonly entries = new Map<string | number | bigint | boolean | null, PyValue>();
  /** Keys that are not plain scalars (tuples, ...) are kept here, in order. */
  readonly otherEntries: [PyValue, PyValue][] = [];
  attributes: PyValue = null;

  set(key: PyValue, value: PyValue): void {
    if (key === null || typeof key === 'string' || typeof key === 'number' || typeof key === 'bigint' || typeof key === 'boolean') {
      this.entries.set(key, value);
    } else {
      this.otherEntries.push([key, value]);
    }
  }
}

/** An allowed global (a storage type, or a function REDUCE may apply). */
export class PyGlobal {
  constructor(
    readonly module: string,
    readonly name: string,
  ) {}
  get qualifiedName(): string {
    return `${this.module}.${this.name}`;
  }
}

/** What a persistent id resolved to; the container format decides (zip entry, legacy offset). */
export interface PersistentRef {
  readonly persistent: true;
}

/** A tensor as the pickle describes it: a view (offset, shape, stride in elements) of a storage. */
export class TensorRef {
  constructor(
    readonly storage: PyValue,
    readonly offset: number,
    readonly shape: readonly number[],
    readonly stride: readonly number[],
  ) {}
}

export type PyValue = null | boolean | number | bigint | string | Uint8Array | PyTuple | PyValue[] | PyDict | PyGlobal | TensorRef | PersistentRef;

// ---------------------------------------------------------------- allow-list

/** Storage types a tensor may live in (torch.<Name>), all harmless data holders. */
export const STORAGE_TYPES = [
  'FloatStorage',
  'DoubleStorage',
  'HalfStorage',
  'BFloat16Storage',
  'LongStorage',
  'IntStorage',
  'ShortStorage',
  'CharStorage',
  'ByteStorage',
  'BoolStorage',
] as const;

type Reducer = (args: readonly PyValue[], at: string) => PyValue;

const REDUCERS: Record<string, Reducer> = {
  'collections.OrderedDict': (args, at) => {
    const dict = new PyDict();
    if (args.length === 0) return dict;
    // OrderedDict([(k, v), ...]) as older protocols write it
    if (args.length === 1 && Array.isArray(args[0])) {
      for (const pair of args[0]) {
        if (!(pair instanceof PyTuple || Array.isArray(pair))) badCheckpoint(`${at}: OrderedDict item is not a pair`);
        const items = pair instanceof PyTuple ? pair.items : pair;
        if (items.length !== 2) badCheckpoint(`${at}: OrderedDict item is not a pair`);
        dict.set(items[0]!, items[1]!);
      }
      return dict;
    }
    return badCheckpoint(`${at}: OrderedDict called with unexpected arguments`);
  },
  'torch._utils._rebuild_tensor_v2': (args, at) => {
    // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
    if (args.length < 6 || args.length > 7) badCheckpoint(`${at}: _rebuild_tensor_v2 takes 6 or 7 arguments, got ${args.length}`);
    return tensorFrom(args, at);
  },
  'torch._utils._rebuild_tensor': (args, at) => {
    if (args.length !== 4) badCheckpoint(`${at}: _rebuild_tensor takes 4 arguments, got ${args.length}`);
    return tensorFrom(args, at);
  },
  'torch._utils._rebuild_parameter': (args, at) => {
    // (data, requires_grad, backward_hooks)
    if (args.length !== 3 || !(args[0] instanceof TensorRef)) badCheckpoint(`${at}: _rebuild_parameter needs (tensor, requires_grad, hooks)`);
    return args[0];
  },
  'torch._utils._rebuild_parameter_with_state': (args, at) => {
    if (args.length !== 4 || !(args[0] instanceof TensorRef)) badCheckpoint(`${at}: _rebuild_parameter_with_state needs (tensor, requires_grad, hooks, state)`);
    return args[0];
  },
};

/** "module.name" of every global a pickle may name. */
export const ALLOWED_GLOBALS: ReadonlySet<string> = new Set([...Object.keys(REDUCERS), ...STORAGE_TYPES.map((s) => `torch.${s}`)]);

function tensorFrom(args: readonly PyValue[], at: string): TensorRef {
  const [storage, offset, size, stride] = args;
  const ints = (v: PyValue | undefined, what: string): number[] => {
    const items = v instanceof PyTuple ? v.items : Array.isArray(v) ? v : badCheckpoint(`${at}: tensor ${what} is not a tuple`);
    return items.map((d) => (typeof d === 'number' && Number.isSafeInteger(d) && d >= 0 ? d : badCheckpoint(`${at}: tensor ${what} has a bad entry ${String(d)}`)));
  };
  if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0) badCheckpoint(`${at}: bad storage offset ${String(offset)}`);
  const shape = ints(size, 'size');
  const strides = ints(stride, 'stride');
  if (shape.length !== strides.length) badCheckpoint(`${at}: tensor size has ${shape.length} dimensions, stride ${strides.length}`);
  return new TensorRef(storage ?? null, offset, shape, strides);
}

// ---------------------------------------------------------------- machine

export interface UnpickleOptions {
  /** Resolves BINPERSID's id (a tuple such as ('storage', torch.FloatStorage, key, location, numel)). */
  persistentLoad?: (pid: PyValue, at: string) => PyValue;
}

const OPCODE_NAMES: Record<number, string> = {
  0x28: 'MARK', 0x2e: 'STOP', 0x30: 'POP', 0x31: 'POP_MARK', 0x32: 'DUP', 0x46: 'FLOAT', 0x49: 'INT', 0x4a: 'BININT',
  0x4b: 'BININT1', 0x4c: 'LONG', 0x4d: 'BININT2', 0x4e: 'NONE', 0x50: 'PERSID', 0x51: 'BINPERSID', 0x52: 'REDUCE',
  0x53: 'STRING', 0x54: 'BINSTRING', 0x55: 'SHORT_BINSTRING', 0x56: 'UNICODE', 0x58: 'BINUNICODE', 0x61: 'APPEND',
  0x62: 'BUILD', 0x63: 'GLOBAL', 0x64: 'DICT', 0x7d: 'EMPTY_DICT', 0x65: 'APPENDS', 0x67: 'GET', 0x68: 'BINGET',
  0x69: 'INST', 0x6a: 'LONG_BINGET', 0x6c: 'LIST', 0x5d: 'EMPTY_LIST', 0x6f: 'OBJ', 0x70: 'PUT', 0x71: 'BINPUT',
  0x72: 'LONG_BINPUT', 0x73: 'SETITEM', 0x74: 'TUPLE', 0x29: 'EMPTY_TUPLE', 0x75: 'SETITEMS', 0x47: 'BINFLOAT',
  0x80: 'PROTO', 0x81: 'NEWOBJ', 0x82: 'EXT1', 0x83: 'EXT2', 0x84: 'EXT4', 0x85: 'TUPLE1', 0x86: 'TUPLE2',
  0x87: 'TUPLE3', 0x88: 'NEWTRUE', 0x89: 'NEWFALSE', 0x8a: 'LONG1', 0x8b: 'LONG4', 0x42: 'BINBYTES',
  0x43: 'SHORT_BINBYTES', 0x8c: 'SHORT_BINUNICODE', 0x8d: 'BINUNICODE8', 0x8e: 'BINBYTES8', 0x8f: 'EMPTY_SET',
  0x90: 'ADDITEMS', 0x91: 'FROZENSET', 0x92: 'NEWOBJ_EX', 0x93: 'STACK_GLOBAL', 0x94: 'MEMOIZE', 0x95: 'FRAME',
  0x96: 'BYTEARRAY8', 0x97: 'NEXT_BUFFER', 0x98: 'READONLY_BUFFER',
};

const MARK = Symbol('mark');
const utf8 = new TextDecoder('utf-8', { fatal: true });
const latin1 = new TextDecoder('latin1');

/** Largest LONG1 / LONG4 accepted, in bytes: plenty for a magic number or an int64. */
const MAX_LONG_BYTES = 16;

/**
 * Run one pickle starting at `start`; returns its value and the offset just
 * past its STOP (the legacy format puts several pickles back to back).
 */
export function unpickle(bytes: Uint8Array, start = 0, opts: UnpickleOptions = {}): { value: PyValue; end: number } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const stack: (PyValue | typeof MARK)[] = [];
  const memo = new Map<number, PyValue>();
  let pos = start;
  let at = '';

  const need = (n: number): number => {
    if (!(n >= 0) || n > bytes.length - pos) badCheckpoint(`${at}: needs ${n} more bytes, only ${bytes.length - pos} left (truncated pickle)`);
    const p = pos;
    pos += n;
    return p;
  };
  const u8 = () => bytes[need(1)]!;
  const u16 = () => view.getUint16(need(2), true);
  const u32 = () => view.getUint32(need(4), true);
  const u64 = (): number => {
    const v = view.getBigUint64(need(8), true);
    if (v > BigInt(bytes.length)) badCheckpoint(`${at}: length ${v} exceeds the pickle`);
    return Number(v);
  };
  const text = (n: number, decoder: TextDecoder): string => {
    const p = need(n);
    try {
      return decoder.decode(bytes.subarray(p, p + n));
    } catch {
      return badCheckpoint(`${at}: string is not valid UTF-8`);
    }
  };
  const push = (v: PyValue) => stack.push(v);
  const pop = (): PyValue => {
    const v = stack.pop();
    if (v === undefined) badCheckpoint(`${at}: stack underflow`);
    if (v === MARK) badCheckpoint(`${at}: unexpected MARK`);
    return v;
  };
  const top = (): PyValue => {
    const v = stack[stack.length - 1];
    if (v === undefined || v === MARK) badCheckpoint(`${at}: empty stack`);
    return v;
  };
  /** Everything above the most recent MARK, which is removed. */
  const popMark = (): PyValue[] => {
    const i = stack.lastIndexOf(MARK);
    if (i < 0) badCheckpoint(`${at}: no MARK on the stack`);
    const items = stack.splice(i) as PyValue[];
    items.shift();
    return items;
  };
  const memoGet = (key: number): PyValue => {
    if (!memo.has(key)) badCheckpoint(`${at}: memo key ${key} was never stored`);
    return memo.get(key)!;
  };
  const global = (module: string, name: string): PyGlobal => {
    const qualified = `${module}.${name}`;
    if (!ALLOWED_GLOBALS.has(qualified)) {
      unsafeCheckpoint(`${at}: the pickle names ${JSON.stringify(qualified)}, which a state dict never needs; refused, nothing was run`);
    }
    return new PyGlobal(module, name);
  };
  const setItems = (dict: PyValue, items: PyValue[]) => {
    if (!(dict instanceof PyDict)) badCheckpoint(`${at}: SETITEM(S) on a ${describe(dict)}`);
    if (items.length % 2 !== 0) badCheckpoint(`${at}: odd number of items for SETITEMS`);
    for (let i = 0; i < items.length; i += 2) dict.set(items[i]!, items[i + 1]!);
  };
  const appendItems = (list: PyValue, items: PyValue[]) => {
    if (!Array.isArray(list)) badCheckpoint(`${at}: APPEND(S) on a ${describe(list)}`);
    for (const item of items) list.push(item);
  };

  for (;;) {
    const opPos = pos;
    const op = u8();
    const name = OPCODE_NAMES[op] ?? `0x${op.toString(16).padStart(2, '0')}`;
    at = `pickle byte ${opPos} (${name})`;
    switch (op) {
      case 0x80: {
        const protocol = u8();
        if (protocol > 5) badCheckpoint(`${at}: pickle protocol ${protocol} is newer than 5`);
        break;
      }
      case 0x95: // FRAME: only a read-ahead hint
        u64();
        break;
      case 0x2e: {
        if (stack.length !== 1 || stack[0] === MARK) badCheckpoint(`${at}: STOP with ${stack.length} items on the stack`);
        return { value: stack[0] as PyValue, end: pos };
      }
      case 0x28:
        stack.push(MARK);
        break;
      case 0x30:
        pop();
        break;
      case 0x31:
        popMark();
        break;
      case 0x32:
        push(top());
        break;
      case 0x4e:
        push(null);
        break;
      case 0x88:
        push(true);
        break;
      case 0x89:
        push(false);
        break;
      case 0x4a:
        push(view.getInt32(need(4), true));
        break;
      case 0x4b:
        push(u8());
        break;
      case 0x4d:
        push(u16());
        break;
      case 0x8a:
      case 0x8b: {
        const n = op === 0x8a ? u8() : u32();
        if (n > MAX_LONG_BYTES) badCheckpoint(`${at}: ${n}-byte integer is longer than ${MAX_LONG_BYTES} bytes`);
        push(littleEndianSigned(bytes.subarray(need(n), pos)));
        break;
      }
      case 0x47:
        push(view.getFloat64(need(8), false));
        break;
      case 0x8c:
        push(text(u8(), utf8));
        break;
      case 0x58:
        push(text(u32(), utf8));
        break;
      case 0x8d:
        push(text(u64(), utf8));
        break;
      case 0x55:
        push(text(u8(), latin1));
        break;
      case 0x54: {
        const n = view.getInt32(need(4), true);
        if (n < 0) badCheckpoint(`${at}: negative length`);
        push(text(n, latin1));
        break;
      }
      case 0x43:
      case 0x42:
      case 0x8e: {
        const n = op === 0x43 ? u8() : op === 0x42 ? u32() : u64();
        push(bytes.slice(need(n), pos));
        break;
      }
      case 0x29:
        push(new PyTuple([]));
        break;
      case 0x74:
        push(new PyTuple(popMark()));
        break;
      case 0x85:
      case 0x86:
      case 0x87: {
        const n = op - 0x84;
        if (stack.length < n) badCheckpoint(`${at}: stack underflow`);
        const items: PyValue[] = [];
        for (let i = 0; i < n; i++) items.unshift(pop());
        push(new PyTuple(items));
        break;
      }
      case 0x5d:
        push([]);
        break;
      case 0x6c:
        push(popMark());
        break;
      case 0x61: {
        const item = pop();
        appendItems(top(), [item]);
        break;
      }
      case 0x65: {
        const items = popMark();
        appendItems(top(), items);
        break;
      }
      case 0x7d:
        push(new PyDict());
        break;
      case 0x64: {
        const dict = new PyDict();
        setItems(dict, popMark());
        push(dict);
        break;
      }
      case 0x73: {
        const value = pop();
        const key = pop();
        setItems(top(), [key, value]);
        break;
      }
      case 0x75: {
        const items = popMark();
        setItems(top(), items);
        break;
      }
      case 0x71:
        memo.set(u8(), top());
        break;
      case 0x72:
        memo.set(u32(), top());
        break;
      case 0x94:
        memo.set(memo.size, top());
        break;
      case 0x68:
        push(memoGet(u8()));
        break;
      case 0x6a:
        push(memoGet(u32()));
        break;
      case 0x63: {
        const module = readLine(bytes, pos, at);
        pos += module.length + 1;
        const qualName = readLine(bytes, pos, at);
        pos += qualName.length + 1;
        push(global(module, qualName));
        break;
      }
      case 0x93: {
        const qualName = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof qualName !== 'string') badCheckpoint(`${at}: STACK_GLOBAL needs two strings`);
        push(global(module, qualName));
        break;
      }
      case 0x52: {
        const args = pop();
        const callable = pop();
        if (!(callable instanceof PyGlobal)) badCheckpoint(`${at}: REDUCE applies a ${describe(callable)}, not an allowed function`);
        const reducer = REDUCERS[callable.qualifiedName];
        if (!reducer) unsafeCheckpoint(`${at}: ${callable.qualifiedName} may not be called; refused, nothing was run`);
        if (!(args instanceof PyTuple)) badCheckpoint(`${at}: REDUCE arguments are a ${describe(args)}, not a tuple`);
        push(reducer(args.items, at));
        break;
      }
      case 0x62: {
        const state = pop();
        const obj = top();
        // Only a dict's attributes (OrderedDict._metadata) may be set; anything else could mean __setstate__.
        if (!(obj instanceof PyDict)) unsafeCheckpoint(`${at}: BUILD on a ${describe(obj)} is refused`);
        obj.attributes = state;
        break;
      }
      case 0x51: {
        const pid = pop();
        if (!opts.persistentLoad) badCheckpoint(`${at}: persistent ids are not expected here`);
        push(opts.persistentLoad(pid, at));
        break;
      }
      default:
        unsafeCheckpoint(`${at}: opcode ${name} is not allowed in a checkpoint; refused, nothing was run`);
    }
  }
}

/** Bytes up to (not including) the next newline, as ASCII identifier text for GLOBAL. */
function readLine(bytes: Uint8Array, start: number, at: string): string {
  const limit = Math.min(bytes.length, start + 256);
  for (let i = start; i < limit; i++) {
    if (bytes[i] === 0x0a) {
      let s = '';
      for (let j = start; j < i; j++) {
        const c = bytes[j]!;
        if (c < 0x20 || c > 0x7e) badCheckpoint(`${at}: GLOBAL name has a non-printable byte`);
        s += String.fromCharCode(c);
      }
      return s;
    }
  }
  if (limit === bytes.length) badCheckpoint(`${at}: GLOBAL name runs to the end of the data (truncated pickle)`);
  return badCheckpoint(`${at}: GLOBAL name has no end of line within 256 bytes`);
}

/** Two's-complement little-endian integer: a number when it is safe, else a bigint. */
function littleEndianSigned(b: Uint8Array): number | bigint {
  if (b.length === 0) return 0;
  let v = 0n;
  for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]!);
  if (b[b.length - 1]! & 0x80) v -= 1n << BigInt(8 * b.length);
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

export function describe(v: PyValue | undefined): string {
  if (v === null) return 'None';
  if (v === undefined) return 'nothing';
  if (Array.isArray(v)) return 'list';
  if (v instanceof Uint8Array) return 'bytes';
  if (v instanceof PyTuple) return 'tuple';
  if (v instanceof PyDict) return 'dict';
  if (v instanceof PyGlobal) return v.qualifiedName;
  if (v instanceof TensorRef) return 'tensor';
  if (typeof v === 'object') return 'storage';
  return typeof v === 'string' ? 'str' : typeof v === 'boolean' ? 'bool' : typeof v === 'bigint' ? 'int' : 'number';
}
