/**
 * Test-side writers for the files the checkpoint reader takes, byte by byte:
 * pickles (the opcodes torch.save emits, and hostile ones), zip archives
 * (stored or deflated, with honest or lying headers), torch's zip container
 * and its legacy stream format. No Python needed.
 */
import { deflateRawSync } from 'node:zlib';
import { crc32 } from '@psic/entropy';

// ---------------------------------------------------------------- pickles

export const OP = {
  MARK: 0x28, STOP: 0x2e, POP: 0x30, BININT: 0x4a, BININT1: 0x4b, BININT2: 0x4d, NONE: 0x4e, PERSID: 0x50,
  BINPERSID: 0x51, REDUCE: 0x52, BINUNICODE: 0x58, APPEND: 0x61, BUILD: 0x62, GLOBAL: 0x63, INST: 0x69,
  EMPTY_LIST: 0x5d, OBJ: 0x6f, BINPUT: 0x71, BINGET: 0x68, SETITEM: 0x73, TUPLE: 0x74, EMPTY_TUPLE: 0x29,
  SETITEMS: 0x75, EMPTY_DICT: 0x7d, APPENDS: 0x65, BINFLOAT: 0x47, PROTO: 0x80, NEWOBJ: 0x81, EXT1: 0x82,
  TUPLE1: 0x85, TUPLE2: 0x86, TUPLE3: 0x87, NEWTRUE: 0x88, NEWFALSE: 0x89, LONG1: 0x8a, SHORT_BINUNICODE: 0x8c,
  STACK_GLOBAL: 0x93, MEMOIZE: 0x94, FRAME: 0x95,
} as const;

export class PickleWriter {
  private readonly out: number[] = [];

  raw(...bytes: number[]): this {
    this.out.push(...bytes);
    return this;
  }
  op(code: number): this {
    return this.raw(code);
  }
  proto(version = 2): this {
    return this.raw(OP.PROTO, version);
  }
  u32(n: number): this {
    return this.raw(n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff);
  }
  str(s: string): this {
    const b = new TextEncoder().encode(s);
    return this.raw(OP.BINUNICODE).u32(b.length).raw(...b);
  }
  int(n: number | bigint): this {
    if (typeof n === 'number' && Number.isInteger(n) && n >= 0 && n < 256) return this.raw(OP.BININT1, n);
    if (typeof n === 'number' && Number.isInteger(n) && n >= -(2 ** 31) && n < 2 ** 31) return this.raw(OP.BININT).u32(n >>> 0);
    // LONG1: minimal two's-complement little-endian bytes
    let v = BigInt(n);
    const bytes: number[] = [];
    for (;;) {
      bytes.push(Number(v & 0xffn));
      const rest = v >> 8n;
      if ((rest === 0n && (bytes[bytes.length - 1]! & 0x80) === 0) || (rest === -1n && bytes[bytes.length - 1]! & 0x80)) break;
      v = rest;
    }
    return this.raw(OP.LONG1, bytes.length, ...bytes);
  }
  float(x: number): this {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setFloat64(0, x, false);
    return this.raw(OP.BINFLOAT, ...b);
  }
  bool(v: boolean): this {
    return this.raw(v ? OP.NEWTRUE : OP.NEWFALSE);
  }
  none(): this {
    return this.raw(OP.NONE);
  }
  global(module: string, name: string): this {
    return this.raw(OP.GLOBAL, ...new TextEncoder().encode(`${module}\n${name}\n`));
  }
  mark(): this {
    return this.raw(OP.MARK);
  }
  tuple(emit: (w: this) => void): this {
    this.mark();
    emit(this);
    return this.raw(OP.TUPLE);
  }
  stop(): this {
    return this.raw(OP.STOP);
  }
  bytes(): Uint8Array {
    return Uint8Array.from(this.out);
  }
}

export type StorageType = 'FloatStorage' | 'DoubleStorage' | 'HalfStorage' | 'BFloat16Storage' | 'LongStorage' | 'IntStorage';

export interface TensorSpec {
  name: string;
  storage: { type: StorageType; key: string; numel: number };
  shape: number[];
  stride?: number[];
  offset?: number;
  /** legacy only: view metadata (view_key, offset, size) */
  view?: [string, number, number];
  parameter?: boolean;
}

function contiguousStride(shape: number[]): number[] {
  const stride = new Array<number>(shape.length);
  let s = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    stride[d] = s;
    s *= shape[d]!;
  }
  return stride;
}

/** `torch._utils._rebuild_tensor_v2(persistent storage, offset, size, stride, False, OrderedDict())`. */
export function emitTensor(w: PickleWriter, t: TensorSpec, legacy = false): void {
  if (t.parameter) w.global('torch._utils', '_rebuild_parameter').mark();
  w.global('torch._utils', '_rebuild_tensor_v2');
  w.tuple(() => {
    w.tuple(() => {
      w.str('storage').global('torch', t.storage.type).str(t.storage.key).str('cpu').int(t.storage.numel);
      if (legacy) {
        if (t.view) w.tuple(() => w.str(t.view![0]).int(t.view![1]).int(t.view![2]));
        else w.none();
      }
    });
    w.op(OP.BINPERSID);
    w.int(t.offset ?? 0);
    w.tuple(() => t.shape.forEach((d) => w.int(d)));
    w.tuple(() => (t.stride ?? contiguousStride(t.shape)).forEach((d) => w.int(d)));
    w.bool(false);
    w.global('collections', 'OrderedDict').op(OP.EMPTY_TUPLE).op(OP.REDUCE);
  });
  w.op(OP.REDUCE);
  if (t.parameter) {
    w.bool(true).global('collections', 'OrderedDict').op(OP.EMPTY_TUPLE).op(OP.REDUCE).op(OP.TUPLE).op(OP.REDUCE);
  }
}

/** An OrderedDict of tensors with a `_metadata` attribute set by BUILD, as nn.Module.state_dict() pickles. */
export function emitStateDict(w: PickleWriter, tensors: TensorSpec[], legacy = false): void {
  w.global('collections', 'OrderedDict').op(OP.EMPTY_TUPLE).op(OP.REDUCE);
  w.mark();
  for (const t of tensors) {
    w.str(t.name);
    emitTensor(w, t, legacy);
  }
  w.op(OP.SETITEMS);
  w.op(OP.EMPTY_DICT).str('_metadata').global('collections', 'OrderedDict').op(OP.EMPTY_TUPLE).op(OP.REDUCE).op(OP.SETITEM).op(OP.BUILD);
}

/** data.pkl for `torch.save(obj)`: a bare state dict, or {wrapper: state dict, 'epoch': 7, ...}. */
export function stateDictPickle(tensors: TensorSpec[], opts: { wrapper?: string; legacy?: boolean } = {}): Uint8Array {
  const w = new PickleWriter().proto(2);
  if (opts.wrapper) {
    w.op(OP.EMPTY_DICT).mark();
    w.str('epoch').int(7);
    w.str('loss').float(0.25);
    w.str(opts.wrapper);
    emitStateDict(w, tensors, opts.legacy);
    w.str('optimizer').op(OP.EMPTY_DICT).str('param_groups').op(OP.EMPTY_LIST).op(OP.SETITEM);
    w.op(OP.SETITEMS);
  } else {
    emitStateDict(w, tensors, opts.legacy);
  }
  return w.stop().bytes();
}

// ---------------------------------------------------------------- zip

export interface ZipEntrySpec {
  name: string;
  data: Uint8Array;
  deflate?: boolean;
  /** write this uncompressed size in the headers instead of the real one (a lying zip) */
  declaredSize?: number;
  /** write this CRC instead of the real one */
  crc?: number;
}

/** A plain zip (no zip64), entries in order, central directory at the end. */
export function buildZip(entries: ZipEntrySpec[]): Uint8Array {
  const chunks: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = new TextEncoder().encode(e.name);
    const body = e.deflate ? new Uint8Array(deflateRawSync(e.data)) : e.data;
    const crc = e.crc ?? crc32(e.data);
    const size = e.declaredSize ?? e.data.length;
    const method = e.deflate ? 8 : 0;
    const local = new DataView(new ArrayBuffer(30));
    local.setUint32(0, 0x04034b50, true);
    local.setUint16(4, 20, true);
    local.setUint16(6, 0x0800, true);
    local.setUint16(8, method, true);
    local.setUint32(14, crc, true);
    local.setUint32(18, body.length, true);
    local.setUint32(22, size, true);
    local.setUint16(26, name.length, true);
    chunks.push(new Uint8Array(local.buffer), name, body);
    const dir = new DataView(new ArrayBuffer(46));
    dir.setUint32(0, 0x02014b50, true);
    dir.setUint16(4, 20, true);
    dir.setUint16(6, 20, true);
    dir.setUint16(8, 0x0800, true);
    dir.setUint16(10, method, true);
    dir.setUint32(16, crc, true);
    dir.setUint32(20, body.length, true);
    dir.setUint32(24, size, true);
    dir.setUint16(28, name.length, true);
    dir.setUint32(42, offset, true);
    central.push(new Uint8Array(dir.buffer), name);
    offset += 30 + name.length + body.length;
  }
  const dirSize = central.reduce((s, c) => s + c.length, 0);
  const end = new DataView(new ArrayBuffer(22));
  end.setUint32(0, 0x06054b50, true);
  end.setUint16(8, entries.length, true);
  end.setUint16(10, entries.length, true);
  end.setUint32(12, dirSize, true);
  end.setUint32(16, offset, true);
  return concat([...chunks, ...central, new Uint8Array(end.buffer)]);
}

/** torch's zip container: archive/data.pkl, archive/version, archive/data/<key>. */
export function torchZip(pickle: Uint8Array, storages: Record<string, Uint8Array>, opts: { deflate?: boolean; archive?: string } = {}): Uint8Array {
  const archive = opts.archive ?? 'archive';
  return buildZip([
    { name: `${archive}/data.pkl`, data: pickle, deflate: opts.deflate },
    { name: `${archive}/version`, data: new TextEncoder().encode('3\n') },
    ...Object.entries(storages).map(([key, data]) => ({ name: `${archive}/data/${key}`, data, deflate: opts.deflate })),
  ]);
}

// ---------------------------------------------------------------- legacy

/** torch.save(..., _use_new_zipfile_serialization=False). */
export function legacyCheckpoint(pickle: Uint8Array, storages: [key: string, numel: number, data: Uint8Array][]): Uint8Array {
  const magic = new PickleWriter().proto(2).int(0x1950a86a20f9469cfc6cn).stop().bytes();
  const protocol = new PickleWriter().proto(2).raw(OP.BININT2, 1001 & 0xff, 1001 >> 8).stop().bytes();
  const sysInfo = new PickleWriter().proto(2).op(OP.EMPTY_DICT).mark();
  sysInfo.str('protocol_version').raw(OP.BININT2, 1001 & 0xff, 1001 >> 8).str('little_endian').bool(true);
  sysInfo.str('type_sizes').op(OP.EMPTY_DICT).mark().str('short').int(2).str('int').int(4).str('long').int(4).op(OP.SETITEMS);
  sysInfo.op(OP.SETITEMS).stop();
  const keys = new PickleWriter().proto(2).op(OP.EMPTY_LIST).mark();
  for (const [key] of storages) keys.str(key);
  keys.op(OP.APPENDS).stop();
  const data: Uint8Array[] = [];
  for (const [, numel, bytes] of storages) {
    const count = new Uint8Array(8);
    new DataView(count.buffer).setBigInt64(0, BigInt(numel), true);
    data.push(count, bytes);
  }
  return concat([magic, protocol, sysInfo.bytes(), pickle, keys.bytes(), ...data]);
}

// ---------------------------------------------------------------- data

export function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export const f32 = (values: number[]) => new Uint8Array(Float32Array.from(values).buffer);
export const f64 = (values: number[]) => new Uint8Array(Float64Array.from(values).buffer);
export const i64 = (values: number[]) => new Uint8Array(BigInt64Array.from(values.map(BigInt)).buffer);
export const i32 = (values: number[]) => new Uint8Array(Int32Array.from(values).buffer);
/** float16 bits of small exactly representable values (sign, exponent, mantissa by hand). */
export const f16 = (bits: number[]) => new Uint8Array(Uint16Array.from(bits).buffer);
