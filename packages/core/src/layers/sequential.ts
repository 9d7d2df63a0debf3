/**
 * nn.Sequential: layers applied in order, child i keyed by its index, so
 * `new Sequential('g_a', [...])` reports 'g_a.0.weight', 'g_a.1.beta', ...
 * `firstIndex` lets a network split into blocks keep PyTorch's numbering
 * (e.g. g_s blocks starting at 0, 2, 4, 6).
 */
import * as tf from '@tensorflow/tfjs-core';
import { joinName, type Module } from './module.js';

export class Sequential implements Module {
  constructor(
    /** Name segment of this sequence ('g_a'); '' for an anonymous one nested in another module. */
    readonly name: string,
    readonly layers: Module[],
    readonly firstIndex = 0,
  ) {}

  apply(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => this.layers.reduce((h, layer) => layer.apply(h), x));
  }

  namedVariables(prefix = ''): Record<string, tf.Variable> {
    const out: Record<string, tf.Variable> = {};
    this.layers.forEach((layer, i) => {
      for (const [key, v] of Object.entries(layer.namedVariables(joinName(prefix, this.name, String(this.firstIndex + i))))) {
        if (key in out) throw new Error(`Sequential ${this.name}: two variables named ${key}`);
        out[key] = v;
      }
    });
    return out;
  }

  dispose(): void {
    for (const layer of this.layers) (layer as { dispose?: () => void }).dispose?.();
  }
}
