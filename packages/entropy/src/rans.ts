/**
 * Byte-wise rANS (range asymmetric numeral systems) over CdfTableSet tables.
 *
 * The state x stays in [2^23, 2^31), so every intermediate is a non-negative
 * int32. Frequencies have 16 bits; renormalisation moves whole bytes. The
 * encoder runs backwards and writes from the end of a buffer; a stream is the
 * encoder's final state (4 bytes, big-endian) followed by the renormalisation
 * bytes in the order the decoder reads them.
 *
 * Escape: a value outside its table's direct range codes the table's escape
 * symbol, then, through the same state with uniform ("bypass") probabilities,
 * 6 bits holding k = bit length of `raw`, then the k - 1 bits of `raw` under its
 * leading 1 (at most 16 bits per step, high part first). `raw` is the zig-zagged
 * distance past the nearest end of the range: 2d for `offset + n + d`, 2d + 1
 * for `offset - 1 - d`, so near misses stay cheap, the full int32 range is
 * reachable and every value has exactly one encoding. An escape costs
 * -log2 p(escape) + 6 + max(0, k - 1) bits.
 *
 * Integrity: the encoder starts from state 2^23; the decoder must end in that
 * state having read every byte, otherwise the stream is CORRUPT_STREAM.
 */
import { CDF_LAYOUT, CDF_PRECISION, type CdfTableSet } from './cdf.js';
import { BitstreamError } from './errors.js';

const STATE_LOW = 1 << 23; // lower bound of the state, and the initial/final state
const LENGTH_BITS = 6; // the bypass bit length k, 0..33
const MAX_RAW_BITS = 33; // |value - range end| < 2^32 for any int32 value and offset
const BYPASS_STEP_BITS = 16;
const INT32_MAX = 0x7fffffff;
const INT32_MIN = -0x80000000;

// HOT_LOOP_NOTE: the hot loops spell these constants and CdfTableSet's layout as
// function-local literals. The bundler turns module constants into `var`s that V8
// reloads on every use, while local literals fold into the machine code (~15%
// faster decode). This check keeps the literals honest.
if (
  CDF_PRECISION !== 16 || STATE_LOW !== 0x800000 || CDF_LAYOUT.rowShift !== 3 || CDF_LAYOUT.cdfBase !== 0 ||
  CDF_LAYOUT.lookupBase !== 1 || CDF_LAYOUT.lookupShift !== 2 || CDF_LAYOUT.escape !== 3 || CDF_LAYOUT.offset !== 4
) {
  throw new Error('rans.ts: CDF_LAYOUT, CDF_PRECISION or STATE_LOW changed; update the literals of the hot loops');
}

// ---------------------------------------------------------------- encoder

/**
 * Encode values[i] with table indexes[i] (like CompressAI encode_with_indexes). Any int32 value is encodable:
 * values outside a table's range emit the escape symbol then the value through a bypass path.
 */
export function encodeWithIndexes(values: Int32Array, indexes: Int32Array, tables: CdfTableSet): Uint8Array {
  if (!(values instanceof Int32Array)) throw new RangeError('encodeWithIndexes: values must be an Int32Array');
  checkIndexes('encodeWithIndexes', indexes, tables);
  if (values.length !== indexes.length) {
    throw new RangeError(`encodeWithIndexes: ${values.length} values but ${indexes.length} indexes`);
  }
  return encodeSymbols(values, indexes, tables.flatCdfs, tables.layout);
}

/** Encoder state handed to the out-of-line escape path (one object per call, none per symbol). */
interface EncoderState {
  x: number;
  pos: number;
  buffer: Uint8Array;
}

function encodeSymbols(values: Int32Array, indexes: Int32Array, cdfs: Uint32Array, layout: Int32Array): Uint8Array {
  // Literals (HOT_LOOP_NOTE). Coding a symbol of frequency f needs x < f * 2^(31 - 16)
  // for x to stay below 2^31. A symbol with its bypass bits writes at most 7 bytes:
  // `headroom` leaves room for that and for the final state.
  const stateLow = 0x800000, freqBoundShift = 15, precision = 16, headroom = 16;
  const rowShift = 3, cdfBase = 0, escapeField = 3, offsetField = 4;

  // Typical latents cost well under 12 bits a symbol; denser streams grow the buffer.
  let buffer: Uint8Array = new Uint8Array(values.length + (values.length >>> 1) + 64);
  let pos = buffer.length;
  let x = stateLow;
  const escapeState: EncoderState = { x, pos, buffer };

  for (let i = values.length - 1; i >= 0; i--) {
    if (pos < headroom) {
      buffer = growFromEnd(buffer, pos);
      pos += buffer.length >>> 1;
    }
    const row = indexes[i]! << rowShift;
    const base = layout[row + cdfBase]!;
    const escape = layout[row + escapeField]!;
    // A double: value - offset may leave the int32 range.
    let s = values[i]! - layout[row + offsetField]!;
    if (!(s >= 0 && s < escape)) {
      // The decoder reads the bypass bits after the escape symbol, so they go in first.
      escapeState.x = x;
      escapeState.pos = pos;
      escapeState.buffer = buffer;
      putBypassValue(escapeState, s < 0 ? -2 * s - 1 : 2 * (s - escape));
      x = escapeState.x;
      pos = escapeState.pos;
      s = escape;
    }
    const start = cdfs[base + s]!;
    const freq = cdfs[base + s + 1]! - start;
    // Renormalise: emit 0, 1 or 2 bytes (x < 2^31 <= 2^16 * xMax), branch-free because
    // the count is unpredictable. Both bytes are written; a byte not kept lies below
    // pos and is overwritten later or left out of the stream (headroom keeps pos >= 2).
    const xMax = freq << freqBoundShift;
    const bytes = ((xMax - 1 - x) >>> 31) + ((xMax - 1 - (x >>> 8)) >>> 31);
    buffer[pos - 1] = x;
    buffer[pos - 2] = x >>> 8;
    pos -= bytes;
    x >>>= bytes << 3;
    const q = (x / freq) | 0;
    x = (q << precision) + (x - q * freq) + start;
  }

  buffer[--pos] = x & 0xff;
  buffer[--pos] = (x >>> 8) & 0xff;
  buffer[--pos] = (x >>> 16) & 0xff;
  buffer[--pos] = x >>> 24;
  return buffer.slice(pos);
}

/** Twice the size, with the written tail (from pos) kept at the end. */
function growFromEnd(buffer: Uint8Array, pos: number): Uint8Array {
  const grown = new Uint8Array(buffer.length * 2);
  grown.set(buffer.subarray(pos), buffer.length + pos);
  return grown;
}

/** The bypass part of an escape, pushed in the reverse of reading order: low bits, high bits, k. */
function putBypassValue(state: EncoderState, raw: number): void {
  const k = bitLength(raw);
  let below = k > 1 ? raw - 2 ** (k - 1) : 0; // the bits under the leading 1
  for (let left = k - 1; left > 0; left -= BYPASS_STEP_BITS) {
    const nbits = Math.min(left, BYPASS_STEP_BITS);
    const part = below % 2 ** nbits;
    putBits(state, part, nbits);
    below = (below - part) / 2 ** nbits;
  }
  putBits(state, k, LENGTH_BITS);
}

/** Code an nbits-bit value (1 <= nbits <= 16) with uniform probability: x -> x * 2^nbits + value. */
function putBits(state: EncoderState, value: number, nbits: number): void {
  const xMax = 1 << (31 - nbits);
  let x = state.x;
  while (x >= xMax) {
    state.buffer[--state.pos] = x & 0xff;
    x >>>= 8;
  }
  state.x = x * (1 << nbits) + value;
}

/** Number of bits of a non-negative integer < 2^53 (0 for 0). */
function bitLength(v: number): number {
  if (v <= INT32_MAX) return 32 - Math.clz32(v);
  return 32 + bitLength(Math.floor(v / 2 ** 32));
}

// ---------------------------------------------------------------- decoder

/**
 * Inverse of encodeWithIndexes; count = indexes.length. Any problem with `data`
 * is a BitstreamError (TRUNCATED when it ends too early, CORRUPT_STREAM
 * otherwise); reads stay in bounds and the work is bounded by the count.
 */
export function decodeWithIndexes(data: Uint8Array, indexes: Int32Array, tables: CdfTableSet): Int32Array {
  if (!(data instanceof Uint8Array)) throw new RangeError('decodeWithIndexes: data must be a Uint8Array');
  checkIndexes('decodeWithIndexes', indexes, tables);
  if (data.length < 4) throw new BitstreamError('TRUNCATED', `rANS stream of ${data.length} bytes: the initial state alone needs 4`);
  const x = ((data[0]! << 24) | (data[1]! << 16) | (data[2]! << 8) | data[3]!) >>> 0;
  if (x < STATE_LOW || x > INT32_MAX) throw new BitstreamError('CORRUPT_STREAM', 'rANS stream: initial state out of range');
  return decodeSymbols(data, indexes, tables.flatCdfs, tables.lookups, tables.layout, x);
}

/** Decoder state handed to the out-of-line escape path. */
interface DecoderState {
  x: number;
  pos: number;
}

function decodeSymbols(
  data: Uint8Array,
  indexes: Int32Array,
  cdfs: Uint32Array,
  lookups: Uint16Array,
  layout: Int32Array,
  initialState: number,
): Int32Array {
  // Literals (HOT_LOOP_NOTE).
  const stateLow = 0x800000, slotMask = 0xffff, precision = 16;
  const rowShift = 3, cdfBase = 0, lookupBase = 1, lookupShift = 2, escapeField = 3, offsetField = 4;
  const count = indexes.length;
  const end = data.length;
  const out = new Int32Array(count);
  let x = initialState;
  let pos = 4;
  const escapeState: DecoderState = { x, pos };

  for (let i = 0; i < count; i++) {
    const row = indexes[i]! << rowShift;
    const base = layout[row + cdfBase]!;
    const slot = x & slotMask;
    let s = lookups[layout[row + lookupBase]! + (slot >>> layout[row + lookupShift]!)]!;
    // Ends within the table: its last cdf entry is 2^16 > slot.
    while (cdfs[base + s + 1]! <= slot) s++;
    const start = cdfs[base + s]!;
    x = (cdfs[base + s + 1]! - start) * (x >>> precision) + slot - start;
    // Renormalise: x >= 2^7 here, so it takes 0, 1 or 2 bytes. Branch-free while two
    // bytes are left: whether a symbol reads a byte is a coin toss the CPU cannot
    // predict (about 20% faster decode than the loop).
    if (pos + 2 <= end) {
      const bytes = ((x - stateLow) >>> 31) + ((x - (stateLow >>> 8)) >>> 31);
      x = (x << (bytes << 3)) | ((((data[pos]! << 8) | data[pos + 1]!) >>> ((2 - bytes) << 3)));
      pos += bytes;
    } else {
      while (x < stateLow) {
        if (pos >= end) throw truncated(i);
        x = (x << 8) | data[pos++]!;
      }
    }
    const escape = layout[row + escapeField]!;
    if (s !== escape) {
      out[i] = s + layout[row + offsetField]!;
      continue;
    }
    escapeState.x = x;
    escapeState.pos = pos;
    out[i] = getEscapedValue(escapeState, data, layout[row + offsetField]!, escape, i);
    x = escapeState.x;
    pos = escapeState.pos;
  }

  if (x !== stateLow) throw new BitstreamError('CORRUPT_STREAM', 'rANS stream: final state check failed');
  if (pos !== end) throw new BitstreamError('CORRUPT_STREAM', `rANS stream: ${end - pos} bytes left after the last symbol`);
  return out;
}

/** The value behind an escape: k, then the bits of raw under its leading 1, high part first. */
function getEscapedValue(state: DecoderState, data: Uint8Array, offset: number, directSymbols: number, symbol: number): number {
  const k = getBits(state, data, LENGTH_BITS, symbol);
  if (k > MAX_RAW_BITS) throw new BitstreamError('CORRUPT_STREAM', `rANS stream: escape of symbol ${symbol} claims ${k} bits`);
  let raw = k === 0 ? 0 : 1;
  for (let left = k - 1; left > 0; ) {
    // The encoder cut the bits into 16-bit steps from the bottom, so the top step is the short one.
    const nbits = left % BYPASS_STEP_BITS || BYPASS_STEP_BITS;
    raw = raw * 2 ** nbits + getBits(state, data, nbits, symbol);
    left -= nbits;
  }
  // In doubles, then range-checked: a corrupt stream must not wrap around in the Int32Array.
  const value = raw % 2 === 0 ? offset + directSymbols + raw / 2 : offset - 1 - (raw - 1) / 2;
  if (value > INT32_MAX || value < INT32_MIN) {
    throw new BitstreamError('CORRUPT_STREAM', `rANS stream: escaped value of symbol ${symbol} is outside the int32 range`);
  }
  return value;
}

/** Inverse of putBits. */
function getBits(state: DecoderState, data: Uint8Array, nbits: number, symbol: number): number {
  let x = state.x;
  const value = x & ((1 << nbits) - 1);
  x >>>= nbits;
  let pos = state.pos;
  while (x < STATE_LOW) {
    if (pos >= data.length) throw truncated(symbol);
    x = (x << 8) | data[pos++]!;
  }
  state.x = x;
  state.pos = pos;
  return value;
}

function truncated(symbol: number): BitstreamError {
  return new BitstreamError('TRUNCATED', `rANS stream ends while decoding symbol ${symbol}`);
}

// ---------------------------------------------------------------- arguments

/** Bad arguments are programming errors, not bad data: RangeError. */
function checkIndexes(what: string, indexes: Int32Array, tables: CdfTableSet): void {
  if (!(indexes instanceof Int32Array)) throw new RangeError(`${what}: indexes must be an Int32Array`);
  if (tables == null || !(tables.layout instanceof Int32Array)) throw new RangeError(`${what}: tables must be a CdfTableSet`);
  const size = tables.size;
  for (let i = 0; i < indexes.length; i++) {
    const t = indexes[i]!;
    if (t < 0 || t >= size) throw new RangeError(`${what}: indexes[${i}] = ${t}, but there are ${size} tables`);
  }
}
