import { describe, expect, it } from 'vitest';
import { CDF_PRECISION, CdfTableSet, pmfToQuantizedCdf, type CdfTable } from '../src/cdf.js';
import { BitstreamError } from '../src/errors.js';
import { mulberry32 } from './helpers.js';

const TOTAL = 1 << CDF_PRECISION;


function frequencies(cdf: Uint32Array): number[] {
  return Array.from({ length: cdf.length - 1 }, (_, k) => cdf[k + 1]! - cdf[k]!);
}

/** The properties every quantised table must have; returns the table for chaining. */
function expectValidCdf(cdf: Uint32Array, symbols: number, total = TOTAL): Uint32Array {
  expect(cdf).toBeInstanceOf(Uint32Array);
  expect(cdf.length).toBe(symbols + 2);
  expect(cdf[0]).toBe(0);
  expect(cdf[cdf.length - 1]).toBe(total);
  const freq = frequencies(cdf);
  expect(Math.min(...freq)).toBeGreaterThanOrEqual(1); // also proves strict monotonicity
  expect(freq.reduce((a, b) => a + b, 0)).toBe(total);
  return cdf;
}

/** Expected code length (bits/symbol) of coding the true pmf with the quantised frequencies. */
function crossEntropy(prob: number[], cdf: Uint32Array): number {
  const freq = frequencies(cdf);
  return prob.reduce((bits, p, k) => (p > 0 ? bits - p * Math.log2(freq[k]! / TOTAL) : bits), 0);
}

function entropy(prob: number[]): number {
  return prob.reduce((bits, p) => (p > 0 ? bits - p * Math.log2(p) : bits), 0);
}

function gaussianWeights(scale: number, half: number): number[] {
  return Array.from({ length: 2 * half + 1 }, (_, i) => Math.exp(-0.5 * ((i - half) / scale) ** 2));
}

describe('pmfToQuantizedCdf', () => {
  it('sums to exactly 2^16 with every frequency >= 1, for random pmfs of many sizes', () => {
    const rng = mulberry32(1);
    for (let trial = 0; trial < 300; trial++) {
      const n = 1 + Math.floor(rng() ** 3 * 3000);
      // Mix of ordinary, tiny, zero and dominant entries.
      const pmf = Array.from({ length: n }, (): number => {
        const r = rng();
        if (r < 0.1) return 0;
        if (r < 0.2) return rng() * 1e-12;
        if (r < 0.22) return 1e3 * rng();
        return rng();
      });
      if (!pmf.some((p) => p > 0)) pmf[0] = 1;
      const tail = [0, 1e-9, 1e-3, 0.3][trial % 4]!;
      expectValidCdf(pmfToQuantizedCdf(pmf, tail), n);
    }
  });

  it('normalises by the total mass (an unnormalised pmf gives the same table)', () => {
    const pmf = [0.1, 0.2, 0.3, 0.35];
    const scaled = pmf.map((p) => p * 1000);
    expect(Array.from(pmfToQuantizedCdf(scaled, 50))).toEqual(Array.from(pmfToQuantizedCdf(pmf, 0.05)));
  });

  it('keeps tiny, subnormal and zero probabilities codable (freq 1)', () => {
    const pmf = [1, 1e-300, 5e-324, 0, 1e-20, 0.5];
    const cdf = expectValidCdf(pmfToQuantizedCdf(pmf, 0), pmf.length);
    expect(frequencies(cdf).slice(1, 5)).toEqual([1, 1, 1, 1]);
    expect(frequencies(cdf)[6]).toBe(1); // the escape, with no tail mass at all
  });

  it('handles a single-symbol pmf: almost all mass on it, 1 for the escape', () => {
    expect(Array.from(pmfToQuantizedCdf([1], 0))).toEqual([0, TOTAL - 1, TOTAL]);
    expect(Array.from(pmfToQuantizedCdf([0.3], 1e-9))).toEqual([0, TOTAL - 1, TOTAL]);
    // A huge tail takes its share.
    expect(Array.from(pmfToQuantizedCdf([1], 1))).toEqual([0, TOTAL / 2, TOTAL]);
  });

  it('handles the largest table: 2^16 - 1 symbols + escape, all frequencies 1', () => {
    const rng = mulberry32(2);
    const n = TOTAL - 1;
    const pmf = Float64Array.from({ length: n }, () => rng());
    const cdf = expectValidCdf(pmfToQuantizedCdf(pmf, 0.5), n);
    expect(frequencies(cdf).every((f) => f === 1)).toBe(true);
    // And a large but not full one stays valid.
    expectValidCdf(pmfToQuantizedCdf(pmf.subarray(0, 40_000), 1e-9), 40_000);
  });

  it('honours other precisions', () => {
    for (const precision of [1, 4, 8, 12, 20, 31]) {
      const symbols = Math.min(3, 2 ** precision - 1);
      const cdf = pmfToQuantizedCdf([0.7, 0.2, 0.1].slice(0, symbols), 1e-6, precision);
      expectValidCdf(cdf, symbols, 2 ** precision);
    }
  });

  it('loses almost nothing against the true pmf (near-optimal rounding)', () => {
    for (const scale of [0.3, 1, 4, 30, 200]) {
      const half = Math.ceil(scale * 7);
      const weights = gaussianWeights(scale, half);
      const sum = weights.reduce((a, b) => a + b, 0);
      const prob = weights.map((w) => w / sum);
      const cdf = pmfToQuantizedCdf(prob, 0);
      const overhead = crossEntropy([...prob, 0], cdf) - entropy(prob);
      // Zero-probability tails forced to freq 1 cost their share of the 2^16 range:
      // bound the loss by that (symbols / 2^16 / ln 2) plus a small rounding loss.
      const floorCost = (prob.length + 1) / TOTAL / Math.LN2;
      expect(overhead).toBeGreaterThanOrEqual(0);
      expect(overhead).toBeLessThan(floorCost + 2e-4);
    }
  });

  it('leaves no single-unit move that would save bits (optimal up to the rounding proxy)', () => {
    // The code length is convex in each frequency, so an allocation no single unit move can
    // improve is optimal; the greedy's p/(f±1/2) proxy may leave moves worth < 1e-6 bits.
    const rng = mulberry32(8);
    const cases = [0.3, 1, 4, 30, 200].map((scale) => ({ pmf: gaussianWeights(scale, Math.ceil(scale * 7)), tail: 1e-9 }));
    for (let t = 0; t < 20; t++) {
      cases.push({ pmf: Array.from({ length: 1 + Math.floor(rng() * 2000) }, () => rng() ** 4), tail: rng() * 0.01 });
      // No tiny entries: rounding errors of either sign, so both repair directions run.
      cases.push({ pmf: Array.from({ length: 2 + Math.floor(rng() * 300) }, () => 0.5 + rng()), tail: rng() * 0.01 });
    }
    for (const { pmf, tail } of cases) {
      const cdf = pmfToQuantizedCdf(pmf, tail);
      const mass = pmf.reduce((a, b) => a + b, 0) + tail;
      let bestGain = 0;
      let cheapestLoss = Infinity;
      [...pmf, tail].forEach((w, k) => {
        const p = w / mass;
        const f = cdf[k + 1]! - cdf[k]!;
        bestGain = Math.max(bestGain, p * Math.log2((f + 1) / f));
        if (f > 1) cheapestLoss = Math.min(cheapestLoss, p * Math.log2(f / (f - 1)));
      });
      expect(bestGain - cheapestLoss).toBeLessThan(2e-6);
    }
  });

  it('is deterministic and stable: a golden table', () => {
    const pmf = [0.5, 0.25, 0.125, 0.0625, 0.03125, 1e-7, 0.03];
    const cdf = pmfToQuantizedCdf(pmf, 1e-3);
    expect(Array.from(cdf)).toEqual(Array.from(pmfToQuantizedCdf(Float64Array.from(pmf), 1e-3)));
    // Changing these tables changes every stream coded with them: only ever on purpose.
    expect(Array.from(cdf)).toEqual(GOLDEN_CDF); // rounding overshoots: units are taken back
    // Rounding falls 1 short: the unit goes to the first of the equally deserving symbols.
    expect(Array.from(pmfToQuantizedCdf(new Array(7).fill(1), 0))).toEqual([0, 9363, 18725, 28087, 37449, 46811, 56173, 65535, 65536]);
  });

  it('throws RangeError on bad input', () => {
    const bad: [ArrayLike<number>, number, number?][] = [
      [[], 0],
      [[0.5, NaN], 0],
      [[0.5, -0.1], 0],
      [[0.5, Infinity], 0],
      [[0.5, 0.5], NaN],
      [[0.5, 0.5], -1e-9],
      [[0.5, 0.5], Infinity],
      [[0, 0, 0], 0], // no mass at all
      [[1e308, 1e308], 0], // mass overflows to Infinity
      [[0.25, 0.25, 0.25, 0.25], 0, 2], // 4 symbols + escape > 2^2
      [Array.from({ length: TOTAL }, () => 1), 0], // 2^16 symbols + escape > 2^16
      [[1], 0, 0],
      [[1], 0, 32],
      [[1], 0, 15.5],
    ];
    for (const [pmf, tail, precision] of bad) {
      expect(() => pmfToQuantizedCdf(pmf, tail, precision), `pmf ${String(pmf).slice(0, 40)} tail ${tail} precision ${precision}`).toThrow(RangeError);
    }
  });
});

const GOLDEN_CDF = [0, 32775, 49163, 57357, 61454, 63502, 63503, 65470, 65536];

// ---------------------------------------------------------------- table sets

function randomTables(seed: number, count: number): CdfTable[] {
  const rng = mulberry32(seed);
  return Array.from({ length: count }, () => {
    const n = 1 + Math.floor(rng() ** 2 * 500);
    const pmf = Array.from({ length: n }, () => rng() + 1e-6);
    return { cdf: pmfToQuantizedCdf(pmf, rng() * 1e-3), offset: Math.floor((rng() - 0.5) * 2000) };
  });
}

function expectMalformed(fn: () => unknown): void {
  let thrown: unknown;
  try {
    fn();
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBeInstanceOf(BitstreamError);
  expect((thrown as BitstreamError).code).toBe('MALFORMED');
}

describe('CdfTableSet', () => {
  it('keeps a copy of every table', () => {
    const tables = randomTables(3, 20);
    const set = new CdfTableSet(tables);
    expect(set.size).toBe(20);
    tables.forEach((table, i) => {
      const back = set.table(i);
      expect(back.offset).toBe(table.offset);
      expect(Array.from(back.cdf)).toEqual(Array.from(table.cdf));
    });
    // Neither the caller's arrays nor a returned copy can change the set.
    tables[0]!.cdf[1] = 7;
    set.table(1).cdf[1] = 7;
    expect(set.table(0).cdf[1]).not.toBe(7);
    expect(set.table(1).cdf[1]).not.toBe(7);
    expect(new CdfTableSet([]).size).toBe(0);
  });

  it('throws RangeError for a bad table index', () => {
    const set = new CdfTableSet(randomTables(4, 3));
    for (const i of [-1, 3, 1.5, NaN]) expect(() => set.table(i)).toThrow(RangeError);
  });

  it('refuses tables the coder cannot use (RangeError)', () => {
    const good = pmfToQuantizedCdf([0.5, 0.5], 0.01);
    const bad: unknown[] = [
      { cdf: Uint32Array.of(0, TOTAL), offset: 0 }, // escape only
      { cdf: Uint32Array.of(0, 100, 100, TOTAL), offset: 0 }, // zero frequency
      { cdf: Uint32Array.of(0, 200, 100, TOTAL), offset: 0 }, // decreasing
      { cdf: Uint32Array.of(0, 100, TOTAL - 1), offset: 0 }, // does not reach 2^16
      { cdf: Uint32Array.of(1, 100, TOTAL), offset: 0 }, // does not start at 0
      { cdf: [0, 100, TOTAL], offset: 0 }, // not a Uint32Array
      { cdf: good, offset: 0.5 },
      { cdf: good, offset: 2 ** 31 },
      { cdf: good, offset: 2 ** 31 - 1 }, // symbol 1 would be 2^31
      { cdf: good, offset: -(2 ** 31) - 1 },
      null,
    ];
    for (const table of bad) expect(() => new CdfTableSet([table as CdfTable]), JSON.stringify(table)).toThrow(RangeError);
    expect(() => new CdfTableSet([{ cdf: good, offset: 2 ** 31 - 2 }])).not.toThrow();
    expect(() => new CdfTableSet([{ cdf: good, offset: -(2 ** 31) }])).not.toThrow();
  });

  it('pack / unpack round trip, also through JSON', () => {
    const set = new CdfTableSet(randomTables(5, 30));
    const packed = set.pack();
    expect(packed.cdfs).toBeInstanceOf(Uint32Array);
    expect(packed.lengths).toBeInstanceOf(Int32Array);
    expect(packed.offsets).toBeInstanceOf(Int32Array);
    expect(packed.lengths.reduce((a, b) => a + b, 0)).toBe(packed.cdfs.length);
    const fromJson = JSON.parse(
      JSON.stringify({ cdfs: Array.from(packed.cdfs), lengths: Array.from(packed.lengths), offsets: Array.from(packed.offsets) }),
    );
    for (const again of [CdfTableSet.unpack(packed), CdfTableSet.unpack(fromJson)]) {
      expect(again.size).toBe(set.size);
      const repacked = again.pack();
      expect(Array.from(repacked.cdfs)).toEqual(Array.from(packed.cdfs));
      expect(Array.from(repacked.lengths)).toEqual(Array.from(packed.lengths));
      expect(Array.from(repacked.offsets)).toEqual(Array.from(packed.offsets));
    }
  });

  it('unpack throws MALFORMED on corrupted packs', () => {
    const packed = new CdfTableSet(randomTables(6, 4)).pack();
    const variant = (edit: (p: { cdfs: number[]; lengths: number[]; offsets: number[] }) => void) => {
      const p = { cdfs: Array.from(packed.cdfs), lengths: Array.from(packed.lengths), offsets: Array.from(packed.offsets) };
      edit(p);
      return p;
    };
    const second = packed.lengths[0]!; // where table 1 starts
    const corruptions = [
      variant((p) => (p.cdfs[2] = p.cdfs[1]!)), // zero frequency
      variant((p) => (p.cdfs[1] = p.cdfs[2]! + 1)), // not monotone
      variant((p) => (p.cdfs[second - 1] = TOTAL - 1)), // table 0 does not end at 2^16
      variant((p) => (p.cdfs[second] = 1)), // table 1 does not start at 0
      variant((p) => (p.cdfs[1] = -5)),
      variant((p) => (p.cdfs[1] = 1.5)),
      variant((p) => (p.cdfs[1] = NaN)),
      variant((p) => (p.cdfs[second - 1] = TOTAL + 1)),
      variant((p) => p.cdfs.push(0)), // leftover values
      variant((p) => p.cdfs.pop()), // lengths claim more than there is
      variant((p) => (p.lengths[0] = 2)),
      variant((p) => (p.lengths[0] = -1)),
      variant((p) => (p.lengths[0] = 1e9)),
      variant((p) => (p.lengths[0] = p.lengths[0]! + 1)),
      variant((p) => p.offsets.pop()),
      variant((p) => (p.offsets[0] = 0.25)),
      variant((p) => (p.offsets[0] = 2 ** 40)),
      variant((p) => (p.offsets[0] = 2 ** 31 - 1)), // direct symbols would pass 2^31 - 1
    ];
    for (const p of corruptions) expectMalformed(() => CdfTableSet.unpack(p));
    for (const p of [null, {}, { cdfs: 'abc', lengths: [], offsets: [] }, { cdfs: [], lengths: 3, offsets: [] }]) {
      expectMalformed(() => CdfTableSet.unpack(p as never));
    }
    // Each corruption alone is what fails: the untouched pack is fine.
    expect(() => CdfTableSet.unpack(variant(() => undefined))).not.toThrow();
    expect(CdfTableSet.unpack({ cdfs: [], lengths: [], offsets: [] }).size).toBe(0);
  });
});
