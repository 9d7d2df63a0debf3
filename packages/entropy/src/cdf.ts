/**
 * Quantised CDF tables for the rANS coder.
 *
 * A table codes the integers `offset .. offset + n - 1` directly (symbols
 * `0 .. n-1`) and has one more symbol, the ESCAPE, for every other value; the
 * coder then sends the value itself through a bypass path (see rans.ts).
 * Frequencies are integers summing to exactly 2^16 and every symbol keeps at
 * least 1, so no value is ever unencodable.
 */
import { BitstreamError } from './errors.js';

export const CDF_PRECISION = 16;

/** Sum of the frequencies of every table the coder uses. */
export const CDF_TOTAL = 1 << CDF_PRECISION;

/** At most 2^16 symbols (escape included) fit in a 16-bit table with freq >= 1 each. */
export const MAX_TABLE_SYMBOLS = CDF_TOTAL;

const INT32_MAX = 0x7fffffff;
const INT32_MIN = -0x80000000;

// ---------------------------------------------------------------- quantisation

/**
 * CompressAI-style: pmf over symbols 0..n-1 plus a final ESCAPE symbol carrying tailMass.
 * Returns cdf of length n+2: cdf[0]=0, cdf[n+1]=2^precision, every symbol (incl. escape) has freq >= 1.
 *
 * The probabilities are normalised by their sum, rounded to the nearest
 * frequency (at least 1), then the rounding error is repaired greedily, one
 * unit at a time, where it costs the fewest bits (the gain of f -> f+1 is
 * p*ln(1+1/f) ~ p/(f+1/2), the loss of f -> f-1 ~ p/(f-1/2)). Only + - * /
 * and comparisons are used, which IEEE-754 fixes exactly, so every engine and
 * machine builds the same table. Throws RangeError on bad input.
 */
export function pmfToQuantizedCdf(pmf: ArrayLike<number>, tailMass: number, precision: number = CDF_PRECISION): Uint32Array {
  if (!Number.isInteger(precision) || precision < 1 || precision > 31) {
    throw new RangeError(`pmfToQuantizedCdf: precision must be an integer in 1..31, got ${precision}`);
  }
  const n = pmf.length;
  const total = 2 ** precision;
  if (n === 0) throw new RangeError('pmfToQuantizedCdf: empty pmf');
  if (n + 1 > total) throw new RangeError(`pmfToQuantizedCdf: ${n} symbols + escape do not fit in ${precision} bits`);
  if (!(tailMass >= 0 && Number.isFinite(tailMass))) throw new RangeError(`pmfToQuantizedCdf: bad tail mass ${tailMass}`);

  const symbols = n + 1;
  const prob = new Float64Array(symbols);
  let mass = tailMass;
  for (let i = 0; i < n; i++) {
    const p = pmf[i]!;
    if (!(p >= 0 && Number.isFinite(p))) throw new RangeError(`pmfToQuantizedCdf: pmf[${i}] = ${p} is not a finite non-negative number`);
    prob[i] = p;
    mass += p;
  }
  if (!(mass > 0 && Number.isFinite(mass))) throw new RangeError(`pmfToQuantizedCdf: total mass ${mass} must be finite and > 0`);
  prob[n] = tailMass;

  const freq = new Float64Array(symbols);
  let assigned = 0;
  for (let i = 0; i < symbols; i++) {
    prob[i] = prob[i]! / mass;
    const f = Math.max(1, Math.round(prob[i]! * total));
    freq[i] = f;
    assigned += f;
  }
  if (assigned < total) growFrequencies(prob, freq, total - assigned);
  else if (assigned > total) shrinkFrequencies(prob, freq, assigned - total);

  const cdf = new Uint32Array(symbols + 1);
  for (let i = 0; i < symbols; i++) cdf[i + 1] = cdf[i]! + freq[i]!;
  return cdf;
}

/** Give `units` more frequency, each to the symbol where it saves the most bits. */
function growFrequencies(prob: Float64Array, freq: Float64Array, units: number): void {
  const gain = (i: number) => prob[i]! / (freq[i]! + 0.5);
  const heap = new IndexHeap(gain, true);
  for (let i = 0; i < prob.length; i++) heap.push(i);
  for (let left = units; left > 0; left--) {
    const best = heap.top();
    freq[best] = freq[best]! + 1;
    heap.topChanged();
  }
}

/** Take `units` of frequency back, each from the symbol (freq > 1) where it costs the fewest bits. */
function shrinkFrequencies(prob: Float64Array, freq: Float64Array, units: number): void {
  const loss = (i: number) => prob[i]! / (freq[i]! - 0.5);
  const heap = new IndexHeap(loss, false);
  for (let i = 0; i < prob.length; i++) if (freq[i]! > 1) heap.push(i);
  for (let left = units; left > 0; left--) {
    // Never empty: there are at most `total` symbols, so the excess sits on symbols above 1.
    const cheapest = heap.top();
    freq[cheapest] = freq[cheapest]! - 1;
    if (freq[cheapest]! > 1) heap.topChanged();
    else heap.popTop();
  }
}

/** Binary heap of symbol indexes ordered by a key (ties: lower index first, for determinism). */
class IndexHeap {
  private readonly items: number[] = [];
  constructor(
    private readonly key: (i: number) => number,
    private readonly largestFirst: boolean,
  ) {}

  push(i: number): void {
    this.items.push(i);
    this.siftUp(this.items.length - 1);
  }
  top(): number {
    return this.items[0]!;
  }
  /** The top item's key changed: restore the order. */
  topChanged(): void {
    this.siftDown(0);
  }
  popTop(): void {
    const last = this.items.pop()!;
    if (this.items.length > 0) {
      this.items[0] = last;
      this.siftDown(0);
    }
  }

  private before(a: number, b: number): boolean {
    const ka = this.key(a);
    const kb = this.key(b);
    if (ka !== kb) return this.largestFirst ? ka > kb : ka < kb;
    return a < b;
  }
  private siftUp(pos: number): void {
    const items = this.items;
    while (pos > 0) {
      const parent = (pos - 1) >> 1;
      if (!this.before(items[pos]!, items[parent]!)) break;
      [items[pos], items[parent]] = [items[parent]!, items[pos]!];
      pos = parent;
    }
  }
  private siftDown(pos: number): void {
    const items = this.items;
    for (;;) {
      const left = 2 * pos + 1;
      if (left >= items.length) return;
      const right = left + 1;
      const child = right < items.length && this.before(items[right]!, items[left]!) ? right : left;
      if (!this.before(items[child]!, items[pos]!)) return;
      [items[pos], items[child]] = [items[child]!, items[pos]!];
      pos = child;
    }
  }
}

// ---------------------------------------------------------------- table sets

export interface CdfTable {
  cdf: Uint32Array;
  offset: number;
}

export interface PackedCdfTables {
  cdfs: Uint32Array;
  lengths: Int32Array;
  offsets: Int32Array;
}

/**
 * Slot -> symbol lookups: table t has 2^bits buckets of 2^(16 - bits) slots,
 * with bits = ceil(log2(symbols)) + 2 (at most 16), so on average a bucket
 * spans under 1/4 symbol boundary and the lookups of many tables stay in cache.
 * Each bucket holds the symbol of its first slot; the decoder scans forward.
 */
const LOOKUP_EXTRA_BITS = 2;
const LOOKUP_MIN_BITS = 4;

function ceilLog2(n: number): number {
  return 32 - Math.clz32(n - 1);
}

function lookupBits(symbols: number): number {
  return Math.min(CDF_PRECISION, Math.max(LOOKUP_MIN_BITS, ceilLog2(symbols) + LOOKUP_EXTRA_BITS));
}

/**
 * Coder internals: `CdfTableSet.layout` holds one row of 2^rowShift int32 per
 * table, so a hot loop finds everything about table t at `t << rowShift`.
 */
export const CDF_LAYOUT = Object.freeze({
  rowShift: 3,
  /** where the table's cdf starts in `flatCdfs` */
  cdfBase: 0,
  /** where its slot -> symbol lookup starts in `lookups` */
  lookupBase: 1,
  /** a slot's bucket is `slot >>> lookupShift` */
  lookupShift: 2,
  /** the escape symbol = number of direct symbols = cdf length - 2 */
  escape: 3,
  /** the value coded by symbol 0 */
  offset: 4,
});

/**
 * Many tables packed into flat typed arrays for the coder's hot loops, plus the
 * slot -> symbol lookups the decoder needs (8 to 16 bytes per symbol).
 * Tables are copied in, so later changes to the caller's arrays change nothing.
 */
export class CdfTableSet {
  /** number of tables */
  readonly size: number;
  /** Coder internals (read-only by convention): every cdf, back to back. */
  readonly flatCdfs: Uint32Array;
  /** Coder internals: every table's slot -> symbol lookup, back to back. */
  readonly lookups: Uint16Array;
  /** Coder internals: per-table fields, see CDF_LAYOUT. */
  readonly layout: Int32Array;

  constructor(tables: CdfTable[]) {
    if (!Array.isArray(tables)) throw new RangeError('CdfTableSet: tables must be an array');
    const L = CDF_LAYOUT;
    this.size = tables.length;
    this.layout = new Int32Array(this.size << L.rowShift);
    let cdfLength = 0;
    let lookupLength = 0;
    // Plain loops, not forEach: a hole in the array must be refused, not skipped.
    for (let t = 0; t < this.size; t++) {
      const table = tables[t]!;
      const problem = tableProblem(table?.cdf, table?.offset);
      if (problem) throw new RangeError(`CdfTableSet: table ${t}: ${problem}`);
      const row = t << L.rowShift;
      const bits = lookupBits(table.cdf.length - 1);
      this.layout[row + L.cdfBase] = cdfLength;
      this.layout[row + L.lookupBase] = lookupLength;
      this.layout[row + L.lookupShift] = CDF_PRECISION - bits;
      this.layout[row + L.escape] = table.cdf.length - 2;
      this.layout[row + L.offset] = table.offset;
      cdfLength += table.cdf.length;
      lookupLength += 1 << bits;
    }
    this.flatCdfs = new Uint32Array(cdfLength);
    this.lookups = new Uint16Array(lookupLength);
    for (let t = 0; t < this.size; t++) {
      this.flatCdfs.set(tables[t]!.cdf, this.layout[(t << L.rowShift) + L.cdfBase]!);
      this.fillLookup(t);
    }
  }

  /** A copy of table i. */
  table(i: number): CdfTable {
    if (!Number.isInteger(i) || i < 0 || i >= this.size) throw new RangeError(`CdfTableSet: no table ${i} (have ${this.size})`);
    const row = i << CDF_LAYOUT.rowShift;
    const base = this.layout[row + CDF_LAYOUT.cdfBase]!;
    const length = this.layout[row + CDF_LAYOUT.escape]! + 2;
    return { cdf: this.flatCdfs.slice(base, base + length), offset: this.layout[row + CDF_LAYOUT.offset]! };
  }

  /** Flat form for storing in safetensors / JSON (fresh arrays). */
  pack(): PackedCdfTables {
    const lengths = new Int32Array(this.size);
    const offsets = new Int32Array(this.size);
    for (let t = 0; t < this.size; t++) {
      const row = t << CDF_LAYOUT.rowShift;
      lengths[t] = this.layout[row + CDF_LAYOUT.escape]! + 2;
      offsets[t] = this.layout[row + CDF_LAYOUT.offset]!;
    }
    return { cdfs: this.flatCdfs.slice(), lengths, offsets };
  }

  /**
   * Inverse of pack, for data read from a file: every number and table is
   * validated (monotone, ends at 2^16, freq >= 1) and BitstreamError('MALFORMED') thrown if not.
   */
  static unpack(p: { cdfs: ArrayLike<number>; lengths: ArrayLike<number>; offsets: ArrayLike<number> }): CdfTableSet {
    const malformed = (why: string) => new BitstreamError('MALFORMED', `CDF tables: ${why}`);
    if (!p || !isArrayLike(p.cdfs) || !isArrayLike(p.lengths) || !isArrayLike(p.offsets)) {
      throw malformed('cdfs, lengths and offsets must be arrays');
    }
    const count = p.lengths.length;
    if (p.offsets.length !== count) throw malformed(`${count} lengths but ${p.offsets.length} offsets`);
    const tables: CdfTable[] = [];
    let base = 0;
    for (let t = 0; t < count; t++) {
      const length = p.lengths[t]!;
      if (!Number.isInteger(length) || length < 3 || length > MAX_TABLE_SYMBOLS + 1) throw malformed(`table ${t}: bad length ${length}`);
      if (length > p.cdfs.length - base) throw malformed(`table ${t}: lengths add up to more than the ${p.cdfs.length} cdf values`);
      const cdf = new Uint32Array(length);
      for (let k = 0; k < length; k++) {
        const v = p.cdfs[base + k]!;
        if (!Number.isInteger(v) || v < 0 || v > CDF_TOTAL) throw malformed(`table ${t}: bad cdf value ${v}`);
        cdf[k] = v;
      }
      const problem = tableProblem(cdf, p.offsets[t]!);
      if (problem) throw malformed(`table ${t}: ${problem}`);
      tables.push({ cdf, offset: p.offsets[t]! });
      base += length;
    }
    if (base !== p.cdfs.length) throw malformed(`${p.cdfs.length - base} cdf values left over after the last table`);
    return new CdfTableSet(tables);
  }

  private fillLookup(t: number): void {
    const row = t << CDF_LAYOUT.rowShift;
    const base = this.layout[row + CDF_LAYOUT.cdfBase]!;
    const symbols = this.layout[row + CDF_LAYOUT.escape]! + 1;
    const shift = this.layout[row + CDF_LAYOUT.lookupShift]!;
    const lookupBase = this.layout[row + CDF_LAYOUT.lookupBase]!;
    const roundUp = (1 << shift) - 1;
    for (let s = 0; s < symbols; s++) {
      // The buckets whose first slot lies in symbol s.
      const first = (this.flatCdfs[base + s]! + roundUp) >>> shift;
      const end = (this.flatCdfs[base + s + 1]! + roundUp) >>> shift;
      this.lookups.fill(s, lookupBase + first, lookupBase + end);
    }
  }
}

function isArrayLike(x: unknown): x is ArrayLike<number> {
  return (Array.isArray(x) || ArrayBuffer.isView(x)) && typeof (x as ArrayLike<number>).length === 'number';
}

/** Why a table cannot be coded with, or undefined when it can. */
function tableProblem(cdf: unknown, offset: unknown): string | undefined {
  if (!(cdf instanceof Uint32Array)) return 'cdf must be a Uint32Array';
  if (cdf.length < 3) return `cdf has ${cdf.length} entries; it needs at least one symbol and the escape (3 entries)`;
  if (cdf.length > MAX_TABLE_SYMBOLS + 1) return `cdf has ${cdf.length} entries; at most ${MAX_TABLE_SYMBOLS + 1} fit in ${CDF_PRECISION} bits`;
  if (cdf[0] !== 0) return `cdf[0] is ${cdf[0]}, not 0`;
  if (cdf[cdf.length - 1] !== CDF_TOTAL) return `cdf ends at ${cdf[cdf.length - 1]}, not 2^${CDF_PRECISION}`;
  for (let k = 1; k < cdf.length; k++) {
    if (!(cdf[k]! > cdf[k - 1]!)) return `symbol ${k - 1} has frequency ${cdf[k]! - cdf[k - 1]!} (every symbol needs >= 1)`;
  }
  if (typeof offset !== 'number' || !Number.isInteger(offset) || offset < INT32_MIN || offset > INT32_MAX) {
    return `offset ${String(offset)} is not an int32`;
  }
  // Every direct symbol must stand for an int32 value, so a decoded one always fits the output.
  if (offset + (cdf.length - 3) > INT32_MAX) return `offset ${offset} puts symbols past 2^31 - 1`;
  return undefined;
}
