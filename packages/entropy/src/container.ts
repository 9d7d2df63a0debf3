/**
 * The `.psic` bitstream container (byte layout in ../BITSTREAM.md).
 *
 * The reader treats every byte as hostile: each field is checked against the
 * bytes actually present and against the caller's limits before anything is
 * sized from it, and every failure is a BitstreamError with a stable code.
 * The writer checks its input with the same rules and throws RangeError,
 * because a bad value there is a bug in the caller, not a bad file.
 */
import { crc32 } from './crc32.js';
import { BitstreamError, type BitstreamErrorCode } from './errors.js';

/** The reader and writer use this private copy, so a caller mutating PSIC_MAGIC cannot break them. */
const MAGIC = Uint8Array.of(0x50, 0x53, 0x49, 0x43);
/** ASCII "PSIC". */
export const PSIC_MAGIC: Uint8Array = MAGIC.slice();
export const PSIC_FORMAT_VERSION = 1;
/** Fingerprint size: callers store the first 8 bytes of SHA-256(weights). */
export const PSIC_FINGERPRINT_BYTES = 8;
export const PSIC_MAX_BACKBONE_BYTES = 64;
/** Flag bits that version 1 defines; every other bit is reserved and must be 0. */
export const PSIC_V1_FLAG_MASK = 0x00;
/** The CRC-32 trailer, stored big-endian. */
export const PSIC_CHECKSUM_BYTES = 4;
const MAX_VARINT_BYTES = 5;
const MAX_U32 = 0xffff_ffff;
/**
 * Longest possible header (magic .. width): a prefix of this many bytes is
 * always enough for readContainerHeader.
 */
export const PSIC_MAX_HEADER_BYTES =
  MAGIC.length + 1 + 1 + 1 + PSIC_MAX_BACKBONE_BYTES + PSIC_FINGERPRINT_BYTES + 2 * MAX_VARINT_BYTES;

export interface PsicHeader {
  version: number;
  /** Registry name of the backbone, ASCII [a-z0-9._-], 1..64 bytes. */
  backbone: string;
  /** Identifies the exact model weights (PSIC_FINGERPRINT_BYTES bytes). */
  fingerprint: Uint8Array;
  height: number;
  width: number;
  /** Reserved: always 0 in version 1. */
  flags: number;
}

export interface PsicContainer extends PsicHeader {
  /** Opaque payloads, e.g. the z and y rANS streams of a hyperprior. */
  sections: Uint8Array[];
}

export interface ContainerLimits {
  /** Largest height and largest width accepted. Default 2^16. */
  maxDimension?: number;
  /** Largest height × width accepted. Default 2^28. */
  maxPixels?: number;
  /** Largest section count accepted. Default 64. */
  maxSections?: number;
  /** Largest whole container accepted, in bytes. Default 2^30. */
  maxBytes?: number;
}

export const DEFAULT_CONTAINER_LIMITS: Readonly<Required<ContainerLimits>> = Object.freeze({
  maxDimension: 2 ** 16,
  maxPixels: 2 ** 28,
  maxSections: 64,
  maxBytes: 2 ** 30,
});

export type PsicContainerInput = Omit<PsicContainer, 'version' | 'flags'> & {
  version?: number;
  flags?: number;
};

// ---------------------------------------------------------------- reading

/** Reads the whole container, verifying every field, the layout and the checksum. */
export function readContainer(bytes: Uint8Array, limits?: ContainerLimits): PsicContainer {
  const max = resolveLimits(limits);
  const reader = new ByteReader(bytes);
  readPreamble(reader);
  if (bytes.length > max.maxBytes) {
    fail('TOO_LARGE', `container is ${bytes.length} bytes, over the limit of ${max.maxBytes}`);
  }
  const header = readHeaderFields(reader, max);
  const sections = readSections(reader, max);
  verifyChecksumAndEnd(reader);
  return { ...header, sections };
}

/**
 * Cheap peek at the header: same checks as readContainer up to the width, no
 * section parsing and no checksum. Works on a prefix of the file of at least
 * PSIC_MAX_HEADER_BYTES bytes (or the whole file if shorter).
 */
export function readContainerHeader(bytes: Uint8Array, limits?: ContainerLimits): PsicHeader {
  const max = resolveLimits(limits);
  const reader = new ByteReader(bytes);
  readPreamble(reader);
  return readHeaderFields(reader, max);
}

/** Refuses a stream that was written by another model than the one about to decode it. */
export function assertModel(header: PsicHeader, backbone: string, fingerprint: Uint8Array): void {
  if (fingerprint.length !== PSIC_FINGERPRINT_BYTES) {
    throw new RangeError(`fingerprint must be ${PSIC_FINGERPRINT_BYTES} bytes, got ${fingerprint.length}`);
  }
  if (header.backbone !== backbone || !sameBytes(header.fingerprint, fingerprint)) {
    fail(
      'WRONG_MODEL',
      `stream was written by ${header.backbone} (weights ${toHex(header.fingerprint)}), ` +
        `not by ${backbone} (weights ${toHex(fingerprint)})`,
    );
  }
}

/** Magic then version: the two checks that decide whether this is our format at all. */
function readPreamble(reader: ByteReader): void {
  const bytes = reader.buffer;
  // A short input is "not a .psic file", not "a truncated .psic file".
  if (bytes.length < MAGIC.length || !sameBytes(bytes.subarray(0, MAGIC.length), MAGIC)) {
    fail('BAD_MAGIC', 'not a .psic container (magic bytes "PSIC" missing)');
  }
  reader.skip(MAGIC.length, 'magic');
  const version = reader.u8('version');
  if (version !== PSIC_FORMAT_VERSION) {
    fail('UNSUPPORTED_VERSION', `format version ${version} is not supported (this reader knows ${PSIC_FORMAT_VERSION})`);
  }
}

function readHeaderFields(reader: ByteReader, max: Required<ContainerLimits>): PsicHeader {
  const flagsAt = reader.pos;
  const flags = reader.u8('flags');
  if ((flags & ~PSIC_V1_FLAG_MASK) !== 0) {
    fail('MALFORMED', `reserved flag bits set (0x${flags.toString(16)}) at byte ${flagsAt}`);
  }
  const backbone = readBackboneName(reader);
  // A copy (Uint8Array.from, not slice: Buffer#slice is a view) so the header can outlive the input.
  const fingerprint = Uint8Array.from(reader.take(PSIC_FINGERPRINT_BYTES, 'fingerprint'));
  const height = readDimension(reader, 'height', max);
  const width = readDimension(reader, 'width', max);
  if (height * width > max.maxPixels) {
    fail('TOO_LARGE', `image ${height}x${width} has more than ${max.maxPixels} pixels`);
  }
  return { version: PSIC_FORMAT_VERSION, backbone, fingerprint, height, width, flags };
}

function readBackboneName(reader: ByteReader): string {
  const lengthAt = reader.pos;
  const length = reader.u8('backbone name length');
  if (length < 1 || length > PSIC_MAX_BACKBONE_BYTES) {
    fail('MALFORMED', `backbone name length ${length} at byte ${lengthAt} is outside 1..${PSIC_MAX_BACKBONE_BYTES}`);
  }
  const nameAt = reader.pos;
  const name = reader.take(length, 'backbone name');
  for (let i = 0; i < name.length; i++) {
    if (!isBackboneChar(name[i]!)) {
      fail('MALFORMED', `backbone name byte 0x${name[i]!.toString(16)} at byte ${nameAt + i} is not in [a-z0-9._-]`);
    }
  }
  return String.fromCharCode(...name);
}

function readDimension(reader: ByteReader, field: 'height' | 'width', max: Required<ContainerLimits>): number {
  const at = reader.pos;
  const value = reader.varU32(field);
  if (value === 0) fail('MALFORMED', `${field} is 0 at byte ${at}`);
  if (value > max.maxDimension) {
    fail('TOO_LARGE', `${field} ${value} at byte ${at} is over the limit of ${max.maxDimension}`);
  }
  return value;
}

function readSections(reader: ByteReader, max: Required<ContainerLimits>): Uint8Array[] {
  const countAt = reader.pos;
  const count = reader.varU32('section count');
  if (count > max.maxSections) {
    fail('TOO_LARGE', `section count ${count} at byte ${countAt} is over the limit of ${max.maxSections}`);
  }
  // Each section takes at least its 1-byte length, and the checksum follows:
  // refuse an impossible count before building anything from it.
  if (count > reader.remaining() - PSIC_CHECKSUM_BYTES) {
    fail(
      'TRUNCATED',
      `${count} sections (at byte ${countAt}) and the checksum cannot fit in the ${reader.remaining()} bytes left`,
    );
  }
  const sections: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    const lengthAt = reader.pos;
    const length = reader.varU32(`section ${i} length`);
    if (length > reader.remaining() - PSIC_CHECKSUM_BYTES) {
      fail(
        'TRUNCATED',
        `section ${i} claims ${length} bytes at byte ${lengthAt}, ` +
          `but only ${Math.max(0, reader.remaining() - PSIC_CHECKSUM_BYTES)} are left before the checksum`,
      );
    }
    sections.push(reader.take(length, `section ${i}`));
  }
  return sections;
}

/**
 * The checksum is compared before the end-of-file check, so a damaged body
 * reads as CHECKSUM and only an intact container followed by junk reads as
 * MALFORMED.
 */
function verifyChecksumAndEnd(reader: ByteReader): void {
  const checksumAt = reader.pos;
  const stored = reader.u32be('checksum');
  const computed = crc32(reader.buffer.subarray(0, checksumAt));
  if (stored !== computed) {
    fail('CHECKSUM', `CRC-32 mismatch: stored ${hex32(stored)}, computed ${hex32(computed)}`);
  }
  if (reader.remaining() !== 0) {
    fail('MALFORMED', `${reader.remaining()} trailing bytes after the checksum at byte ${checksumAt}`);
  }
}

/** Bounds-checked cursor: every read either fits in the buffer or throws TRUNCATED. */
class ByteReader {
  pos = 0;
  constructor(readonly buffer: Uint8Array) {}

  remaining(): number {
    return this.buffer.length - this.pos;
  }

  skip(count: number, field: string): void {
    this.need(count, field);
    this.pos += count;
  }

  u8(field: string): number {
    this.need(1, field);
    return this.buffer[this.pos++]!;
  }

  u32be(field: string): number {
    this.need(4, field);
    const b = this.buffer;
    const p = this.pos;
    this.pos += 4;
    return ((b[p]! << 24) | (b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!) >>> 0;
  }

  /** A view into the input, not a copy. */
  take(count: number, field: string): Uint8Array {
    this.need(count, field);
    const view = this.buffer.subarray(this.pos, this.pos + count);
    this.pos += count;
    return view;
  }

  /** Unsigned LEB128, at most 5 bytes, value <= 2^32-1, shortest encoding only. */
  varU32(field: string): number {
    const start = this.pos;
    let value = 0;
    for (let i = 0; i < MAX_VARINT_BYTES; i++) {
      const byte = this.u8(field);
      // The 5th byte carries bits 28..31 only, and never a continuation bit.
      if (i === MAX_VARINT_BYTES - 1 && byte > 0x0f) {
        fail('MALFORMED', `${field} varint at byte ${start} does not fit in 32 bits`);
      }
      value += (byte & 0x7f) * 2 ** (7 * i);
      if ((byte & 0x80) === 0) {
        // A zero final byte is padding: one value, one encoding.
        if (byte === 0 && i > 0) fail('MALFORMED', `${field} varint at byte ${start} is not in its shortest form`);
        return value;
      }
    }
    throw new Error('unreachable: the 5th varint byte always ends the loop');
  }

  private need(count: number, field: string): void {
    if (count > this.remaining()) {
      fail('TRUNCATED', `${field} needs ${count} bytes at byte ${this.pos}, only ${this.remaining()} left`);
    }
  }
}

// ---------------------------------------------------------------- writing

/**
 * Serialises a container. Validates with the same rules as the reader (and
 * the same limits, default or given) so it never writes a file that
 * readContainer would refuse; violations are RangeError.
 */
export function writeContainer(container: PsicContainerInput, limits?: ContainerLimits): Uint8Array {
  const max = resolveLimits(limits);
  validateForWriting(container, max);
  const { backbone, fingerprint, height, width, sections } = container;

  let size = MAGIC.length + 1 + 1 + 1 + backbone.length + PSIC_FINGERPRINT_BYTES;
  size += varU32Size(height) + varU32Size(width) + varU32Size(sections.length);
  for (const section of sections) size += varU32Size(section.length) + section.length;
  size += PSIC_CHECKSUM_BYTES;
  if (size > max.maxBytes) throw new RangeError(`container would be ${size} bytes, over maxBytes ${max.maxBytes}`);

  const out = new Uint8Array(size);
  let pos = 0;
  const put = (data: ArrayLike<number>) => {
    out.set(data, pos);
    pos += data.length;
  };
  const putVarU32 = (value: number) => {
    while (value >= 0x80) {
      out[pos++] = (value & 0x7f) | 0x80;
      value = value >>> 7;
    }
    out[pos++] = value;
  };

  put(MAGIC);
  put([PSIC_FORMAT_VERSION, container.flags ?? 0, backbone.length]);
  for (let i = 0; i < backbone.length; i++) out[pos++] = backbone.charCodeAt(i);
  put(fingerprint);
  putVarU32(height);
  putVarU32(width);
  putVarU32(sections.length);
  for (const section of sections) {
    putVarU32(section.length);
    put(section);
  }
  const checksum = crc32(out.subarray(0, pos));
  put([checksum >>> 24, (checksum >>> 16) & 0xff, (checksum >>> 8) & 0xff, checksum & 0xff]);
  return out;
}

function validateForWriting(c: PsicContainerInput, max: Required<ContainerLimits>): void {
  if (c.version !== undefined && c.version !== PSIC_FORMAT_VERSION) {
    throw new RangeError(`can only write format version ${PSIC_FORMAT_VERSION}, not ${c.version}`);
  }
  const flags = c.flags ?? 0;
  if (!Number.isInteger(flags) || flags < 0 || flags > 0xff || (flags & ~PSIC_V1_FLAG_MASK) !== 0) {
    throw new RangeError(`flags ${flags} set bits reserved in format version ${PSIC_FORMAT_VERSION}`);
  }
  if (typeof c.backbone !== 'string' || !isBackboneName(c.backbone)) {
    throw new RangeError(`backbone name ${JSON.stringify(c.backbone)} must be 1..${PSIC_MAX_BACKBONE_BYTES} chars of [a-z0-9._-]`);
  }
  if (!(c.fingerprint instanceof Uint8Array) || c.fingerprint.length !== PSIC_FINGERPRINT_BYTES) {
    throw new RangeError(`fingerprint must be a Uint8Array of ${PSIC_FINGERPRINT_BYTES} bytes`);
  }
  for (const [field, value] of [['height', c.height], ['width', c.width]] as const) {
    if (!Number.isInteger(value) || value < 1 || value > max.maxDimension) {
      throw new RangeError(`${field} ${value} must be an integer in 1..${max.maxDimension}`);
    }
  }
  if (c.height * c.width > max.maxPixels) {
    throw new RangeError(`image ${c.height}x${c.width} has more than ${max.maxPixels} pixels`);
  }
  if (!Array.isArray(c.sections) || c.sections.length > max.maxSections) {
    throw new RangeError(`sections must be an array of at most ${max.maxSections} Uint8Arrays`);
  }
  c.sections.forEach((section, i) => {
    if (!(section instanceof Uint8Array)) throw new RangeError(`section ${i} is not a Uint8Array`);
    if (section.length > MAX_U32) throw new RangeError(`section ${i} is ${section.length} bytes, over 2^32-1`);
  });
}

function varU32Size(value: number): number {
  let size = 1;
  while (value >= 0x80) {
    value = value >>> 7;
    size++;
  }
  return size;
}

// ---------------------------------------------------------------- shared

function resolveLimits(limits: ContainerLimits | undefined): Required<ContainerLimits> {
  const resolved = { ...DEFAULT_CONTAINER_LIMITS, ...stripUndefined(limits) };
  for (const [name, value] of Object.entries(resolved)) {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new RangeError(`container limit ${name} must be a non-negative safe integer, got ${value}`);
    }
  }
  return resolved;
}

function stripUndefined(limits: ContainerLimits | undefined): ContainerLimits {
  if (!limits) return {};
  return Object.fromEntries(Object.entries(limits).filter(([, v]) => v !== undefined));
}

function isBackboneChar(code: number): boolean {
  return (
    (code >= 0x61 && code <= 0x7a) || // a-z
    (code >= 0x30 && code <= 0x39) || // 0-9
    code === 0x2e || // .
    code === 0x5f || // _
    code === 0x2d // -
  );
}

/** True for a valid backbone registry name as stored in the container. */
export function isBackboneName(name: string): boolean {
  if (name.length < 1 || name.length > PSIC_MAX_BACKBONE_BYTES) return false;
  for (let i = 0; i < name.length; i++) if (!isBackboneChar(name.charCodeAt(i))) return false;
  return true;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

function hex32(value: number): string {
  return '0x' + value.toString(16).padStart(8, '0');
}

function fail(code: BitstreamErrorCode, message: string): never {
  throw new BitstreamError(code, message);
}
