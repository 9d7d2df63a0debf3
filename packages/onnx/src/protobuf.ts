/**
 * A minimal protocol-buffers writer: just what the ONNX messages need
 * (varint scalars, length-delimited strings / bytes / sub-messages, packed
 * repeated int64). Fields are appended in call order; protobuf readers accept
 * any order, so no schema is needed beyond the field numbers.
 */

/** Wire types of the protobuf encoding. */
const VARINT = 0;
const FIXED32 = 5;
const LENGTH_DELIMITED = 2;

const textEncoder = new TextEncoder();

export class ProtoWriter {
  private chunks: Uint8Array[] = [];
  private scratch: number[] = [];
  private size = 0;

  /** Total bytes written so far. */
  get length(): number {
    this.flushScratch();
    return this.size;
  }

  /** A varint-encoded integer field (int32, int64, enum). Negative values take 10 bytes, as protobuf writes them. */
  int(field: number, value: number | bigint): this {
    this.tag(field, VARINT);
    this.varint(value);
    return this;
  }

  /** A 32-bit float field (fixed32, little-endian). */
  float(field: number, value: number): this {
    this.tag(field, FIXED32);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, value, true);
    for (const x of b) this.scratch.push(x);
    return this;
  }

  string(field: number, value: string): this {
    return this.bytes(field, textEncoder.encode(value));
  }

  bytes(field: number, value: Uint8Array): this {
    this.tag(field, LENGTH_DELIMITED);
    this.varint(value.length);
    this.raw(value);
    return this;
  }

  /** A sub-message field. */
  message(field: number, sub: ProtoWriter): this {
    return this.bytes(field, sub.finish());
  }

  /** A packed repeated varint field (e.g. TensorProto.dims, AttributeProto.ints). */
  packedInts(field: number, values: readonly (number | bigint)[]): this {
    const inner = new ProtoWriter();
    for (const v of values) inner.varint(v);
    return this.bytes(field, inner.finish());
  }

  /** The encoded message. */
  finish(): Uint8Array {
    this.flushScratch();
    if (this.chunks.length === 1) return this.chunks[0];
    const out = new Uint8Array(this.size);
    let offset = 0;
    for (const c of this.chunks) {
      out.set(c, offset);
      offset += c.length;
    }
    this.chunks = [out];
    return out;
  }

  private tag(field: number, wireType: number): void {
    if (!Number.isInteger(field) || field < 1 || field >= 2 ** 29) throw new RangeError(`bad protobuf field number ${field}`);
    this.varint(field * 8 + wireType);
  }

  private varint(value: number | bigint): void {
    if (typeof value === 'number') {
      if (!Number.isSafeInteger(value)) throw new RangeError(`varint ${value} is not a safe integer`);
      if (value >= 0) {
        // Arithmetic instead of bit operators: values may exceed 32 bits.
        while (value >= 0x80) {
          this.scratch.push((value % 0x80) | 0x80);
          value = Math.floor(value / 0x80);
        }
        this.scratch.push(value);
        return;
      }
      value = BigInt(value);
    }
    let u = BigInt.asUintN(64, value);
    while (u >= 0x80n) {
      this.scratch.push(Number(u & 0x7fn) | 0x80);
      u >>= 7n;
    }
    this.scratch.push(Number(u));
  }

  private raw(value: Uint8Array): void {
    this.flushScratch();
    this.chunks.push(value);
    this.size += value.length;
  }

  private flushScratch(): void {
    if (this.scratch.length === 0) return;
    this.chunks.push(Uint8Array.from(this.scratch));
    this.size += this.scratch.length;
    this.scratch = [];
  }
}
