import * as zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  assertModel,
  PSIC_FINGERPRINT_BYTES,
  PSIC_FORMAT_VERSION,
  PSIC_MAGIC,
  PSIC_MAX_HEADER_BYTES,
  readContainer,
  readContainerHeader,
  writeContainer,
  type PsicContainerInput,
} from '../src/container.js';
import { crc32 } from '../src/crc32.js';
import { BitstreamError, PsicError, type BitstreamErrorCode } from '../src/errors.js';

const FINGERPRINT = Uint8Array.of(0x9f, 0x86, 0xd0, 0x81, 0x88, 0x4c, 0x7d, 0x65);
const ascii = (s: string) => Array.from(s, (c) => c.charCodeAt(0));

function sample(overrides: Partial<PsicContainerInput> = {}): PsicContainerInput {
  return {
    backbone: 'hyperprior',
    fingerprint: FINGERPRINT,
    height: 64,
    width: 300,
    flags: 0,
    sections: [Uint8Array.of(0xde, 0xad), Uint8Array.of(0xbe, 0xef, 0x01)],
    ...overrides,
  };
}

/** Unsigned LEB128, the container's varint, for hand-built inputs. */
function leb(value: number): number[] {
  const out: number[] = [];
  while (value >= 0x80) {
    out.push((value & 0x7f) | 0x80);
    value = value >>> 7;
  }
  out.push(value);
  return out;
}

/** Concatenates raw parts and appends a correct big-endian CRC-32, so only the field under test is wrong. */
function assemble(parts: ArrayLike<number>[], options: { checksum?: boolean } = {}): Uint8Array {
  const body = Uint8Array.from(parts.flatMap((p) => Array.from(p)));
  if (options.checksum === false) return body;
  const out = new Uint8Array(body.length + 4);
  out.set(body);
  new DataView(out.buffer).setUint32(body.length, crc32(body), false);
  return out;
}

/** A hand-built container whose fields can each be replaced by raw bytes. */
function raw(fields: {
  magic?: number[];
  version?: number[];
  flags?: number[];
  name?: number[];
  fingerprint?: number[];
  height?: number[];
  width?: number[];
  count?: number[];
  sections?: number[];
}): Uint8Array {
  return assemble([
    fields.magic ?? ascii('PSIC'),
    fields.version ?? [1],
    fields.flags ?? [0],
    fields.name ?? [3, ...ascii('abc')],
    fields.fingerprint ?? Array.from(FINGERPRINT),
    fields.height ?? leb(16),
    fields.width ?? leb(16),
    fields.count ?? leb(1),
    fields.sections ?? [2, 0xaa, 0xbb],
  ]);
}

function codeOf(action: () => unknown): BitstreamErrorCode | 'no error' {
  try {
    action();
  } catch (error) {
    if (error instanceof BitstreamError) return error.code;
    throw error;
  }
  return 'no error';
}

const readCode = (bytes: Uint8Array) => codeOf(() => readContainer(bytes));
const sameBytes = (a: Uint8Array, b: Uint8Array) => Buffer.from(a.buffer, a.byteOffset, a.length).equals(b);

describe('crc32', () => {
  it('matches the IEEE check value and edge cases', () => {
    expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
    expect(crc32(new Uint8Array(0))).toBe(0);
    expect(crc32(Uint8Array.of(0))).toBe(0xd202ef8d);
    expect(crc32(new Uint8Array(32).fill(0xff))).toBe(0xff6cab0b);
  });

  it('continues a running checksum through the seed', () => {
    const data = new TextEncoder().encode('privacy-shielded image compression');
    for (const cut of [0, 1, 7, data.length]) {
      expect(crc32(data.subarray(cut), crc32(data.subarray(0, cut)))).toBe(crc32(data));
    }
  });

  it('agrees with zlib on random data', () => {
    if (typeof zlib.crc32 !== 'function') return; // older Node without zlib.crc32
    let state = 12345;
    for (let n = 0; n < 50; n++) {
      const data = new Uint8Array(n * 37);
      for (let i = 0; i < data.length; i++) data[i] = (state = (state * 1103515245 + 12345) >>> 0) >>> 24;
      expect(crc32(data)).toBe(zlib.crc32(data));
    }
  });
});

describe('writeContainer / readContainer round trip', () => {
  const roundTrip = (input: PsicContainerInput) => {
    const bytes = writeContainer(input);
    const back = readContainer(bytes);
    expect(back.version).toBe(PSIC_FORMAT_VERSION);
    expect(back.backbone).toBe(input.backbone);
    expect(back.fingerprint).toEqual(input.fingerprint);
    expect([back.height, back.width, back.flags]).toEqual([input.height, input.width, input.flags ?? 0]);
    expect(back.sections.length).toBe(input.sections.length);
    back.sections.forEach((section, i) => expect(sameBytes(section, input.sections[i]!), `section ${i}`).toBe(true));
    // Canonical encoding: reading then writing reproduces the file byte for byte.
    expect(sameBytes(writeContainer(back), bytes)).toBe(true);
    return { bytes, back };
  };

  it('produces the documented example bytes (BITSTREAM.md)', () => {
    const hex = Buffer.from(writeContainer(sample())).toString('hex');
    expect(hex).toBe(
      '50534943' + '01' + '00' + '0a' + '68797065727072696f72' + '9f86d081884c7d65' + '40' + 'ac02' + '02' +
        '02' + 'dead' + '03' + 'beef01' + 'a1073f72',
    );
  });

  it('produces the documented smallest container (23 bytes)', () => {
    const smallest = writeContainer({ backbone: 'x', fingerprint: new Uint8Array(8), height: 1, width: 1, sections: [] });
    expect(Buffer.from(smallest).toString('hex')).toBe('50534943' + '0100' + '0178' + '0000000000000000' + '010100' + '9f5ee267');
  });

  it('handles zero sections', () => {
    const { bytes } = roundTrip(sample({ sections: [] }));
    expect(bytes.length).toBe(4 + 1 + 1 + 1 + 10 + 8 + 1 + 2 + 1 + 4);
  });

  it('handles many and empty sections, across varint length boundaries', () => {
    const lengths = [0, 1, 127, 128, 300, 16383, 16384, 0];
    const sections = Array.from({ length: 64 }, (_, i) => new Uint8Array(lengths[i % lengths.length]!).fill(i));
    roundTrip(sample({ sections }));
    roundTrip(sample({ sections: [new Uint8Array(0), new Uint8Array(0)] }));
  });

  it('handles a large section (4-byte length varint)', () => {
    const big = new Uint8Array((1 << 21) + 5);
    for (let i = 0; i < big.length; i++) big[i] = (i * 31) & 0xff;
    const { bytes } = roundTrip(sample({ sections: [big, Uint8Array.of(7)] }));
    expect(bytes.length).toBe(writeContainer(sample({ sections: [] })).length + 4 + big.length + 2);
  });

  it('handles a 64-byte name using every allowed character and the largest default image', () => {
    const name = 'abcdefghijklmnopqrstuvwxyz0123456789._-abcdefghijklmnopqrstuvwxy';
    expect(name.length).toBe(64);
    roundTrip(sample({ backbone: name, height: 2 ** 16, width: 2 ** 12 }));
    roundTrip(sample({ backbone: 'x', height: 1, width: 1 }));
  });

  it('returns sections as views into the input, not copies', () => {
    const bytes = writeContainer(sample());
    const { sections } = readContainer(bytes);
    expect(sections[0]!.buffer).toBe(bytes.buffer);
    expect(sections[0]!.byteOffset).toBe(30);
    expect(sections[1]!.byteOffset).toBe(33);
  });

  it('accepts sizes above the defaults when the caller raises the limits', () => {
    const limits = { maxDimension: 2 ** 20, maxPixels: 2 ** 34, maxSections: 100 };
    const input = sample({ height: 2 ** 20, width: 2 ** 14, sections: Array.from({ length: 100 }, () => new Uint8Array(1)) });
    const bytes = writeContainer(input, limits);
    expect(readContainer(bytes, limits).height).toBe(2 ** 20);
    expect(readCode(bytes)).toBe('TOO_LARGE');
  });
});

describe('writeContainer rejects invalid input with RangeError', () => {
  const cases: [string, Partial<PsicContainerInput>][] = [
    ['upper-case name', { backbone: 'Hyperprior' }],
    ['empty name', { backbone: '' }],
    ['65-byte name', { backbone: 'a'.repeat(65) }],
    ['non-ASCII name', { backbone: 'hyperpriör' }],
    ['short fingerprint', { fingerprint: new Uint8Array(7) }],
    ['zero height', { height: 0 }],
    ['fractional width', { width: 1.5 }],
    ['too wide', { width: 2 ** 16 + 1 }],
    ['too many pixels', { height: 2 ** 15, width: 2 ** 14 }],
    ['reserved flag', { flags: 1 }],
    ['future version', { version: 2 }],
    ['too many sections', { sections: Array.from({ length: 65 }, () => new Uint8Array(0)) }],
    ['non-byte section', { sections: [[1, 2] as unknown as Uint8Array] }],
  ];
  it.each(cases)('%s', (_, overrides) => {
    expect(() => writeContainer(sample(overrides))).toThrow(RangeError);
  });

  it('refuses to write more than maxBytes', () => {
    expect(() => writeContainer(sample(), { maxBytes: 39 })).toThrow(RangeError);
    expect(writeContainer(sample(), { maxBytes: 40 }).length).toBe(40);
  });

  it('refuses nonsense limits', () => {
    expect(() => readContainer(writeContainer(sample()), { maxSections: -1 })).toThrow(RangeError);
    expect(() => readContainer(writeContainer(sample()), { maxPixels: Number.NaN })).toThrow(RangeError);
  });
});

describe('readContainer error codes', () => {
  it('sanity: the hand-built baseline is valid', () => {
    expect(readContainer(raw({})).sections[0]).toEqual(Uint8Array.of(0xaa, 0xbb));
  });

  it('BAD_MAGIC for foreign and too-short inputs', () => {
    expect(readCode(new Uint8Array(0))).toBe('BAD_MAGIC');
    expect(readCode(Uint8Array.from(ascii('PSI')))).toBe('BAD_MAGIC');
    expect(readCode(raw({ magic: ascii('PSIX') }))).toBe('BAD_MAGIC');
    expect(readCode(Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a))).toBe('BAD_MAGIC');
    // The magic wins over every later problem.
    expect(readCode(raw({ magic: ascii('psic'), version: [9] }))).toBe('BAD_MAGIC');
  });

  it('UNSUPPORTED_VERSION for any version but 1, before the fields and the checksum', () => {
    for (const version of [0, 2, 255]) expect(readCode(raw({ version: [version] }))).toBe('UNSUPPORTED_VERSION');
    const badEverything = assemble([ascii('PSIC'), [2], [0xff, 0xff]], { checksum: false });
    expect(readCode(badEverything)).toBe('UNSUPPORTED_VERSION');
  });

  it('TRUNCATED for every proper prefix after the magic', () => {
    const bytes = writeContainer(sample());
    for (let length = PSIC_MAGIC.length; length < bytes.length; length++) {
      expect([length, readCode(bytes.subarray(0, length))]).toEqual([length, 'TRUNCATED']);
    }
  });

  it('TRUNCATED when a claimed length exceeds the bytes present (no allocation from it)', () => {
    expect(readCode(raw({ sections: [...leb(0xffff_ffff), 1, 2] }))).toBe('TRUNCATED');
    expect(readCode(raw({ sections: [3, 0xaa, 0xbb] }))).toBe('TRUNCATED');
    expect(readCode(raw({ name: [64, ...ascii('abc')] }))).toBe('TRUNCATED');
    // 50 sections claimed, only a handful of bytes follow.
    expect(readCode(raw({ count: leb(50), sections: [0, 0] }))).toBe('TRUNCATED');
  });

  it('TOO_LARGE for sizes over the limits', () => {
    expect(readCode(raw({ height: leb(2 ** 31), width: leb(2 ** 31) }))).toBe('TOO_LARGE');
    expect(readCode(raw({ height: leb(0xffff_ffff) }))).toBe('TOO_LARGE');
    expect(readCode(raw({ width: leb(2 ** 16 + 1) }))).toBe('TOO_LARGE');
    expect(readCode(raw({ height: leb(2 ** 15), width: leb(2 ** 14) }))).toBe('TOO_LARGE');
    expect(readCode(raw({ count: leb(65) }))).toBe('TOO_LARGE');
    expect(readCode(raw({ count: leb(0xffff_ffff) }))).toBe('TOO_LARGE');
    const bytes = writeContainer(sample());
    expect(codeOf(() => readContainer(bytes, { maxBytes: bytes.length - 1 }))).toBe('TOO_LARGE');
    expect(codeOf(() => readContainer(bytes, { maxDimension: 63 }))).toBe('TOO_LARGE');
    expect(codeOf(() => readContainer(bytes, { maxSections: 1 }))).toBe('TOO_LARGE');
    expect(codeOf(() => readContainer(bytes, { maxPixels: 64 * 300 }))).toBe('no error');
    expect(codeOf(() => readContainer(bytes, { maxPixels: 64 * 300 - 1 }))).toBe('TOO_LARGE');
  });

  it('MALFORMED for invalid field values', () => {
    const cases: Parameters<typeof raw>[0][] = [
      { flags: [0x01] },
      { flags: [0x80] },
      { name: [0] },
      { name: [65, ...ascii('a'.repeat(65))] },
      { name: [3, ...ascii('aBc')] },
      { name: [3, ...ascii('a c')] },
      { name: [3, 0x61, 0xc3, 0xb6] },
      { height: [0] },
      { width: [0] },
      { height: [0x90, 0x00] }, // overlong: 16 with a padding byte
      { count: [0x80, 0x00] }, // overlong zero
      { width: [0xff, 0xff, 0xff, 0xff, 0x10] }, // 2^32 does not fit in u32
      { height: [0x80, 0x80, 0x80, 0x80, 0x80, 0x01] }, // six-byte varint
    ];
    for (const fields of cases) expect([fields, readCode(raw(fields))]).toEqual([fields, 'MALFORMED']);
  });

  it('MALFORMED for trailing bytes after a valid checksum', () => {
    const bytes = writeContainer(sample());
    const padded = new Uint8Array(bytes.length + 1);
    padded.set(bytes);
    expect(readCode(padded)).toBe('MALFORMED');
  });

  it('CHECKSUM for a damaged body or checksum', () => {
    const bytes = writeContainer(sample());
    for (const position of [7, 20, 31, 34, bytes.length - 1]) {
      const damaged = bytes.slice();
      damaged[position]! ^= 0x04;
      expect([position, readCode(damaged)]).toEqual([position, 'CHECKSUM']);
    }
  });

  it('reports field errors before the checksum (fields first, checksum last)', () => {
    const bytes = writeContainer(sample({ sections: [] }));
    const badFlags = bytes.slice();
    badFlags[5] = 1; // checksum now wrong too
    expect(readCode(badFlags)).toBe('MALFORMED');
  });

  it('throws BitstreamError, a PsicError, with a helpful message', () => {
    try {
      readContainer(raw({ height: leb(2 ** 31) }));
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(BitstreamError);
      expect(error).toBeInstanceOf(PsicError);
      expect((error as BitstreamError).name).toBe('BitstreamError');
      expect((error as Error).message).toMatch(/height 2147483648 .* limit of 65536/);
    }
  });
});

describe('readContainerHeader', () => {
  it('reads the header from a prefix, ignoring sections and checksum', () => {
    const bytes = writeContainer(sample({ sections: [new Uint8Array(1000)] }));
    const header = readContainerHeader(bytes.subarray(0, PSIC_MAX_HEADER_BYTES));
    expect(header).toEqual({ version: 1, backbone: 'hyperprior', fingerprint: FINGERPRINT, height: 64, width: 300, flags: 0 });
    const damaged = bytes.slice();
    damaged[damaged.length - 1]! ^= 1;
    expect(readContainerHeader(damaged).width).toBe(300);
    expect(readCode(damaged)).toBe('CHECKSUM');
  });

  it('applies the same checks to the header fields', () => {
    expect(codeOf(() => readContainerHeader(Uint8Array.from(ascii('JPEG'))))).toBe('BAD_MAGIC');
    expect(codeOf(() => readContainerHeader(raw({ version: [3] })))).toBe('UNSUPPORTED_VERSION');
    expect(codeOf(() => readContainerHeader(raw({ height: leb(2 ** 31) })))).toBe('TOO_LARGE');
    expect(codeOf(() => readContainerHeader(raw({ name: [2, ...ascii('A_')] })))).toBe('MALFORMED');
    expect(codeOf(() => readContainerHeader(writeContainer(sample()).subarray(0, 20)))).toBe('TRUNCATED');
  });

  it('returns a fingerprint copy that does not alias the input, even from a Buffer', () => {
    const bytes = writeContainer(sample());
    const fromBuffer = Buffer.from(bytes);
    const header = readContainerHeader(bytes);
    const bufferHeader = readContainer(fromBuffer);
    bytes[17] = 0;
    fromBuffer[17] = 0;
    expect(header.fingerprint).toEqual(FINGERPRINT);
    expect(Array.from(bufferHeader.fingerprint)).toEqual(Array.from(FINGERPRINT));
    expect(bufferHeader.sections[0]!.buffer).toBe(fromBuffer.buffer);
  });

  it('is not broken by a caller mutating PSIC_MAGIC', () => {
    const bytes = writeContainer(sample());
    PSIC_MAGIC[0] = 0;
    try {
      expect(readContainer(bytes).width).toBe(300);
      expect(writeContainer(sample())).toEqual(bytes);
    } finally {
      PSIC_MAGIC[0] = 0x50;
    }
  });
});

describe('assertModel', () => {
  const header = readContainerHeader(writeContainer(sample()));

  it('passes for the model that wrote the stream', () => {
    expect(() => assertModel(header, 'hyperprior', FINGERPRINT.slice())).not.toThrow();
  });

  it('refuses another backbone or other weights with WRONG_MODEL', () => {
    expect(codeOf(() => assertModel(header, 'checkerboard', FINGERPRINT))).toBe('WRONG_MODEL');
    const otherWeights = FINGERPRINT.slice();
    otherWeights[PSIC_FINGERPRINT_BYTES - 1]! ^= 1;
    expect(codeOf(() => assertModel(header, 'hyperprior', otherWeights))).toBe('WRONG_MODEL');
  });

  it('treats a wrongly sized fingerprint as a programming error', () => {
    expect(() => assertModel(header, 'hyperprior', new Uint8Array(32))).toThrow(RangeError);
  });
});
