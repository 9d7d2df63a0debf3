/**
 * Builds one ONNX graph node by node: unique value names, weight
 * initializers, graph inputs / outputs, then the encoded ModelProto.
 * Layer exporters and block hooks only see this class, so a new layer or an
 * adapter contributes nodes (and extra graph inputs) without knowing the
 * protobuf encoding.
 */
import { encodeModel, type AttributeValue, type Dim, type NodeSpec, type TensorSpec, type ValueInfoSpec } from './onnx-proto.js';

export class GraphBuilder {
  private readonly nodes: NodeSpec[] = [];
  private readonly initializers: TensorSpec[] = [];
  private readonly inputs: ValueInfoSpec[] = [];
  private readonly outputs: ValueInfoSpec[] = [];
  private readonly used = new Set<string>();

  constructor(readonly name: string) {}

  /** A value name not used yet in this graph, derived from `hint` ('g_a.0.weight' -> 'g_a.0.weight', then 'g_a.0.weight_1'). */
  fresh(hint: string): string {
    let name = hint;
    for (let i = 1; this.used.has(name); i++) name = `${hint}_${i}`;
    this.used.add(name);
    return name;
  }

  /** Declare a graph input (float32 unless `elemType` says otherwise) and return its name. */
  input(name: string, dims: Dim[], doc?: string): string {
    if (this.used.has(name)) throw new Error(`graph ${this.name}: input name ${name} is taken`);
    this.used.add(name);
    this.inputs.push({ name, dims, doc });
    return name;
  }

  /** Mark the value `value` as a graph output named `name` (an Identity node renames it when needed). */
  output(value: string, name: string, dims: Dim[], doc?: string): void {
    if (value !== name) {
      if (this.used.has(name)) throw new Error(`graph ${this.name}: output name ${name} is taken`);
      this.used.add(name);
      this.nodes.push({ opType: 'Identity', inputs: [value], outputs: [name] });
    }
    this.outputs.push({ name, dims, doc });
  }

  /** A float32 constant (weights, biases). */
  constant(hint: string, data: Float32Array, dims: number[]): string {
    const name = this.fresh(hint);
    this.initializers.push({ name, dims, data });
    return name;
  }

  /** An int64 constant (shapes, axes, pads). */
  constantInt64(hint: string, values: number[], dims: number[] = [values.length]): string {
    const name = this.fresh(hint);
    this.initializers.push({ name, dims, data: { int64: values } });
    return name;
  }

  /** Append a node with one output and return that output's name. */
  op(opType: string, inputs: string[], attributes?: Record<string, AttributeValue>, hint?: string): string {
    const out = this.fresh(hint ?? opType.toLowerCase());
    this.nodes.push({ opType, inputs, outputs: [out], name: out, attributes });
    return out;
  }

  get nodeCount(): number {
    return this.nodes.length;
  }

  /** The serialised model (ModelProto bytes) for onnxruntime or a file. */
  toBytes(opts: { doc?: string; metadata?: Record<string, string> } = {}): Uint8Array {
    if (this.outputs.length === 0) throw new Error(`graph ${this.name} has no output`);
    return encodeModel({
      graph: { name: this.name, nodes: this.nodes, initializers: this.initializers, inputs: this.inputs, outputs: this.outputs },
      producerName: '@psic/onnx',
      producerVersion: '0.1.0',
      doc: opts.doc,
      metadata: opts.metadata,
    });
  }
}
