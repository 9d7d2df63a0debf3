/**
 * Condition vectors β. The key never enters a bitstream or a model file:
 *
 * - keyed mode m:      β = u16→[-1, 1]( scrypt(key, salt ‖ "psic-cltg/v1/key/" ‖ m, 2·D bytes) )
 * - any other mode m:  β = u16→[-1, 1]( HKDF-SHA256(ikm = salt, info = "psic-cltg/v1/mode/" ‖ m, 2·D bytes) )
 *
 * where `salt` is 16 random bytes made once per model (its sidecar records
 * it, hex) and D the condition size. scrypt defaults: N = 2^15, r = 8, p = 1
 * (32 MiB, ~0.2 s per key on this machine), so guessing keys costs as much
 * as the KDF allows; the sidecar records the parameters. Each pair of output
 * bytes is read big-endian as v and mapped to 2·v/65535 − 1, so a KDF output
 * is (to 16 bits) uniform on [-1, 1]^D: training samples wrong keys' β
 * directly from that distribution instead of hashing random keys.
 */
import { hkdfSync, randomBytes, scryptSync } from 'node:crypto';
import { PsicError } from '@psic/entropy';

export const SALT_BYTES = 16;
/** Longest key accepted (bytes). */
export const MAX_KEY_BYTES = 4096;

export interface KdfParams {
  algorithm: 'scrypt';
  /** CPU/memory cost, a power of two */
  N: number;
  r: number;
  p: number;
}

export const DEFAULT_KDF: Readonly<KdfParams> = Object.freeze({ algorithm: 'scrypt', N: 1 << 15, r: 8, p: 1 });

/** Bounds for parameters read from a sidecar, so a crafted model file can't make a decode take minutes or gigabytes. */
export function validateKdf(kdf: unknown): KdfParams {
  const k = kdf as Partial<KdfParams> | null;
  const pow2 = (n: unknown) => Number.isInteger(n) && (n as number) >= 1 << 10 && (n as number) <= 1 << 20 && ((n as number) & ((n as number) - 1)) === 0;
  if (typeof k !== 'object' || k === null || k.algorithm !== 'scrypt' || !pow2(k.N) || !Number.isInteger(k.r) || k.r! < 1 || k.r! > 16 || !Number.isInteger(k.p) || k.p! < 1 || k.p! > 4) {
    throw new PsicError('BAD_WEIGHTS', `unsupported key-derivation parameters ${JSON.stringify(kdf)} (scrypt with N a power of two in 2^10..2^20, r 1..16, p 1..4)`);
  }
  return { algorithm: 'scrypt', N: k.N!, r: k.r!, p: k.p! };
}

export function newSalt(): Uint8Array {
  return new Uint8Array(randomBytes(SALT_BYTES));
}

/** A key as bytes: strings are UTF-8. Empty or oversized keys are PsicError('BAD_KEY'). */
export function keyBytes(key: string | Uint8Array): Uint8Array {
  const bytes = typeof key === 'string' ? new TextEncoder().encode(key) : key;
  if (bytes.length === 0) throw new PsicError('BAD_KEY', 'the key is empty');
  if (bytes.length > MAX_KEY_BYTES) throw new PsicError('BAD_KEY', `the key is ${bytes.length} bytes; at most ${MAX_KEY_BYTES}`);
  return bytes;
}

/** Bytes (two per component, big-endian) -> values in [-1, 1]. */
export function bytesToCondition(bytes: Uint8Array, dim: number): Float32Array {
  if (bytes.length < 2 * dim) throw new RangeError(`need ${2 * dim} bytes for a ${dim}-d condition, got ${bytes.length}`);
  const out = new Float32Array(dim);
  for (let i = 0; i < dim; i++) out[i] = (2 * ((bytes[2 * i] << 8) | bytes[2 * i + 1])) / 65535 - 1;
  return out;
}

/** β of a keyed mode from the owner's key. */
export function keyCondition(key: string | Uint8Array, salt: Uint8Array, mode: string, dim: number, kdf: KdfParams = DEFAULT_KDF): Float32Array {
  const saltFor = Buffer.concat([Buffer.from(salt), Buffer.from(`psic-cltg/v1/key/${mode}`, 'utf8')]);
  const maxmem = 128 * kdf.N * kdf.r * kdf.p + (1 << 20) + 128 * kdf.N * kdf.r;
  const bytes = scryptSync(keyBytes(key), saltFor, 2 * dim, { N: kdf.N, r: kdf.r, p: kdf.p, maxmem });
  return bytesToCondition(new Uint8Array(bytes), dim);
}

/** β of a mode without a key: fixed by the model's salt. */
export function modeCondition(salt: Uint8Array, mode: string, dim: number): Float32Array {
  const bytes = hkdfSync('sha256', salt, new Uint8Array(0), `psic-cltg/v1/mode/${mode}`, 2 * dim);
  return bytesToCondition(new Uint8Array(bytes), dim);
}
