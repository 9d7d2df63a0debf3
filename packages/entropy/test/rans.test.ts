import { describe, expect, it } from 'vitest';
import { CdfTableSet, pmfToQuantizedCdf, type CdfTable } from '../src/cdf.js';
import { BitstreamError } from '../src/errors.js';
import { decodeWithIndexes, encodeWithIndexes } from '../src/rans.js';
import { mulberry32 } from './helpers.js';

const INT32_MAX = 2 ** 31 - 1;
const INT32_MIN = -(2 ** 31);

// ---------------------------------------------------------------- helpers


/** erfc from the Taylor series of erf near 0 and the continued fraction in the tails. */
function erfc(x: number): number {
  if (x < 0) return 2 - erfc(-x);
  if (x < 2.5) {
    let term = x;
    let sum = x;
    for (let n = 1; n < 80; n++) {
      term *= (-x * x) / n;
      sum += term / (2 * n + 1);
    }
    return 1 - (2 / Math.sqrt(Math.PI)) * sum;
  }
  let fraction = x;
  for (let k = 60; k >= 1; k--) fraction = x + k / 2 / fraction;
  return Math.exp(-x * x) / Math.sqrt(Math.PI) / fraction;
}

const normalCdf = (x: number) => 0.5 * erfc(-x / Math.SQRT2);

/** Zero-mean Gaussian of the given scale discretised over [-k, k], k = ceil(7 scale); both tails on the escape. */
function gaussianTable(scale: number): CdfTable {
  const k = Math.ceil(scale * 7);
  const pmf = Array.from({ length: 2 * k + 1 }, (_, i) => normalCdf((i - k + 0.5) / scale) - normalCdf((i - k - 0.5) / scale));
  return { cdf: pmfToQuantizedCdf(pmf, 2 * normalCdf(-(k + 0.5) / scale)), offset: -k };
}

/** Discrete Laplacian exp(-|v|/b) over [-k, k]. */
function laplacianTable(b: number): CdfTable {
  const k = Math.ceil(b * 12);
  const pmf = Array.from({ length: 2 * k + 1 }, (_, i) => Math.exp(-Math.abs(i - k) / b));
  return { cdf: pmfToQuantizedCdf(pmf, 2 * Math.exp(-(k + 1) / b)), offset: -k };
}

function uniformTable(n: number, offset: number): CdfTable {
  return { cdf: pmfToQuantizedCdf(new Float64Array(n).fill(1), 0), offset };
}

function gaussianSample(rng: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng());
}

/** Bits of an escape's bypass part: 6 for the bit length k of raw, then k - 1. */
function bypassBits(raw: number): number {
  const k = raw === 0 ? 0 : Math.floor(Math.log2(raw)) + 1;
  return 6 + Math.max(0, k - 1);
}

/** -sum log2 p under the quantised frequencies; escapes add their bypass bits. */
function idealBits(values: Int32Array, indexes: Int32Array, set: CdfTableSet): number {
  const tables = Array.from({ length: set.size }, (_, t) => set.table(t));
  let bits = 0;
  for (let i = 0; i < values.length; i++) {
    const { cdf, offset } = tables[indexes[i]!]!;
    const n = cdf.length - 2;
    const s = values[i]! - offset;
    if (s >= 0 && s < n) {
      bits -= Math.log2((cdf[s + 1]! - cdf[s]!) / 65536);
    } else {
      bits -= Math.log2((cdf[n + 1]! - cdf[n]!) / 65536);
      bits += bypassBits(s < 0 ? -2 * s - 1 : 2 * (s - n));
    }
  }
  return bits;
}

/** Round trip, and the coded size within 1% (+ 6 bytes: the 4-byte state and slack) of the ideal. */
function expectRoundTrip(values: Int32Array, indexes: Int32Array, set: CdfTableSet): Uint8Array {
  const stream = encodeWithIndexes(values, indexes, set);
  const decoded = decodeWithIndexes(stream, indexes, set);
  expect(decoded).toBeInstanceOf(Int32Array);
  expect(decoded.length).toBe(values.length);
  const firstMismatch = values.findIndex((v, i) => decoded[i] !== v);
  expect(firstMismatch, `first mismatch at ${firstMismatch}`).toBe(-1);
  const idealBytes = idealBits(values, indexes, set) / 8;
  expect(stream.length).toBeLessThanOrEqual(idealBytes * 1.01 + 6);
  expect(stream.length).toBeGreaterThanOrEqual(idealBytes - 4); // sanity of the ideal itself
  return stream;
}

function decodeError(data: Uint8Array, indexes: Int32Array, set: CdfTableSet): BitstreamError {
  try {
    decodeWithIndexes(data, indexes, set);
  } catch (error) {
    if (error instanceof BitstreamError) return error;
    throw error;
  }
  throw new Error('expected a BitstreamError, but the stream decoded');
}

/**
 * A deliberately plain rANS encoder written from the format description (module
 * comment of rans.ts): ops in decoding order, each (start, freq) out of 2^bits.
 * It pins the byte format and lets tests craft streams the real encoder never writes.
 */
interface Op {
  start: number;
  freq: number;
  bits: number;
}

function referenceEncode(ops: Op[]): Uint8Array {
  const low = 2 ** 23;
  let x = low;
  const backwards: number[] = [];
  for (let j = ops.length - 1; j >= 0; j--) {
    const { start, freq, bits } = ops[j]!;
    const xMax = (low / 2 ** bits) * 256 * freq;
    while (x >= xMax) {
      backwards.push(x % 256);
      x = Math.floor(x / 256);
    }
    x = Math.floor(x / freq) * 2 ** bits + (x % freq) + start;
  }
  const state = [Math.floor(x / 2 ** 24), Math.floor(x / 2 ** 16) % 256, Math.floor(x / 256) % 256, x % 256];
  return Uint8Array.from([...state, ...backwards.reverse()]);
}

/** The ops of encodeWithIndexes, spelled out: symbol, or escape + 6-bit k + raw's lower bits, high part first. */
function referenceOps(values: Int32Array, indexes: Int32Array, set: CdfTableSet): Op[] {
  const ops: Op[] = [];
  const tables = Array.from({ length: set.size }, (_, t) => set.table(t));
  for (let i = 0; i < values.length; i++) {
    const { cdf, offset } = tables[indexes[i]!]!;
    const n = cdf.length - 2;
    const s = values[i]! - offset;
    const symbol = s >= 0 && s < n ? s : n;
    ops.push({ start: cdf[symbol]!, freq: cdf[symbol + 1]! - cdf[symbol]!, bits: 16 });
    if (symbol === n) ops.push(...bypassOps(s < 0 ? -2 * s - 1 : 2 * (s - n)));
  }
  return ops;
}

function bypassOps(raw: number, claimedK?: number): Op[] {
  const k = raw === 0 ? 0 : Math.floor(Math.log2(raw)) + 1;
  const ops: Op[] = [{ start: claimedK ?? k, freq: 1, bits: 6 }];
  let left = k - 1;
  while (left > 0) {
    const nbits = left % 16 || 16;
    left -= nbits;
    ops.push({ start: Math.floor(raw / 2 ** left) % 2 ** nbits, freq: 1, bits: nbits });
  }
  return ops;
}

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');

// ---------------------------------------------------------------- tests

describe('rANS round trips', () => {
  const scales = [0.11, 0.2, 0.35, 0.6, 1, 1.7, 3, 5, 9, 16, 30, 60, 120, 256];
  const gaussians = new CdfTableSet(scales.map(gaussianTable));

  it('Gaussian tables at every scale, one at a time', () => {
    const rng = mulberry32(11);
    scales.forEach((scale, t) => {
      const count = 20_000;
      const values = Int32Array.from({ length: count }, () => Math.round(scale * gaussianSample(rng)));
      expectRoundTrip(values, new Int32Array(count).fill(t), gaussians);
    });
  });

  it('Gaussian tables mixed symbol by symbol', () => {
    const rng = mulberry32(12);
    const count = 200_000;
    const indexes = Int32Array.from({ length: count }, () => Math.floor(rng() * scales.length));
    const values = Int32Array.from(indexes, (t) => Math.round(scales[t]! * gaussianSample(rng)));
    expectRoundTrip(values, indexes, gaussians);
  });

  it('Laplacian tables', () => {
    const rng = mulberry32(13);
    const bs = [0.2, 1, 4, 20];
    const set = new CdfTableSet(bs.map(laplacianTable));
    const count = 50_000;
    const indexes = Int32Array.from({ length: count }, () => Math.floor(rng() * bs.length));
    // Inverse-CDF sampling of a continuous Laplacian, rounded.
    const values = Int32Array.from(indexes, (t) => {
      const u = rng() - 0.5;
      return Math.round(-bs[t]! * Math.sign(u) * Math.log(1 - 2 * Math.abs(u)));
    });
    expectRoundTrip(values, indexes, set);
  });

  it('uniform tables, up to the largest (2^16 - 1 direct symbols)', () => {
    const rng = mulberry32(14);
    for (const [n, offset] of [
      [1, 0],
      [2, -1],
      [255, 7],
      [4096, -2048],
      [65_535, -30_000],
    ] as const) {
      const set = new CdfTableSet([uniformTable(n, offset)]);
      const count = 30_000;
      const values = Int32Array.from({ length: count }, () => offset + Math.floor(rng() * n));
      expectRoundTrip(values, new Int32Array(count), set);
    }
  });

  it('heavy outliers through the escape path, int32 extremes included', () => {
    const rng = mulberry32(15);
    const set = new CdfTableSet([
      gaussianTable(0.5),
      gaussianTable(40),
      uniformTable(3, INT32_MAX - 2), // the top of the int32 range
      uniformTable(3, INT32_MIN), // the bottom
      uniformTable(10, 0),
    ]);
    const extremes = [INT32_MAX, INT32_MIN, INT32_MAX - 1, INT32_MIN + 1, 0, -1, 1, 2 ** 16, -(2 ** 16), 2 ** 30, -(2 ** 30)];
    const count = 40_000;
    const indexes = Int32Array.from({ length: count }, () => Math.floor(rng() * set.size));
    const values = Int32Array.from(indexes, (t) => {
      const r = rng();
      if (r < 0.05) return extremes[Math.floor(rng() * extremes.length)]!;
      if (r < 0.2) return Math.floor((rng() - 0.5) * 2 ** 32); // anywhere in int32
      if (r < 0.3) return set.table(t).offset + (rng() < 0.5 ? -1 - Math.floor(rng() * 4) : set.table(t).cdf.length - 2 + Math.floor(rng() * 4)); // near misses
      return set.table(t).offset + Math.floor(rng() * (set.table(t).cdf.length - 2));
    });
    expectRoundTrip(values, indexes, set);
    // Every table, every extreme, alone.
    for (let t = 0; t < set.size; t++) {
      const only = Int32Array.from(extremes);
      expectRoundTrip(only, new Int32Array(only.length).fill(t), set);
    }
  });

  it('single-symbol tables: the symbol is nearly free, anything else escapes', () => {
    const set = new CdfTableSet([{ cdf: pmfToQuantizedCdf([1], 1e-9), offset: 5 }, { cdf: pmfToQuantizedCdf([1], 0.5), offset: -3 }]);
    const fives = new Int32Array(100_000).fill(5);
    const stream = expectRoundTrip(fives, new Int32Array(fives.length), set);
    expect(stream.length).toBeLessThan(10); // 100k symbols at ~2e-5 bits each
    expectRoundTrip(Int32Array.of(5, 6, 4, -3, -2, -4, INT32_MAX, INT32_MIN), Int32Array.of(0, 0, 0, 1, 1, 1, 0, 1), set);
  });

  it('mixed tables with different offsets and sizes', () => {
    const rng = mulberry32(16);
    const tables = Array.from({ length: 40 }, (_, t) => {
      const n = 1 + Math.floor(rng() ** 2 * 3000);
      const pmf = Array.from({ length: n }, () => rng() ** 3 + 1e-9);
      return { cdf: pmfToQuantizedCdf(pmf, [0, 1e-9, 1e-3][t % 3]!), offset: Math.floor((rng() - 0.5) * 1e6) };
    });
    const set = new CdfTableSet(tables);
    const count = 100_000;
    const indexes = Int32Array.from({ length: count }, () => Math.floor(rng() * tables.length));
    const values = Int32Array.from(indexes, (t) => {
      // Draw from the table's own distribution (inverse CDF), now and then off the table.
      const { cdf, offset } = tables[t]!;
      if (rng() < 0.01) return offset + Math.floor((rng() - 0.5) * 1e5);
      const u = rng() * 65536;
      let s = 0;
      while (cdf[s + 1]! <= u) s++;
      return offset + Math.min(s, cdf.length - 3);
    });
    expectRoundTrip(values, indexes, set);
  });

  it('codes nothing as the bare initial state', () => {
    const set = new CdfTableSet([uniformTable(4, 0)]);
    const stream = encodeWithIndexes(new Int32Array(0), new Int32Array(0), set);
    expect(hex(stream)).toBe('00800000');
    expect(decodeWithIndexes(stream, new Int32Array(0), set).length).toBe(0);
    expect(decodeWithIndexes(stream, new Int32Array(0), new CdfTableSet([])).length).toBe(0);
  });

  it('decodes from a view into a larger buffer (container sections are subarrays)', () => {
    const rng = mulberry32(17);
    const values = Int32Array.from({ length: 5000 }, () => Math.round(9 * gaussianSample(rng)));
    const indexes = new Int32Array(values.length).fill(8);
    const stream = encodeWithIndexes(values, indexes, gaussians);
    const framed = new Uint8Array(stream.length + 20).fill(0xee);
    framed.set(stream, 7);
    expect(Array.from(decodeWithIndexes(framed.subarray(7, 7 + stream.length), indexes, gaussians))).toEqual(Array.from(values));
  });

  it('grows its output buffer for dense streams', () => {
    const rng = mulberry32(18);
    // 16 bits per symbol, then ~54 bits per symbol (all escapes to the far end of int32).
    const wide = new CdfTableSet([uniformTable(65_535, 0), { cdf: pmfToQuantizedCdf([1], 0), offset: 0 }]);
    const count = 20_000;
    const dense = Int32Array.from({ length: count }, () => Math.floor(rng() * 65_535));
    expectRoundTrip(dense, new Int32Array(count), wide);
    const far = Int32Array.from({ length: count }, () => (rng() < 0.5 ? INT32_MIN + Math.floor(rng() * 100) : INT32_MAX - Math.floor(rng() * 100)));
    const stream = expectRoundTrip(far, new Int32Array(count).fill(1), wide);
    expect(stream.length).toBeGreaterThan(count * 6);
  });
});

describe('rANS byte format', () => {
  it('matches a plain reference encoder byte for byte', () => {
    const rng = mulberry32(21);
    const set = new CdfTableSet([gaussianTable(0.3), gaussianTable(7), uniformTable(3, INT32_MAX - 2), uniformTable(5, INT32_MIN), uniformTable(65_535, -9)]);
    for (let trial = 0; trial < 30; trial++) {
      const count = Math.floor(rng() * 400);
      const indexes = Int32Array.from({ length: count }, () => Math.floor(rng() * set.size));
      const values = Int32Array.from(indexes, (t) => {
        const r = rng();
        if (r < 0.1) return Math.floor((rng() - 0.5) * 2 ** 32);
        if (r < 0.15) return [INT32_MAX, INT32_MIN][Math.floor(rng() * 2)]!;
        return set.table(t).offset + Math.floor(rng() * (set.table(t).cdf.length - 2));
      });
      const stream = encodeWithIndexes(values, indexes, set);
      expect(hex(stream)).toBe(hex(referenceEncode(referenceOps(values, indexes, set))));
    }
  });

  it('is stable: a golden stream', () => {
    const set = new CdfTableSet([{ cdf: pmfToQuantizedCdf([0.25, 0.5, 0.25], 1e-3), offset: -1 }]);
    const values = Int32Array.of(0, 1, -1, 0, 0, 2, -3, 1000, INT32_MAX, INT32_MIN);
    const stream = encodeWithIndexes(values, new Int32Array(values.length), set);
    // Changing these bytes breaks every stored file: only ever on purpose.
    expect(hex(stream)).toBe(GOLDEN_STREAM);
  });

  it('is deterministic', () => {
    const rng = mulberry32(22);
    const set = new CdfTableSet([gaussianTable(3)]);
    const values = Int32Array.from({ length: 10_000 }, () => Math.round(3 * gaussianSample(rng)));
    const indexes = new Int32Array(values.length);
    expect(hex(encodeWithIndexes(values, indexes, set))).toBe(hex(encodeWithIndexes(values.slice(), indexes.slice(), CdfTableSet.unpack(set.pack()))));
  });
});

// cdf [0, 16368, 49103, 65471, 65536]; 7 direct bits, then escapes of k = 0, 2, 11, 32, 32.
const GOLDEN_STREAM = '788eb78df780ffc2dbcbccfbe0fffffafffde0fffd0000';

describe('rANS arguments (RangeError) and damaged streams (BitstreamError)', () => {
  const set = new CdfTableSet([gaussianTable(2), uniformTable(8, -4)]);
  const rng = mulberry32(31);
  const values = Int32Array.from({ length: 3000 }, () => Math.round(2 * gaussianSample(rng)));
  const indexes = Int32Array.from(values, (_, i) => i % 2);
  const stream = encodeWithIndexes(values, indexes, set);

  it('refuses bad arguments with RangeError', () => {
    expect(() => encodeWithIndexes(values, indexes.subarray(1), set)).toThrow(RangeError);
    expect(() => encodeWithIndexes(Int32Array.of(0), Int32Array.of(2), set)).toThrow(RangeError);
    expect(() => encodeWithIndexes(Int32Array.of(0), Int32Array.of(-1), set)).toThrow(RangeError);
    expect(() => encodeWithIndexes([0] as never, Int32Array.of(0), set)).toThrow(RangeError);
    expect(() => encodeWithIndexes(Int32Array.of(0), [0] as never, set)).toThrow(RangeError);
    expect(() => encodeWithIndexes(Int32Array.of(0), Int32Array.of(0), {} as never)).toThrow(RangeError);
    expect(() => decodeWithIndexes(stream, Int32Array.of(0, 1, 2), set)).toThrow(RangeError);
    expect(() => decodeWithIndexes(stream, Int32Array.of(-5), set)).toThrow(RangeError);
    expect(() => decodeWithIndexes(Array.from(stream) as never, indexes, set)).toThrow(RangeError);
    expect(() => decodeWithIndexes(stream, Array.from(indexes) as never, set)).toThrow(RangeError);
    // An index is checked before any byte is read.
    expect(() => decodeWithIndexes(new Uint8Array(0), Int32Array.of(9), set)).toThrow(RangeError);
  });

  it('TRUNCATED for every strict prefix that ends inside the data', () => {
    expect(decodeError(new Uint8Array(0), indexes, set).code).toBe('TRUNCATED');
    for (let length = 0; length < stream.length; length++) {
      const error = decodeError(stream.subarray(0, length), indexes, set);
      // Too short a prefix can also run the state check before the data runs out.
      expect(['TRUNCATED', 'CORRUPT_STREAM']).toContain(error.code);
      if (length < 4) expect(error.code).toBe('TRUNCATED');
    }
    expect(decodeError(stream.subarray(0, stream.length - 1), indexes, set).code).toBe('TRUNCATED');
  });

  it('CORRUPT_STREAM for trailing bytes, a wrong count, a bad initial state or changed bytes', () => {
    const longer = new Uint8Array(stream.length + 1);
    longer.set(stream);
    expect(decodeError(longer, indexes, set).code).toBe('CORRUPT_STREAM');
    expect(decodeError(stream, indexes.subarray(0, indexes.length - 1), set).code).toBe('CORRUPT_STREAM');
    expect(decodeError(Uint8Array.of(0x80, 0, 0, 0), new Int32Array(0), set).code).toBe('CORRUPT_STREAM'); // state >= 2^31
    expect(decodeError(Uint8Array.of(0, 0x7f, 0xff, 0xff), new Int32Array(0), set).code).toBe('CORRUPT_STREAM'); // state < 2^23
    expect(decodeError(Uint8Array.of(0, 0x80, 0, 1), new Int32Array(0), set).code).toBe('CORRUPT_STREAM'); // not the final state
    const changed = stream.slice();
    changed[Math.floor(changed.length / 2)]! ^= 0x10;
    expect(decodeError(changed, indexes, set).code).toBe('CORRUPT_STREAM');
  });

  it('CORRUPT_STREAM for an escape that claims more than 33 bits', () => {
    const table = new CdfTableSet([uniformTable(4, INT32_MIN)]);
    const { cdf } = table.table(0);
    const escape: Op = { start: cdf[4]!, freq: cdf[5]! - cdf[4]!, bits: 16 };
    // The reference encoder itself round-trips through the real decoder...
    const ok = referenceEncode([escape, ...bypassOps(2 ** 33 - 10)]); // the largest raw: INT32_MAX
    expect(Array.from(decodeWithIndexes(ok, Int32Array.of(0), table))).toEqual([INT32_MAX]);
    // ...and a k of 34 to 63 is refused.
    for (const k of [34, 40, 63]) {
      const bad = referenceEncode([escape, ...bypassOps(2 ** 33 - 10, k)]);
      expect(decodeError(bad, Int32Array.of(0), table).code).toBe('CORRUPT_STREAM');
    }
  });

  it('CORRUPT_STREAM for an escaped value outside the int32 range', () => {
    // Written against a table at offset 0, read against one at the top of the range.
    const low = new CdfTableSet([uniformTable(1, 0)]);
    const high = new CdfTableSet([uniformTable(1, INT32_MAX)]);
    const stream = encodeWithIndexes(Int32Array.of(INT32_MAX), Int32Array.of(0), low);
    expect(decodeError(stream, Int32Array.of(0), high).code).toBe('CORRUPT_STREAM');
    const below = new CdfTableSet([uniformTable(1, INT32_MIN)]);
    const negative = encodeWithIndexes(Int32Array.of(INT32_MIN), Int32Array.of(0), low);
    expect(decodeError(negative, Int32Array.of(0), below).code).toBe('CORRUPT_STREAM');
  });
});
