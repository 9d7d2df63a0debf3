/**
 * A small inference-only runner for Keras functional models in tfjs layers
 * format (modelTopology.model_config), for the layer kinds MobileNetV2 uses:
 * InputLayer, ZeroPadding2D, Conv2D, DepthwiseConv2D, BatchNormalization,
 * ReLU, Add, AveragePooling2D, GlobalAveragePooling2D, Flatten, Dense,
 * Dropout. BatchNormalization is folded into the convolution before it (one
 * conv + bias instead of conv + 4 element-wise ops), and only the layers an
 * output needs are run. Plain tfjs ops throughout, so input gradients work on
 * every backend (no fused kernels, which compute weight gradients too).
 * Avoids a dependency on @tensorflow/tfjs-layers for one model.
 */
import * as tf from '@tensorflow/tfjs-core';
import { PsicError } from '@psic/entropy';

interface KerasLayer {
  name: string;
  class_name: string;
  config: Record<string, unknown>;
  inbound_nodes: unknown[];
}

interface Op {
  name: string;
  kind: string;
  inputs: string[];
  run: (xs: tf.Tensor[]) => tf.Tensor;
}

const SUPPORTED = new Set(['InputLayer', 'ZeroPadding2D', 'Conv2D', 'DepthwiseConv2D', 'BatchNormalization', 'ReLU', 'Add', 'AveragePooling2D', 'GlobalAveragePooling2D', 'Flatten', 'Dense', 'Dropout']);

function bad(message: string): never {
  throw new PsicError('BAD_MODEL_FILE', `keras model: ${message}`);
}

/** The layer names a layer reads, from Keras' inbound_nodes [[[name, 0, 0, {}], ...]]. */
function inboundNames(layer: KerasLayer): string[] {
  const nodes = layer.inbound_nodes;
  if (!Array.isArray(nodes) || nodes.length === 0) return [];
  if (nodes.length !== 1 || !Array.isArray(nodes[0])) bad(`layer ${layer.name} is shared; not supported`);
  return (nodes[0] as unknown[]).map((n) => (Array.isArray(n) && typeof n[0] === 'string' ? n[0] : bad(`layer ${layer.name} has a malformed inbound node`)));
}

function pair(v: unknown, what: string): [number, number] {
  if (typeof v === 'number') return [v, v];
  if (Array.isArray(v) && v.length === 2 && v.every((n) => typeof n === 'number')) return v as [number, number];
  return bad(`${what} must be a number or a pair`);
}

function padding(v: unknown, what: string): 'same' | 'valid' {
  return v === 'same' || v === 'valid' ? v : bad(`${what}: padding ${String(v)} not supported`);
}

function activation(v: unknown, what: string): (x: tf.Tensor) => tf.Tensor {
  if (v === undefined || v === 'linear') return (x) => x;
  if (v === 'relu') return (x) => tf.relu(x);
  if (v === 'softmax') return (x) => tf.softmax(x);
  return bad(`${what}: activation ${String(v)} not supported`);
}

export class KerasGraph {
  private readonly ops = new Map<string, Op>();
  private readonly owned: tf.Tensor[] = [];
  readonly inputName: string;

  /** `weights`: decoded weights named "<layer>/<kind>" (e.g. "Conv1/kernel"); the graph keeps what it uses and disposes the rest. */
  constructor(modelTopology: unknown, weights: tf.NamedTensorMap) {
    const layers = (modelTopology as { model_config?: { config?: { layers?: KerasLayer[] } } })?.model_config?.config?.layers;
    if (!Array.isArray(layers) || layers.length === 0) bad('modelTopology.model_config.config.layers is missing');
    const consumers = new Map<string, number>();
    for (const l of layers) for (const i of inboundNames(l)) consumers.set(i, (consumers.get(i) ?? 0) + 1);

    const w = (layer: string, kind: string): tf.Tensor => weights[`${layer}/${kind}`] ?? bad(`weights lack ${layer}/${kind}`);
    /** Convolutions waiting for a BatchNormalization to fold: their kernel and bias can still change. */
    const foldable = new Map<string, { kernel: tf.Tensor4D; bias?: tf.Tensor1D; depthwise: boolean }>();
    const convs: { kernel: tf.Tensor4D; bias?: tf.Tensor1D }[] = [];
    const dense: tf.Tensor[] = [];
    let input: string | undefined;

    for (const layer of layers) {
      const { name, class_name: kind, config } = layer;
      if (!SUPPORTED.has(kind)) bad(`layer ${name}: ${kind} is not supported`);
      const inputs = inboundNames(layer);
      const where = `${name} (${kind})`;
      switch (kind) {
        case 'InputLayer':
          input = name;
          this.add(name, kind, [], ([x]) => x);
          break;
        case 'ZeroPadding2D': {
          const p = config.padding as unknown;
          const [[t, b], [l, r]] = Array.isArray(p) && Array.isArray(p[0]) ? (p as [[number, number], [number, number]]) : [pair(p, where), pair(p, where)];
          this.add(name, kind, inputs, ([x]) => tf.pad(x, [[0, 0], [t, b], [l, r], [0, 0]]));
          break;
        }
        case 'Conv2D':
        case 'DepthwiseConv2D': {
          const depthwise = kind === 'DepthwiseConv2D';
          if (pair(config.dilation_rate ?? 1, where).some((d) => d !== 1)) bad(`${where}: dilation not supported`);
          if (depthwise && (config.depth_multiplier ?? 1) !== 1) bad(`${where}: depth_multiplier must be 1`);
          const strides = pair(config.strides, where);
          const pad = padding(config.padding, where);
          const act = activation(config.activation, where);
          const entry = { kernel: w(name, depthwise ? 'depthwise_kernel' : 'kernel') as tf.Tensor4D, bias: config.use_bias ? (w(name, 'bias') as tf.Tensor1D) : undefined, depthwise };
          convs.push(entry);
          if (config.activation === undefined || config.activation === 'linear') foldable.set(name, entry);
          this.add(name, kind, inputs, ([x]) => {
            const y = entry.depthwise
              ? tf.depthwiseConv2d(x as tf.Tensor4D, entry.kernel, strides, pad)
              : tf.conv2d(x as tf.Tensor4D, entry.kernel, strides, pad);
            return act(entry.bias ? tf.add(y, entry.bias) : y);
          });
          break;
        }
        case 'BatchNormalization': {
          const eps = typeof config.epsilon === 'number' ? config.epsilon : 1e-3;
          const gamma = config.scale === false ? undefined : w(name, 'gamma');
          const beta = config.center === false ? undefined : w(name, 'beta');
          const [scale, shift] = tf.tidy(() => {
            const s = tf.div(gamma ?? 1, tf.sqrt(tf.add(w(name, 'moving_variance'), eps)));
            return [s, tf.sub(beta ?? 0, tf.mul(w(name, 'moving_mean'), s))];
          });
          const conv = foldable.get(inputs[0]);
          if (conv && consumers.get(inputs[0]) === 1) {
            // fold: conv(x, k) * s + t = conv(x, k * s) + (bias * s + t); depthwise kernels are [kh, kw, c, 1]
            const k = tf.mul(conv.kernel, conv.depthwise ? tf.reshape(scale, [1, 1, -1, 1]) : scale) as tf.Tensor4D;
            const b = (conv.bias ? tf.add(tf.mul(conv.bias, scale), shift) : shift.clone()) as tf.Tensor1D;
            conv.kernel = k;
            conv.bias = b;
            foldable.delete(inputs[0]);
            tf.dispose([scale, shift]);
            this.add(name, kind, inputs, ([x]) => x);
          } else {
            this.owned.push(scale, shift);
            this.add(name, kind, inputs, ([x]) => tf.add(tf.mul(x, scale), shift));
          }
          break;
        }
        case 'ReLU': {
          const max = config.max_value;
          if ((config.negative_slope ?? 0) !== 0 || (config.threshold ?? 0) !== 0) bad(`${where}: leaky or thresholded ReLU not supported`);
          // min(max(x, 0), m) as relu(x) - relu(x - m): the same values, and a gradient made of two Step kernels
          // instead of the LessEqual / Cast / Select chain of relu6 and clipByValue, which is slow on wasm.
          this.add(name, kind, inputs, ([x]) => (typeof max === 'number' ? tf.sub(tf.relu(x), tf.relu(tf.sub(x, max))) : tf.relu(x)));
          break;
        }
        case 'Add':
          this.add(name, kind, inputs, (xs) => tf.addN(xs));
          break;
        case 'AveragePooling2D': {
          const size = pair(config.pool_size, where);
          const strides = pair(config.strides ?? size, where);
          this.add(name, kind, inputs, ([x]) => tf.avgPool(x as tf.Tensor4D, size, strides, padding(config.padding ?? 'valid', where)));
          break;
        }
        case 'GlobalAveragePooling2D':
          this.add(name, kind, inputs, ([x]) => tf.mean(x, [1, 2]));
          break;
        case 'Flatten':
          this.add(name, kind, inputs, ([x]) => tf.reshape(x, [x.shape[0], -1]));
          break;
        case 'Dense': {
          const kernel = w(name, 'kernel') as tf.Tensor2D;
          const bias = config.use_bias === false ? undefined : w(name, 'bias');
          const act = activation(config.activation, where);
          dense.push(kernel, ...(bias ? [bias] : []));
          this.add(name, kind, inputs, ([x]) => act(bias ? tf.add(tf.matMul(x as tf.Tensor2D, kernel), bias) : tf.matMul(x as tf.Tensor2D, kernel)));
          break;
        }
        case 'Dropout': // inference: identity
          this.add(name, kind, inputs, ([x]) => x);
          break;
      }
    }
    if (!input) bad('no InputLayer');
    this.inputName = input;
    const used = new Set<tf.Tensor>([...this.owned, ...dense]);
    for (const c of convs) {
      used.add(c.kernel);
      if (c.bias) used.add(c.bias);
    }
    this.owned.length = 0;
    this.keepOnly(weights, used);
  }

  private add(name: string, kind: string, inputs: string[], run: Op['run']): void {
    if (this.ops.has(name)) bad(`two layers are named ${name}`);
    for (const i of inputs) if (!this.ops.has(i)) bad(`layer ${name} reads ${i}, which comes later or does not exist`);
    this.ops.set(name, { name, kind, inputs, run });
  }

  /** Keep the tensors read at run time (`used`); free the rest of the decoded weights (BatchNorm statistics, pre-folding kernels). */
  private keepOnly(weights: tf.NamedTensorMap, used: Set<tf.Tensor>): void {
    for (const t of Object.values(weights)) if (!used.has(t)) t.dispose();
    this.owned.push(...used);
  }

  /** Layer names in model order. */
  layerNames(): string[] {
    return [...this.ops.keys()];
  }

  /** Run the model on x up to `output` (a layer name); only the layers it depends on are computed. */
  execute(x: tf.Tensor, output: string): tf.Tensor {
    if (!this.ops.has(output)) throw new PsicError('BAD_OPTION', `keras model has no layer "${output}"`);
    return tf.tidy(() => {
      const values = new Map<string, tf.Tensor>([[this.inputName, x]]);
      const evaluate = (name: string): tf.Tensor => {
        const known = values.get(name);
        if (known) return known;
        const op = this.ops.get(name)!;
        const result = op.run(op.inputs.map(evaluate));
        values.set(name, result);
        return result;
      };
      return evaluate(output);
    });
  }

  dispose(): void {
    tf.dispose([...new Set(this.owned)]);
    this.owned.length = 0;
  }
}
