/**
 * A rewrite of tfjs graph-model topologies before loading: Keras' ReLU6 as
 * exported by TF (Relu -> Minimum(·, 6) -> Maximum(·, 0)) becomes
 * Relu(x) - Relu(x - 6). The values are the same; the gradient is two Step
 * kernels instead of broadcast Minimum / Maximum / LessEqual / GreaterEqual
 * kernels, which tfjs-wasm runs through a slow generic broadcasting loop
 * (they were ~40% of faceres' input-gradient time here).
 */
import * as tf from '@tensorflow/tfjs-core';

interface NodeDef {
  name: string;
  op: string;
  input?: string[];
  attr?: Record<string, unknown>;
}

const FLOAT_ATTR = { T: { type: 'DT_FLOAT' } };

/** Scalar float constants of a graph (name -> value), decoded from its weights. */
export function scalarConstants(specs: tf.io.WeightsManifestEntry[], data: ArrayBuffer): Map<string, number> {
  const out = new Map<string, number>();
  if (specs.some((s) => s.dtype === 'string')) return out; // not worth decoding string weights for this
  const tensors = tf.io.decodeWeights(data, specs);
  try {
    for (const s of specs) {
      if (s.shape.length === 0 && s.dtype === 'float32') out.set(s.name, tensors[s.name].dataSync()[0]);
    }
  } finally {
    tf.dispose(Object.values(tensors));
  }
  return out;
}

/**
 * Rewrite every clip chain Relu(x) -> Minimum(r, c) -> Maximum(m, 0), with c a
 * positive scalar constant and each link's only consumer the next, in place.
 * Returns how many chains were rewritten.
 */
export function rewriteReluClips(nodes: NodeDef[], constants: Map<string, number>): number {
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const consumers = new Map<string, NodeDef[]>();
  for (const n of nodes) for (const i of n.input ?? []) consumers.set(i, [...(consumers.get(i) ?? []), n]);
  const only = (name: string): NodeDef | undefined => {
    const c = consumers.get(name);
    return c && c.length === 1 ? c[0] : undefined;
  };

  let count = 0;
  for (const min of nodes) {
    if (min.op !== 'Minimum' || min.input?.length !== 2) continue;
    const [reluName, capName] = min.input;
    const relu = byName.get(reluName);
    const cap = constants.get(capName);
    const max = only(min.name);
    if (relu?.op !== 'Relu' || relu.input?.length !== 1 || only(relu.name) !== min || !(cap !== undefined && cap > 0)) continue;
    if (max?.op !== 'Maximum' || max.input?.length !== 2 || max.input[0] !== min.name || constants.get(max.input[1]) !== 0) continue;
    const shifted: NodeDef = { name: `${min.name}/psic_shift`, op: 'Sub', input: [relu.input[0], capName], attr: FLOAT_ATTR };
    if (byName.has(shifted.name)) continue;
    nodes.push(shifted);
    byName.set(shifted.name, shifted);
    Object.assign(min, { op: 'Relu', input: [shifted.name], attr: FLOAT_ATTR }); // relu(x - c)
    Object.assign(max, { op: 'Sub', input: [relu.name, min.name], attr: FLOAT_ATTR }); // relu(x) - relu(x - c)
    count++;
  }
  return count;
}
