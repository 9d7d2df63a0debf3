/**
 * The subset of onnx.proto this package writes, as plain TypeScript objects
 * and their protobuf encoding: ModelProto, GraphProto, NodeProto,
 * AttributeProto, TensorProto (float32 / int64 data), ValueInfoProto with a
 * tensor type whose dimensions are numbers or symbolic names.
 * Field numbers are those of onnx/onnx.proto (IR version 8).
 */
import { ProtoWriter } from './protobuf.js';

/** TensorProto.DataType values we use. */
export const DataType = { FLOAT: 1, INT64: 7 } as const;
export type DataTypeCode = (typeof DataType)[keyof typeof DataType];

/** AttributeProto.AttributeType values we use. */
const AttributeType = { FLOAT: 1, INT: 2, STRING: 3, FLOATS: 6, INTS: 7 } as const;

/** IR version 8 (ONNX 1.10+) with the default-domain opset 17: read by every onnxruntime since 1.11. */
export const IR_VERSION = 8;
export const OPSET_VERSION = 17;

export type Dim = number | string;

export interface TensorSpec {
  name: string;
  dims: number[];
  /** float32 values, or int64 values (shapes, axes) as numbers */
  data: Float32Array | { int64: number[] };
}

export interface ValueInfoSpec {
  name: string;
  elemType?: DataTypeCode;
  /** numbers for fixed sizes, strings for symbolic ones ('height') */
  dims: Dim[];
  doc?: string;
}

/** A node attribute: a number is an INT when it is an integer and `float` is not set; arrays likewise. */
export type AttributeValue = number | string | number[] | { float: number } | { floats: number[] };

export interface NodeSpec {
  opType: string;
  inputs: string[];
  outputs: string[];
  name?: string;
  attributes?: Record<string, AttributeValue>;
}

export interface GraphSpec {
  name: string;
  nodes: NodeSpec[];
  initializers: TensorSpec[];
  inputs: ValueInfoSpec[];
  outputs: ValueInfoSpec[];
  doc?: string;
}

export interface ModelSpec {
  graph: GraphSpec;
  producerName?: string;
  producerVersion?: string;
  doc?: string;
  /** free-form key/value pairs (model name, fingerprint, layout) */
  metadata?: Record<string, string>;
}

const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export function encodeModel(model: ModelSpec): Uint8Array {
  const w = new ProtoWriter();
  w.int(1, IR_VERSION);
  w.string(2, model.producerName ?? 'psic');
  if (model.producerVersion) w.string(3, model.producerVersion);
  if (model.doc) w.string(6, model.doc);
  w.message(7, graphWriter(model.graph));
  w.message(8, new ProtoWriter().string(1, '').int(2, OPSET_VERSION));
  for (const [key, value] of Object.entries(model.metadata ?? {})) {
    w.message(14, new ProtoWriter().string(1, key).string(2, value));
  }
  return w.finish();
}

function graphWriter(g: GraphSpec): ProtoWriter {
  const w = new ProtoWriter();
  for (const n of g.nodes) w.message(1, nodeWriter(n));
  w.string(2, g.name);
  for (const t of g.initializers) w.message(5, tensorWriter(t));
  if (g.doc) w.string(10, g.doc);
  for (const v of g.inputs) w.message(11, valueInfoWriter(v));
  for (const v of g.outputs) w.message(12, valueInfoWriter(v));
  return w;
}

function nodeWriter(n: NodeSpec): ProtoWriter {
  const w = new ProtoWriter();
  for (const i of n.inputs) w.string(1, i);
  for (const o of n.outputs) w.string(2, o);
  if (n.name) w.string(3, n.name);
  w.string(4, n.opType);
  for (const [name, value] of Object.entries(n.attributes ?? {})) w.message(5, attributeWriter(name, value));
  return w;
}

function attributeWriter(name: string, value: AttributeValue): ProtoWriter {
  const w = new ProtoWriter().string(1, name);
  if (typeof value === 'string') return w.string(4, value).int(20, AttributeType.STRING);
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) throw new TypeError(`attribute ${name}: ${value} is not an integer; write { float: ${value} }`);
    return w.int(3, value).int(20, AttributeType.INT);
  }
  if (Array.isArray(value)) {
    if (!value.every(Number.isInteger)) throw new TypeError(`attribute ${name}: ints must be integers; write { floats: [...] }`);
    return w.packedInts(8, value).int(20, AttributeType.INTS);
  }
  if ('float' in value) return w.float(2, value.float).int(20, AttributeType.FLOAT);
  for (const f of value.floats) w.float(7, f);
  return w.int(20, AttributeType.FLOATS);
}

function tensorWriter(t: TensorSpec): ProtoWriter {
  const count = t.dims.reduce((a, b) => a * b, 1);
  const w = new ProtoWriter().packedInts(1, t.dims);
  if (t.data instanceof Float32Array) {
    if (t.data.length !== count) throw new RangeError(`tensor ${t.name}: dims [${t.dims}] need ${count} values, got ${t.data.length}`);
    w.int(2, DataType.FLOAT).string(8, t.name).bytes(9, float32Bytes(t.data));
  } else {
    if (t.data.int64.length !== count) throw new RangeError(`tensor ${t.name}: dims [${t.dims}] need ${count} values, got ${t.data.int64.length}`);
    w.int(2, DataType.INT64).packedInts(7, t.data.int64).string(8, t.name);
  }
  return w;
}

/** raw_data is little-endian whatever the machine. */
function float32Bytes(data: Float32Array): Uint8Array {
  if (littleEndian) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice();
  const out = new Uint8Array(data.length * 4);
  const view = new DataView(out.buffer);
  data.forEach((v, i) => view.setFloat32(i * 4, v, true));
  return out;
}

function valueInfoWriter(v: ValueInfoSpec): ProtoWriter {
  const shape = new ProtoWriter();
  for (const d of v.dims) shape.message(1, typeof d === 'number' ? new ProtoWriter().int(1, d) : new ProtoWriter().string(2, d));
  const tensorType = new ProtoWriter().int(1, v.elemType ?? DataType.FLOAT).message(2, shape);
  const w = new ProtoWriter().string(1, v.name).message(2, new ProtoWriter().message(1, tensorType));
  if (v.doc) w.string(3, v.doc);
  return w;
}
