/**
 * Float layers -> fixed-point layer specs: a sequence of Conv2d /
 * ConvTranspose2d, each optionally followed by ReLU or LeakyReLU, is what the
 * fixed-point runner computes. Backbones describe their entropy-model networks
 * (hyper-synthesis, entropy parameters, slice transforms) with it and quantize
 * the result with `quantizeNetwork`.
 */
import { LeakyReLU, ReLU } from '../layers/activations.js';
import { Conv2d, ConvTranspose2d } from '../layers/conv.js';
import type { Module } from '../layers/module.js';
import { Sequential } from '../layers/sequential.js';
import type { FixedLayerSpec } from './types.js';

/** One conv / transposed conv as a spec (activation 'none'); `weight` overrides the variable's values (e.g. a masked kernel). */
export function convSpec(layer: Conv2d | ConvTranspose2d, weight?: Float32Array): FixedLayerSpec {
  if (layer.padding !== Math.floor(layer.kernel / 2)) throw new Error(`fixed-point convs pad by kernel // 2; this one pads by ${layer.padding}`);
  if (layer instanceof ConvTranspose2d && layer.outputPadding !== layer.stride - 1) {
    throw new Error(`fixed-point transposed convs use output padding stride - 1; this one uses ${layer.outputPadding}`);
  }
  return {
    kind: layer instanceof Conv2d ? 'conv' : 'deconv',
    weight: weight ?? (layer.weight.dataSync() as Float32Array),
    bias: layer.bias.dataSync() as Float32Array,
    kernel: layer.kernel,
    stride: layer.stride,
    cin: layer.cin,
    cout: layer.cout,
    activation: 'none',
  };
}

/** The layers of `net` as fixed-point specs; throws for a layer with no fixed-point form (GDN, ...). */
export function fixedPointSpecs(net: Sequential | Module[]): FixedLayerSpec[] {
  const layers = net instanceof Sequential ? net.layers : net;
  const specs: FixedLayerSpec[] = [];
  for (const layer of layers) {
    if (layer instanceof Conv2d || layer instanceof ConvTranspose2d) {
      specs.push(convSpec(layer));
    } else if (layer instanceof ReLU || layer instanceof LeakyReLU) {
      const last = specs[specs.length - 1];
      if (!last || last.activation !== 'none') throw new Error('an activation must follow a conv in a fixed-point network');
      last.activation = layer instanceof ReLU ? 'relu' : 'leaky_relu';
      if (layer instanceof LeakyReLU) last.negativeSlope = layer.negativeSlope;
    } else {
      throw new Error(`layer ${layer.constructor.name} has no fixed-point form`);
    }
  }
  return specs;
}
