/**
 * The protobuf writer against hand-encoded bytes from the protobuf encoding
 * spec (varints, negative int64, fixed32 floats, nested messages, packed
 * fields); the ONNX messages built on it are checked by loading them in
 * onnxruntime (export.test.ts).
 */
import { describe, expect, it } from 'vitest';
import { encodeModel, ProtoWriter } from '../src/index.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

describe('ProtoWriter', () => {
  it('writes varints as the spec does', () => {
    expect(hex(new ProtoWriter().int(1, 150).finish())).toBe('089601');
    expect(hex(new ProtoWriter().int(1, 300).finish())).toBe('08ac02');
    expect(hex(new ProtoWriter().int(1, 0).finish())).toBe('0800');
    // above 32 bits: 2^35 = 0x800000000
    expect(hex(new ProtoWriter().int(2, 2 ** 35).finish())).toBe('108080808080' + '01');
  });

  it('writes a negative int64 as ten bytes of two complement', () => {
    expect(hex(new ProtoWriter().int(1, -1).finish())).toBe('08ffffffffffffffffff01');
    expect(hex(new ProtoWriter().int(1, -2n).finish())).toBe('08feffffffffffffffff01');
  });

  it('writes strings, nested messages and large field numbers with their length prefix', () => {
    expect(hex(new ProtoWriter().string(2, 'testing').finish())).toBe('120774657374696e67');
    const inner = new ProtoWriter().int(1, 150);
    expect(hex(new ProtoWriter().message(3, inner).finish())).toBe('1a03089601');
    // field 20 (AttributeProto.type): tag (20 << 3) | 0 = 160 -> a0 01
    expect(hex(new ProtoWriter().int(20, 7).finish())).toBe('a00107');
  });

  it('writes floats little-endian and packs repeated ints', () => {
    expect(hex(new ProtoWriter().float(2, 1).finish())).toBe('150000803f');
    expect(hex(new ProtoWriter().packedInts(4, [3, 270, 86942]).finish())).toBe('2206038e029ea705');
  });

  it('joins chunks in order whatever their mix of small and large writes', () => {
    const big = new Uint8Array(1000).map((_, i) => i & 0xff);
    const w = new ProtoWriter().int(1, 5).bytes(2, big).int(3, 6);
    const out = w.finish();
    expect(out.length).toBe(w.length);
    expect(out.length).toBe(2 + 3 + 1000 + 2);
    expect(hex(out.subarray(0, 5))).toBe('0805' + '12e807');
    expect(out[5 + 999]).toBe(999 & 0xff);
    expect(hex(out.subarray(1005))).toBe('1806');
  });

  it('rejects numbers a varint cannot hold exactly and bad field numbers', () => {
    expect(() => new ProtoWriter().int(1, 2 ** 60)).toThrow(RangeError);
    expect(() => new ProtoWriter().int(1, 1.5)).toThrow(RangeError);
    expect(() => new ProtoWriter().int(0, 1)).toThrow(RangeError);
  });
});

describe('encodeModel', () => {
  it('refuses a float attribute written as an int and a tensor whose data does not fill its dims', () => {
    const graph = (attributes: Record<string, never>, data = new Float32Array(2)) => ({
      graph: { name: 'g', nodes: [{ opType: 'Relu', inputs: ['x'], outputs: ['y'], attributes }], initializers: [{ name: 'w', dims: [3], data }], inputs: [{ name: 'x', dims: [1] }], outputs: [{ name: 'y', dims: [1] }] },
    });
    expect(() => encodeModel(graph({ alpha: 0.5 as never }, new Float32Array(3)))).toThrow(/not an integer/);
    expect(() => encodeModel(graph({}))).toThrow(/need 3 values/);
  });
});
