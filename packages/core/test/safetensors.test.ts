import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  bfloat16ToFloat32,
  float32ToBfloat16,
  float32ToHalf,
  halfToFloat32,
  readSafetensors,
  readSafetensorsHeader,
  writeSafetensors,
  type SafeTensor,
} from '../src/safetensors.js';

const FIXTURE = fileURLToPath(new URL('../../../../shared/fixtures/compressai-golden/bmshj2018-hyperprior/state_dict.safetensors', import.meta.url));

/** Build a file from a literal header object and raw data bytes (no validation). */
function rawFile(header: unknown, data: Uint8Array = new Uint8Array(0), declaredLength?: bigint): Uint8Array {
  const json = header instanceof Uint8Array ? header : new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, declaredLength ?? BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

function expectBadWeights(fn: () => unknown, message: RegExp): void {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught, 'expected a PsicError').toBeDefined();
  expect((caught as { code?: string }).code).toBe('BAD_WEIGHTS');
  expect((caught as Error).message).toMatch(message);
}

describe('writeSafetensors / readSafetensors', () => {
  it('round-trips every dtype with shapes and metadata', () => {
    const tensors: Record<string, SafeTensor> = {
      f64: { dtype: 'F64', shape: [2], data: Float64Array.of(Math.PI, -1e300) },
      f32: { dtype: 'F32', shape: [2, 2], data: Float32Array.of(1.5, -2, 3.25, 1e-30) },
      f16: { dtype: 'F16', shape: [3], data: Float32Array.of(1, -0.5, 65504) },
      bf16: { dtype: 'BF16', shape: [2], data: Float32Array.of(1, -3) },
      i64: { dtype: 'I64', shape: [2], data: BigInt64Array.of(-(2n ** 62n), 7n) },
      i32: { dtype: 'I32', shape: [1, 3], data: Int32Array.of(-1, 2 ** 31 - 1, 0) },
      i16: { dtype: 'I16', shape: [2], data: Int16Array.of(-32768, 5) },
      i8: { dtype: 'I8', shape: [2], data: Int8Array.of(-128, 127) },
      u8: { dtype: 'U8', shape: [3], data: Uint8Array.of(0, 128, 255) },
      u16: { dtype: 'U16', shape: [1], data: Uint16Array.of(65535) },
      u32: { dtype: 'U32', shape: [1], data: Uint32Array.of(2 ** 32 - 1) },
      u64: { dtype: 'U64', shape: [1], data: BigUint64Array.of(2n ** 64n - 1n) },
      bool: { dtype: 'BOOL', shape: [2], data: Uint8Array.of(1, 0) },
      scalar: { dtype: 'F32', shape: [], data: Float32Array.of(42) },
      empty: { dtype: 'F32', shape: [0, 3], data: new Float32Array(0) },
    };
    const bytes = writeSafetensors(tensors, { format: 'pt', note: 'hi' });
    const headerLength = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect(headerLength % 8).toBe(0);
    const file = readSafetensors(bytes);
    expect(file.metadata).toEqual({ format: 'pt', note: 'hi' });
    expect([...file.tensors.keys()].sort()).toEqual(Object.keys(tensors).sort());
    for (const [name, t] of Object.entries(tensors)) {
      const back = file.tensors.get(name)!;
      expect(back.dtype).toBe(t.dtype);
      expect(back.shape).toEqual(t.shape);
      expect(back.data).toEqual(t.data);
    }
  });

  it('is deterministic: sorted names, data in name order', () => {
    const a = writeSafetensors({ b: { dtype: 'U8', shape: [1], data: Uint8Array.of(2) }, a: { dtype: 'U8', shape: [1], data: Uint8Array.of(1) } });
    const b = writeSafetensors(new Map([['a', { dtype: 'U8' as const, shape: [1], data: Uint8Array.of(1) }], ['b', { dtype: 'U8' as const, shape: [1], data: Uint8Array.of(2) }]]));
    expect(a).toEqual(b);
    expect(Array.from(a.subarray(a.length - 2))).toEqual([1, 2]);
  });

  it('rejects arrays that do not fit the declared shape or dtype (caller bugs)', () => {
    expect(() => writeSafetensors({ x: { dtype: 'F32', shape: [3], data: new Float32Array(2) } })).toThrow(RangeError);
    expect(() => writeSafetensors({ x: { dtype: 'F32', shape: [2], data: new Float64Array(2) } })).toThrow(TypeError);
    expect(() => writeSafetensors({ __metadata__: { dtype: 'F32', shape: [0], data: new Float32Array(0) } })).toThrow(RangeError);
  });

  it("reads CompressAI's state_dict.safetensors and writes it back byte for byte", () => {
    const bytes = new Uint8Array(readFileSync(FIXTURE));
    const file = readSafetensors(bytes);
    expect(file.tensors.size).toBe(91);
    expect(file.tensors.get('g_a.0.weight')!.shape).toEqual([16, 3, 5, 5]);
    expect(file.tensors.get('entropy_bottleneck._quantized_cdf')!.data).toBeInstanceOf(Int32Array);
    expect(writeSafetensors(file.tensors, file.metadata)).toEqual(bytes);
    const header = readSafetensorsHeader(bytes);
    expect(header.entries).toHaveLength(91);
    expect(header.metadata.format).toBe('pt');
  });
});

describe('16-bit floats', () => {
  it('decodes half precision exactly, including subnormals, infinities and NaN', () => {
    const half = Uint16Array.of(0x0000, 0x8000, 0x3c00, 0xc000, 0x7bff, 0x0001, 0x03ff, 0x0400, 0x7c00, 0xfc00, 0x7e00, 0x3555);
    const f = halfToFloat32(half);
    expect(Array.from(f.subarray(0, 10))).toEqual([0, -0, 1, -2, 65504, 2 ** -24, 1023 * 2 ** -24, 2 ** -14, Infinity, -Infinity]);
    expect(Number.isNaN(f[10])).toBe(true);
    expect(f[11]).toBe(Math.fround(0.333251953125));
  });

  it('encodes to half with round-to-nearest-even, overflow and underflow', () => {
    const values = Float32Array.of(1, 1 + 2 ** -11, 1 + 3 * 2 ** -11, 65504, 65520, 1e-8, 2 ** -25, 3 * 2 ** -26, -0, NaN);
    const h = float32ToHalf(values);
    expect(Array.from(h.subarray(0, 9), (v) => v.toString(16))).toEqual(['3c00', '3c00', '3c02', '7bff', '7c00', '0', '0', '1', '8000']);
    expect(h[9] & 0x7c00).toBe(0x7c00);
    expect(h[9] & 0x3ff).not.toBe(0);
    // Every half value survives float32 and back.
    const all = Uint16Array.from({ length: 65536 }, (_, i) => i).filter((v) => (v & 0x7c00) !== 0x7c00 || (v & 0x3ff) === 0);
    expect(float32ToHalf(halfToFloat32(all))).toEqual(all);
  });

  it('converts bfloat16 both ways with rounding', () => {
    expect(Array.from(bfloat16ToFloat32(Uint16Array.of(0x3f80, 0xc040)))).toEqual([1, -3]);
    expect(Array.from(float32ToBfloat16(Float32Array.of(1 + 2 ** -8, 1 + 3 * 2 ** -8)), (v) => v.toString(16))).toEqual(['3f80', '3f82']);
  });
});

describe('hostile files are PsicError BAD_WEIGHTS before allocation', () => {
  const good = { x: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } };
  const eight = new Uint8Array(8);

  it('accepts the well-formed baseline', () => {
    expect(readSafetensors(rawFile(good, eight)).tensors.get('x')!.data).toEqual(new Float32Array(2));
  });

  it.each([
    ['a file shorter than the length prefix', () => Uint8Array.of(1, 2, 3), /too short/],
    ['a header length past the end', () => rawFile(good, eight, 10_000n), /exceeds the .* bytes that follow/],
    ['a header length of 2^64-1', () => rawFile(good, eight, 2n ** 64n - 1n), /exceeds/],
    ['invalid JSON', () => rawFile('{"x": [', eight), /not valid JSON/],
    ['invalid UTF-8', () => rawFile(Uint8Array.of(0x7b, 0xff, 0x7d), eight), /not valid UTF-8/],
    ['a JSON array header', () => rawFile([1, 2], eight), /must be a JSON object/],
    ['an unknown dtype', () => rawFile({ x: { ...good.x, dtype: 'F8' } }, eight), /unsupported dtype/],
    ['a negative dimension', () => rawFile({ x: { ...good.x, shape: [-2] } }, eight), /shape/],
    ['a fractional dimension', () => rawFile({ x: { ...good.x, shape: [1.5] } }, eight), /shape/],
    ['a shape that does not fill the span', () => rawFile({ x: { ...good.x, shape: [3] } }, eight), /needs 12 bytes but data_offsets span 8/],
    ['a huge shape', () => rawFile({ x: { ...good.x, shape: [2 ** 40, 2 ** 40] } }, eight), /needs/],
    ['offsets running past the data', () => rawFile({ x: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, eight), /run past/],
    ['reversed offsets', () => rawFile({ x: { dtype: 'F32', shape: [0], data_offsets: [8, 0] } }, eight), /end before/],
    ['offsets that are not two numbers', () => rawFile({ x: { dtype: 'F32', shape: [2], data_offsets: [0] } }, eight), /data_offsets/],
    [
      'overlapping tensors',
      () => rawFile({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, eight),
      /overlap/,
    ],
    ['a gap before a tensor', () => rawFile({ x: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, eight), /gap/],
    ['trailing bytes no tensor owns', () => rawFile({ x: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, eight), /trailing/],
    ['non-string metadata', () => rawFile({ __metadata__: { n: 3 }, ...good }, eight), /__metadata__\.n must be a string/],
    ['an entry that is not an object', () => rawFile({ x: 3 }, eight), /entry must be an object/],
  ])('rejects %s', (_what, make, message) => {
    expectBadWeights(() => readSafetensors(make()), message);
  });

  it('enforces the caller limits', () => {
    const bytes = rawFile(good, eight);
    expectBadWeights(() => readSafetensors(bytes, { maxHeaderBytes: 16 }), /limit of 16 bytes/);
    expectBadWeights(() => readSafetensors(bytes, { maxDataBytes: 4 }), /limit of 4/);
    expectBadWeights(() => readSafetensors(bytes, { maxTensors: 0 }), /limit of 0/);
    expectBadWeights(() => readSafetensors(rawFile({ x: { dtype: 'F32', shape: [1, 1, 1, 2], data_offsets: [0, 8] } }, eight), { maxRank: 3 }), /at most 3/);
  });

  it('turns every corruption of a valid file into a PsicError or a valid result (fuzz)', () => {
    const base = writeSafetensors({
      'g_a.0.weight': { dtype: 'F32', shape: [2, 3], data: Float32Array.from({ length: 6 }, (_, i) => i) },
      'g_a.0.bias': { dtype: 'F16', shape: [2], data: Float32Array.of(1, 2) },
      idx: { dtype: 'I64', shape: [1], data: BigInt64Array.of(5n) },
    });
    let seed = 12345;
    const next = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0);
    for (let trial = 0; trial < 3000; trial++) {
      const bytes = base.slice(0, trial % 7 === 0 ? next() % base.length : base.length);
      for (let k = 1 + (next() % 4); k > 0 && bytes.length > 0; k--) bytes[next() % bytes.length] = next() & 0xff;
      try {
        readSafetensors(bytes);
      } catch (err) {
        expect((err as { code?: string }).code).toBe('BAD_WEIGHTS');
      }
    }
  });
});
