/**
 * The safetensors element types: their sizes, how their little-endian bytes
 * become a JS typed array, and how a typed array goes back to bytes.
 * Half-precision formats (F16, BF16) are widened to Float32Array on read,
 * because neither tfjs nor JS has a 16-bit float array.
 */

export type SafeDtype = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U64' | 'U32' | 'U16' | 'U8' | 'BOOL';

export type SafeTypedArray =
  | Float64Array
  | Float32Array
  | BigInt64Array
  | BigUint64Array
  | Int32Array
  | Int16Array
  | Int8Array
  | Uint32Array
  | Uint16Array
  | Uint8Array;

/** Bytes per element of each dtype, as stored in the file. */
export const DTYPE_BYTES: Readonly<Record<SafeDtype, number>> = Object.freeze({
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U64: 8,
  U32: 4,
  U16: 2,
  U8: 1,
  BOOL: 1,
});

export function isSafeDtype(value: unknown): value is SafeDtype {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(DTYPE_BYTES, value);
}

// Typed arrays use the host byte order; the format is little-endian. Every
// machine Node runs on today is little-endian, but say so loudly if not.
const HOST_IS_LITTLE_ENDIAN = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

function assertLittleEndianHost(): void {
  if (!HOST_IS_LITTLE_ENDIAN) throw new Error('safetensors: big-endian hosts are not supported');
}

/** Decode `bytes` (exactly count × DTYPE_BYTES[dtype] long) into a fresh, aligned typed array. */
export function decodeElements(dtype: SafeDtype, bytes: Uint8Array): SafeTypedArray {
  assertLittleEndianHost();
  // slice() copies into a new buffer that starts at offset 0, so every view is aligned.
  const buffer = bytes.slice().buffer;
  switch (dtype) {
    case 'F64':
      return new Float64Array(buffer);
    case 'F32':
      return new Float32Array(buffer);
    case 'F16':
      return halfToFloat32(new Uint16Array(buffer));
    case 'BF16':
      return bfloat16ToFloat32(new Uint16Array(buffer));
    case 'I64':
      return new BigInt64Array(buffer);
    case 'I32':
      return new Int32Array(buffer);
    case 'I16':
      return new Int16Array(buffer);
    case 'I8':
      return new Int8Array(buffer);
    case 'U64':
      return new BigUint64Array(buffer);
    case 'U32':
      return new Uint32Array(buffer);
    case 'U16':
      return new Uint16Array(buffer);
    case 'U8':
    case 'BOOL':
      return new Uint8Array(buffer);
  }
}

/** The typed array a dtype is written from (F16/BF16 are written from float32 values). */
export function expectedArrayName(dtype: SafeDtype): string {
  switch (dtype) {
    case 'F64':
      return 'Float64Array';
    case 'F32':
    case 'F16':
    case 'BF16':
      return 'Float32Array';
    case 'I64':
      return 'BigInt64Array';
    case 'I32':
      return 'Int32Array';
    case 'I16':
      return 'Int16Array';
    case 'I8':
      return 'Int8Array';
    case 'U64':
      return 'BigUint64Array';
    case 'U32':
      return 'Uint32Array';
    case 'U16':
      return 'Uint16Array';
    case 'U8':
    case 'BOOL':
      return 'Uint8Array';
  }
}

/** Little-endian bytes of `data` stored as `dtype` (narrowing F32 -> F16/BF16 rounds to nearest even). */
export function encodeElements(dtype: SafeDtype, data: SafeTypedArray): Uint8Array {
  assertLittleEndianHost();
  if (data.constructor.name !== expectedArrayName(dtype)) {
    throw new TypeError(`safetensors: ${dtype} is written from a ${expectedArrayName(dtype)}, got ${data.constructor.name}`);
  }
  if (dtype === 'F16') return new Uint8Array(float32ToHalf(data as Float32Array).buffer);
  if (dtype === 'BF16') return new Uint8Array(float32ToBfloat16(data as Float32Array).buffer);
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

// ------------------------------------------------------------ 16-bit floats

/** IEEE 754 binary16 -> float32, exact (every half value is a float32). */
export function halfToFloat32(half: Uint16Array): Float32Array {
  const out = new Float32Array(half.length);
  for (let i = 0; i < half.length; i++) {
    const h = half[i];
    const sign = h & 0x8000 ? -1 : 1;
    const exponent = (h >> 10) & 0x1f;
    const mantissa = h & 0x3ff;
    if (exponent === 0) out[i] = sign * mantissa * 2 ** -24; // zero and subnormals
    else if (exponent === 0x1f) out[i] = mantissa ? NaN : sign * Infinity;
    else out[i] = sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
  }
  return out;
}

/** float32 -> IEEE 754 binary16, round to nearest even, overflow to infinity. */
export function float32ToHalf(values: Float32Array): Uint16Array {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const f = bits[i];
    const sign = (f >>> 16) & 0x8000;
    const exponent = (f >>> 23) & 0xff;
    const mantissa = f & 0x7fffff;
    if (exponent === 0xff) {
      out[i] = sign | 0x7c00 | (mantissa ? 0x200 : 0);
      continue;
    }
    const e = exponent - 127 + 15;
    if (e >= 0x1f) {
      out[i] = sign | 0x7c00;
    } else if (e <= 0) {
      // Subnormal half (or zero): shift the full significand into place and round.
      if (e < -10) {
        out[i] = sign;
        continue;
      }
      const significand = mantissa | 0x800000;
      const shift = 14 - e;
      out[i] = sign | roundShift(significand, shift);
    } else {
      out[i] = sign | ((e << 10) + roundShift(mantissa, 13)); // a carry may bump the exponent, as it should
    }
  }
  return out;
}

/** float32 -> bfloat16 (the top 16 bits), round to nearest even. */
export function float32ToBfloat16(values: Float32Array): Uint16Array {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const f = bits[i];
    if ((f & 0x7f800000) === 0x7f800000 && f & 0x7fffff) out[i] = (f >>> 16) | 0x40; // keep NaN a NaN
    else out[i] = (f + 0x7fff + ((f >>> 16) & 1)) >>> 16;
  }
  return out;
}

export function bfloat16ToFloat32(values: Uint16Array): Float32Array {
  const out = new Uint32Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = values[i] << 16;
  return new Float32Array(out.buffer);
}

/** value >> shift, rounded to nearest, ties to even. */
function roundShift(value: number, shift: number): number {
  const kept = value >>> shift;
  const rest = value - kept * 2 ** shift;
  const half = 2 ** (shift - 1);
  if (rest > half || (rest === half && kept & 1)) return kept + 1;
  return kept;
}
