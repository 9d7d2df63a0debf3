/**
 * A minimal module system: layers own tf.Variables and report them under
 * dotted names built the way PyTorch builds state-dict keys ('g_a.0.weight',
 * 'g_a.1.beta'), so a CompressAI checkpoint maps onto our layers 1:1.
 * Activations are NHWC everywhere.
 */
import type { Tensor4D, Variable } from '@tensorflow/tfjs-core';

export interface Module {
  /** Forward pass on an NHWC batch. */
  apply(x: Tensor4D): Tensor4D;
  /** This module's variables keyed by dotted name, each key starting with `prefix` (when given). */
  namedVariables(prefix?: string): Record<string, Variable>;
}

export interface LayerOptions {
  /**
   * Extra name segment inserted before this layer's own keys, e.g. a Conv2d
   * named 'context_prediction' reports 'context_prediction.weight'. Layers in
   * a Sequential are already keyed by their index and usually leave this out.
   */
  name?: string;
}

/** Join non-empty name segments with dots. */
export function joinName(...parts: (string | undefined)[]): string {
  return parts.filter((p) => p !== undefined && p !== '').join('.');
}

/** Base of the layers that own variables: naming and disposal in one place. */
export abstract class Layer implements Module {
  readonly name: string;

  protected constructor(opts: LayerOptions = {}) {
    this.name = opts.name ?? '';
  }

  abstract apply(x: Tensor4D): Tensor4D;

  /** The layer's variables by their local key ('weight', 'bias', 'beta', ...). */
  protected abstract ownVariables(): Record<string, Variable>;

  namedVariables(prefix = ''): Record<string, Variable> {
    const out: Record<string, Variable> = {};
    for (const [key, v] of Object.entries(this.ownVariables())) out[joinName(prefix, this.name, key)] = v;
    return out;
  }

  dispose(): void {
    for (const v of Object.values(this.ownVariables())) v.dispose();
  }
}

/** A module without variables (activations). */
export abstract class Stateless implements Module {
  abstract apply(x: Tensor4D): Tensor4D;
  namedVariables(): Record<string, Variable> {
    return {};
  }
  dispose(): void {}
}
