/**
 * The safetensors weight format (https://github.com/huggingface/safetensors):
 * u64 little-endian header length, a JSON header naming every tensor's dtype,
 * shape and byte range, then the raw little-endian tensor data.
 *
 * The reader treats the file as hostile: the header length, the JSON, every
 * dtype, shape and offset are checked against the bytes present and against
 * the caller's limits before a single tensor is copied out, and any failure is
 * PsicError('BAD_WEIGHTS') naming what is wrong. The writer is deterministic
 * (sorted names, compact JSON, header padded with spaces to a multiple of 8),
 * so the same weights always give the same bytes and the same fingerprint.
 */
import { PsicError } from '@psic/entropy';
import { DTYPE_BYTES, decodeElements, encodeElements, expectedArrayName, isSafeDtype, type SafeDtype, type SafeTypedArray } from './safetensors-dtypes.js';

export interface SafeTensor {
  dtype: SafeDtype;
  shape: number[];
  /** F16 and BF16 tensors are read into (and written from) Float32Array. */
  data: SafeTypedArray;
}

export interface SafetensorsFile {
  tensors: Map<string, SafeTensor>;
  /** The header's free-form `__metadata__` string map ({} when absent). */
  metadata: Record<string, string>;
}

export interface SafetensorsLimits {
  /** Largest JSON header accepted, in bytes. Default 100 MB. */
  maxHeaderBytes?: number;
  /** Largest tensor data section accepted, in bytes. Default 4 GiB. */
  maxDataBytes?: number;
  /** Most tensors accepted. Default 1,000,000. */
  maxTensors?: number;
  /** Most dimensions per tensor. Default 16. */
  maxRank?: number;
}

export const DEFAULT_SAFETENSORS_LIMITS: Readonly<Required<SafetensorsLimits>> = Object.freeze({
  maxHeaderBytes: 100_000_000,
  maxDataBytes: 4 * 1024 ** 3,
  maxTensors: 1_000_000,
  maxRank: 16,
});

const METADATA_KEY = '__metadata__';
const LENGTH_PREFIX_BYTES = 8;

// ---------------------------------------------------------------- reading

interface TensorEntry {
  name: string;
  dtype: SafeDtype;
  shape: number[];
  begin: number;
  end: number;
}

/** Parse a whole safetensors file. Nothing is allocated for tensors until every entry is validated. */
export function readSafetensors(bytes: Uint8Array, limits?: SafetensorsLimits): SafetensorsFile {
  const max = { ...DEFAULT_SAFETENSORS_LIMITS, ...limits };
  const { header, dataStart } = readHeaderJson(bytes, max.maxHeaderBytes);
  const dataLength = bytes.length - dataStart;
  if (dataLength > max.maxDataBytes) bad(`tensor data is ${dataLength} bytes, more than the limit of ${max.maxDataBytes}`);

  const metadata = parseMetadata(header[METADATA_KEY]);
  const names = Object.keys(header).filter((k) => k !== METADATA_KEY);
  if (names.length > max.maxTensors) bad(`header lists ${names.length} tensors, more than the limit of ${max.maxTensors}`);
  const entries = names.map((name) => parseEntry(name, header[name], max.maxRank));
  checkCoverage(entries, dataLength);

  const tensors = new Map<string, SafeTensor>();
  for (const e of entries) {
    const data = decodeElements(e.dtype, bytes.subarray(dataStart + e.begin, dataStart + e.end));
    tensors.set(e.name, { dtype: e.dtype, shape: e.shape, data });
  }
  return { tensors, metadata };
}

/** Only the header: names, dtypes, shapes and metadata, without copying any tensor data. */
export function readSafetensorsHeader(bytes: Uint8Array, limits?: SafetensorsLimits): { entries: { name: string; dtype: SafeDtype; shape: number[] }[]; metadata: Record<string, string> } {
  const max = { ...DEFAULT_SAFETENSORS_LIMITS, ...limits };
  const { header, dataStart } = readHeaderJson(bytes, max.maxHeaderBytes);
  const metadata = parseMetadata(header[METADATA_KEY]);
  const names = Object.keys(header).filter((k) => k !== METADATA_KEY);
  if (names.length > max.maxTensors) bad(`header lists ${names.length} tensors, more than the limit of ${max.maxTensors}`);
  const entries = names.map((name) => parseEntry(name, header[name], max.maxRank));
  checkCoverage(entries, bytes.length - dataStart);
  return { entries: entries.map(({ name, dtype, shape }) => ({ name, dtype, shape })), metadata };
}

function readHeaderJson(bytes: Uint8Array, maxHeaderBytes: number): { header: Record<string, unknown>; dataStart: number } {
  if (bytes.length < LENGTH_PREFIX_BYTES) bad(`file is ${bytes.length} bytes, too short for the 8-byte header length`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const declared = view.getBigUint64(0, true);
  const remaining = BigInt(bytes.length - LENGTH_PREFIX_BYTES);
  if (declared > remaining) bad(`header length ${declared} exceeds the ${remaining} bytes that follow it`);
  if (declared > BigInt(maxHeaderBytes)) bad(`header length ${declared} exceeds the limit of ${maxHeaderBytes} bytes`);
  const headerLength = Number(declared);
  if (headerLength < 2) bad(`header length ${headerLength} is too short for a JSON object`);

  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(LENGTH_PREFIX_BYTES, LENGTH_PREFIX_BYTES + headerLength));
  } catch {
    bad('header is not valid UTF-8');
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (err) {
    bad(`header is not valid JSON (${(err as Error).message})`);
  }
  if (!isPlainObject(header)) bad('header must be a JSON object');
  return { header, dataStart: LENGTH_PREFIX_BYTES + headerLength };
}

function parseMetadata(value: unknown): Record<string, string> {
  if (value === undefined) return {};
  if (!isPlainObject(value)) bad(`${METADATA_KEY} must be an object of strings`);
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== 'string') bad(`${METADATA_KEY}.${k} must be a string`);
    out[k] = v;
  }
  return out;
}

function parseEntry(name: string, value: unknown, maxRank: number): TensorEntry {
  if (name.length === 0) bad('a tensor has an empty name');
  if (!isPlainObject(value)) bad(`tensor "${name}": entry must be an object`);
  const { dtype, shape, data_offsets: offsets } = value;
  if (!isSafeDtype(dtype)) bad(`tensor "${name}": unsupported dtype ${JSON.stringify(dtype)}`);
  if (!Array.isArray(shape) || shape.length > maxRank || !shape.every(isDimension)) {
    bad(`tensor "${name}": shape must be an array of at most ${maxRank} non-negative integers`);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isDimension)) {
    bad(`tensor "${name}": data_offsets must be [begin, end] with non-negative integers`);
  }
  const [begin, end] = offsets as [number, number];
  if (end < begin) bad(`tensor "${name}": data_offsets [${begin}, ${end}] end before they begin`);
  // Multiply in floating point: a hostile shape can overflow integers, but then it exceeds the span.
  const elements = (shape as number[]).reduce((a, b) => a * b, 1);
  if (elements * DTYPE_BYTES[dtype] !== end - begin) {
    bad(`tensor "${name}": shape [${shape}] of ${dtype} needs ${elements * DTYPE_BYTES[dtype]} bytes but data_offsets span ${end - begin}`);
  }
  return { name, dtype, shape: (shape as number[]).slice(), begin, end };
}

/** Every byte of the data section belongs to exactly one tensor: no gaps, no overlaps, nothing past the end. */
function checkCoverage(entries: TensorEntry[], dataLength: number): void {
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  for (const e of sorted) {
    if (e.begin < cursor) bad(`tensor "${e.name}": data_offsets [${e.begin}, ${e.end}] overlap another tensor`);
    if (e.begin > cursor) bad(`tensor "${e.name}": data_offsets [${e.begin}, ${e.end}] leave a gap after byte ${cursor}`);
    if (e.end > dataLength) bad(`tensor "${e.name}": data_offsets [${e.begin}, ${e.end}] run past the ${dataLength} data bytes`);
    cursor = e.end;
  }
  if (cursor !== dataLength) bad(`${dataLength - cursor} trailing data bytes belong to no tensor`);
}

function isDimension(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function bad(message: string): never {
  throw new PsicError('BAD_WEIGHTS', `safetensors: ${message}`);
}

// ---------------------------------------------------------------- writing

/**
 * Serialise tensors (a Map or a plain record) and optional string metadata.
 * Tensors are laid out in sorted-name order, the header is compact JSON padded
 * with spaces to a multiple of 8, data little-endian. A wrong-sized or
 * wrong-typed array is a caller bug and throws RangeError / TypeError.
 */
export function writeSafetensors(tensors: Map<string, SafeTensor> | Record<string, SafeTensor>, metadata?: Record<string, string>): Uint8Array {
  const map = tensors instanceof Map ? tensors : new Map(Object.entries(tensors));
  const names = [...map.keys()].sort(compareNames);
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new TypeError(`safetensors metadata "${k}" must be a string`);
    }
    header[METADATA_KEY] = metadata;
  }
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const name of names) {
    if (name === METADATA_KEY || name.length === 0) throw new RangeError(`"${name}" cannot be a tensor name`);
    const t = map.get(name)!;
    const chunk = encodeTensor(name, t);
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + chunk.length] };
    chunks.push(chunk);
    offset += chunk.length;
  }

  const json = new TextEncoder().encode(JSON.stringify(header));
  const headerLength = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(LENGTH_PREFIX_BYTES + headerLength + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLength), true);
  out.set(json, LENGTH_PREFIX_BYTES);
  out.fill(0x20, LENGTH_PREFIX_BYTES + json.length, LENGTH_PREFIX_BYTES + headerLength);
  let at = LENGTH_PREFIX_BYTES + headerLength;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}

function encodeTensor(name: string, t: SafeTensor): Uint8Array {
  if (!isSafeDtype(t.dtype)) throw new TypeError(`tensor "${name}": unsupported dtype ${String(t.dtype)}`);
  if (!t.shape.every(isDimension)) throw new RangeError(`tensor "${name}": bad shape [${t.shape}]`);
  const elements = t.shape.reduce((a, b) => a * b, 1);
  if (t.data.length !== elements) {
    throw new RangeError(`tensor "${name}": shape [${t.shape}] has ${elements} elements but the ${expectedArrayName(t.dtype)} holds ${t.data.length}`);
  }
  return encodeElements(t.dtype, t.data);
}

/** Plain code-unit order: for the ASCII names weights use, the same order as Python's sorted(). */
function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
