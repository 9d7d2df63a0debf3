/**
 * Mutation fuzzing of readContainer / readContainerHeader. A fixed seed keeps
 * CI reproducible; PSIC_FUZZ_SEED / PSIC_FUZZ_ROUNDS explore further locally.
 * tools/fuzz/entropy.mjs is the long-run version of this.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { readContainer, readContainerHeader, writeContainer, type PsicContainerInput } from '../src/container.js';
import { crc32 } from '../src/crc32.js';
import { BitstreamError, type BitstreamErrorCode } from '../src/errors.js';
import { mulberry32 } from './helpers.js';

const SEED = Number(process.env.PSIC_FUZZ_SEED ?? 0x5eed_c0de) >>> 0;
const RANDOM_ROUNDS = Number(process.env.PSIC_FUZZ_ROUNDS ?? 9000);
const MAX_MS_PER_INPUT = 1000;
const MAX_MEMORY_GROWTH = 256 * 2 ** 20;


const random = mulberry32(SEED);
const int = (n: number) => Math.floor(random() * n);
const pick = <T>(items: readonly T[]): T => items[int(items.length)]!;

function leb(value: number): number[] {
  const out: number[] = [];
  while (value >= 0x80) {
    out.push((value & 0x7f) | 0x80);
    value = value >>> 7;
  }
  out.push(value);
  return out;
}

/** Rewrites the last 4 bytes as the CRC of the rest, so a mutation gets past the checksum. */
function restampChecksum(bytes: Uint8Array): Uint8Array {
  if (bytes.length >= 4) {
    new DataView(bytes.buffer, bytes.byteOffset).setUint32(bytes.length - 4, crc32(bytes.subarray(0, bytes.length - 4)));
  }
  return bytes;
}

function withChecksumSlot(body: number[]): Uint8Array {
  return restampChecksum(Uint8Array.from([...body, 0, 0, 0, 0]));
}

const FINGERPRINT = [1, 2, 3, 4, 5, 6, 7, 8];
const bytesOf = (length: number, fill: (i: number) => number) => Uint8Array.from({ length }, (_, i) => fill(i));

const SEEDS: PsicContainerInput[] = [
  { backbone: 'hyperprior', fingerprint: Uint8Array.from(FINGERPRINT), height: 64, width: 300, sections: [] },
  {
    backbone: 'checkerboard',
    fingerprint: Uint8Array.from(FINGERPRINT),
    height: 768,
    width: 512,
    sections: [bytesOf(3, (i) => i), bytesOf(0, () => 0), bytesOf(200, (i) => (i * 7) & 0xff)],
  },
  {
    backbone: 'a'.repeat(64),
    fingerprint: new Uint8Array(8).fill(0xff),
    height: 2 ** 16,
    width: 2 ** 12,
    sections: Array.from({ length: 64 }, (_, s) => bytesOf(s % 5, (i) => s + i)),
  },
  { backbone: 'channel.v2_x-1', fingerprint: new Uint8Array(8), height: 1, width: 1, sections: [bytesOf(20_000, (i) => i & 0xff)] },
];
const VALID = SEEDS.map((seed) => writeContainer(seed));

/** Values at and around every boundary the reader checks. */
const INTERESTING_U32 = [0, 1, 2, 63, 64, 65, 127, 128, 16_384, 65_535, 65_536, 65_537, 2 ** 28, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1];

/** A header built field by field from absurd values, with a correct checksum. */
function absurdHeader(): Uint8Array {
  const nameLength = pick([0, 1, 3, 64, 65, 255]);
  // Sometimes fewer name bytes than declared, sometimes characters outside [a-z0-9._-].
  const presentNameBytes = int(2) ? nameLength : int(nameLength + 1);
  const name = Array.from({ length: presentNameBytes }, () => pick([0x61, 0x7a, 0x30, 0x2e, 0x5f, 0x2d, 0x41, 0x20, 0xff]));
  const count = pick(INTERESTING_U32);
  const sections: number[] = [];
  for (let i = 0, n = int(4); i < n; i++) sections.push(...leb(pick(INTERESTING_U32)), ...Array.from({ length: int(6) }, () => int(256)));
  return withChecksumSlot([
    ...[0x50, 0x53, 0x49, 0x43],
    int(8) ? 1 : int(256),
    int(8) ? 0 : int(256),
    nameLength,
    ...name,
    ...FINGERPRINT.slice(0, int(6) ? 8 : int(8)),
    ...(int(10) ? leb(pick(INTERESTING_U32)) : rawVarint()),
    ...(int(10) ? leb(pick(INTERESTING_U32)) : rawVarint()),
    ...(int(10) ? leb(count) : rawVarint()),
    ...sections,
  ]);
}

/** Bytes that look like a varint but may be overlong, over 32 bits or unterminated. */
function rawVarint(): number[] {
  return Array.from({ length: 1 + int(7) }, () => pick([0x00, 0x01, 0x0f, 0x10, 0x7f, 0x80, 0x8f, 0xff]));
}

function mutate(source: Uint8Array): Uint8Array {
  const bytes = source.slice();
  let out: Uint8Array = bytes;
  switch (int(6)) {
    case 0: // bit flips
      for (let i = 0, n = 1 + int(4); i < n && bytes.length; i++) bytes[int(bytes.length)]! ^= 1 << int(8);
      break;
    case 1: // random byte values, biased towards the header
      for (let i = 0, n = 1 + int(3); i < n && bytes.length; i++) bytes[int(Math.min(bytes.length, 40))] = int(256);
      break;
    case 2: {
      // insert bytes
      const at = int(bytes.length + 1);
      const extra = Array.from({ length: 1 + int(8) }, () => int(256));
      out = Uint8Array.from([...bytes.subarray(0, at), ...extra, ...bytes.subarray(at)]);
      break;
    }
    case 3: {
      // delete bytes
      const at = int(bytes.length);
      out = Uint8Array.from([...bytes.subarray(0, at), ...bytes.subarray(at + 1 + int(8))]);
      break;
    }
    case 4: // truncate or extend
      out = int(2) ? bytes.subarray(0, int(bytes.length)) : Uint8Array.from([...bytes, ...Array.from({ length: 1 + int(4) }, () => int(256))]);
      break;
    default: // splice an odd varint where height / width / count / lengths live
      out = Uint8Array.from([...bytes.subarray(0, 25 + int(4)), ...rawVarint(), ...bytes.subarray(25 + int(8))]);
  }
  // Most of the time, make the checksum agree so the mutation reaches field validation.
  return int(4) ? restampChecksum(out) : out;
}

function randomBytes(): Uint8Array {
  const prefix = int(2) ? [0x50, 0x53, 0x49, 0x43, 1] : [];
  return withChecksumSlot([...prefix, ...Array.from({ length: int(120) }, () => int(256))]);
}

interface FuzzReport {
  inputs: number;
  accepted: number;
  codes: Partial<Record<BitstreamErrorCode, number>>;
  failures: string[];
  slowestMs: number;
  memoryGrowth: number;
}

function runFuzz(): FuzzReport {
  const report: FuzzReport = { inputs: 0, accepted: 0, codes: {}, failures: [], slowestMs: 0, memoryGrowth: 0 };
  const baseline = process.memoryUsage();
  const hex = (b: Uint8Array) => Buffer.from(b.subarray(0, 96)).toString('hex') + (b.length > 96 ? `…(${b.length} bytes)` : '');

  const check = (input: Uint8Array, origin: string) => {
    report.inputs++;
    const started = performance.now();
    try {
      const container = readContainer(input);
      report.accepted++;
      // Anything accepted must be canonical: writing it back gives the same bytes.
      const again = writeContainer(container);
      if (!Buffer.from(again).equals(input)) report.failures.push(`${origin}: accepted but not canonical: ${hex(input)}`);
      const header = readContainerHeader(input);
      if (header.height !== container.height || header.backbone !== container.backbone) {
        report.failures.push(`${origin}: header peek disagrees: ${hex(input)}`);
      }
    } catch (error) {
      if (error instanceof BitstreamError) report.codes[error.code] = (report.codes[error.code] ?? 0) + 1;
      else report.failures.push(`${origin}: non-typed ${String(error)}: ${hex(input)}`);
    }
    try {
      readContainerHeader(input);
    } catch (error) {
      if (!(error instanceof BitstreamError)) report.failures.push(`${origin}: header peek non-typed ${String(error)}`);
    }
    const elapsed = performance.now() - started;
    report.slowestMs = Math.max(report.slowestMs, elapsed);
    if (elapsed > MAX_MS_PER_INPUT) report.failures.push(`${origin}: took ${elapsed.toFixed(0)} ms: ${hex(input)}`);
    if (report.inputs % 500 === 0) {
      const now = process.memoryUsage();
      report.memoryGrowth = Math.max(report.memoryGrowth, now.rss - baseline.rss, now.arrayBuffers - baseline.arrayBuffers);
    }
  };

  // Every truncation of every seed (the big seed: every position in its header, sampled after).
  VALID.forEach((valid, s) => {
    for (let length = 0; length < valid.length; length += length < 400 ? 1 : 97) check(valid.subarray(0, length), `seed ${s} cut ${length}`);
  });
  // Every single-bit flip of the small seeds' headers, with and without a fixed checksum.
  VALID.slice(0, 2).forEach((valid, s) => {
    for (let bit = 0; bit < Math.min(valid.length, 48) * 8; bit++) {
      const flipped = valid.slice();
      flipped[bit >> 3]! ^= 1 << (bit & 7);
      check(flipped, `seed ${s} flip ${bit}`);
      check(restampChecksum(flipped.slice()), `seed ${s} flip ${bit} restamped`);
    }
  });
  for (let round = 0; round < RANDOM_ROUNDS; round++) {
    const kind = round % 10;
    if (kind < 6) check(mutate(pick(VALID)), `seed 0x${SEED.toString(16)} round ${round} mutate`);
    else if (kind < 9) check(absurdHeader(), `seed 0x${SEED.toString(16)} round ${round} absurd`);
    else check(randomBytes(), `seed 0x${SEED.toString(16)} round ${round} random`);
  }
  return report;
}

describe('readContainer under fuzzing', () => {
  let report: FuzzReport;
  beforeAll(() => {
    report = runFuzz();
    if (process.env.PSIC_FUZZ_VERBOSE) console.info({ seed: SEED, ...report, failures: report.failures.slice(0, 5) });
  });

  it('ran at least 10,000 inputs', () => {
    expect(report.inputs).toBeGreaterThanOrEqual(10_000);
  });

  it('only ever throws BitstreamError, and accepts only canonical containers', () => {
    expect(report.failures.slice(0, 10)).toEqual([]);
  });

  it('reached every validation stage, not just the checksum', () => {
    for (const code of ['BAD_MAGIC', 'UNSUPPORTED_VERSION', 'TRUNCATED', 'TOO_LARGE', 'MALFORMED', 'CHECKSUM'] as const) {
      expect(report.codes[code] ?? 0, code).toBeGreaterThan(50);
    }
    expect(report.accepted).toBeGreaterThan(0);
  });

  it(`takes under ${MAX_MS_PER_INPUT} ms per input`, () => {
    expect(report.slowestMs).toBeLessThan(MAX_MS_PER_INPUT);
  });

  it('keeps memory bounded', () => {
    expect(report.memoryGrowth).toBeLessThan(MAX_MEMORY_GROWTH);
  });
});
