/**
 * Adam (Kingma & Ba) over named variables. Written here rather than using
 * tf.train.adam because a checkpoint must store and restore the moment
 * estimates by the model's own stable names (tfjs keys them by engine-global
 * variable names that change between processes), and frozen groups must be
 * skippable per step.
 */
import * as tf from '@tensorflow/tfjs-core';

export interface AdamOptions {
  learningRate: number;
  beta1?: number;
  beta2?: number;
  epsilon?: number;
}

interface Slot {
  m: tf.Variable;
  v: tf.Variable;
}

export class Adam {
  readonly beta1: number;
  readonly beta2: number;
  readonly epsilon: number;
  learningRate: number;
  step = 0;
  private readonly slots = new Map<string, Slot>();

  constructor(opts: AdamOptions) {
    this.learningRate = opts.learningRate;
    this.beta1 = opts.beta1 ?? 0.9;
    this.beta2 = opts.beta2 ?? 0.999;
    this.epsilon = opts.epsilon ?? 1e-8;
  }

  /** Update each named variable with its gradient; variables without a gradient keep their moments untouched. */
  apply(variables: Record<string, tf.Variable>, grads: Record<string, tf.Tensor>): void {
    this.step++;
    const lrT = (this.learningRate * Math.sqrt(1 - this.beta2 ** this.step)) / (1 - this.beta1 ** this.step);
    tf.tidy(() => {
      for (const [name, g] of Object.entries(grads)) {
        const variable = variables[name];
        if (!variable) throw new Error(`Adam: gradient for unknown variable ${name}`);
        const slot = this.slot(name, variable);
        const m = tf.add(tf.mul(slot.m, this.beta1), tf.mul(g, 1 - this.beta1));
        const v = tf.add(tf.mul(slot.v, this.beta2), tf.mul(tf.square(g), 1 - this.beta2));
        slot.m.assign(m);
        slot.v.assign(v);
        variable.assign(tf.sub(variable, tf.div(tf.mul(m, lrT), tf.add(tf.sqrt(v), this.epsilon))));
      }
    });
  }

  private slot(name: string, variable: tf.Variable): Slot {
    let slot = this.slots.get(name);
    if (slot && slot.m.shape.join() !== variable.shape.join()) {
      slot.m.dispose();
      slot.v.dispose();
      slot = undefined;
    }
    if (!slot) {
      slot = {
        m: tf.variable(tf.zerosLike(variable), false),
        v: tf.variable(tf.zerosLike(variable), false),
      };
      this.slots.set(name, slot);
    }
    return slot;
  }

  /** Moment estimates as plain arrays, keyed `<name>/m` and `<name>/v`, for a checkpoint. */
  state(): { step: number; tensors: Record<string, { shape: number[]; data: Float32Array }> } {
    const tensors: Record<string, { shape: number[]; data: Float32Array }> = {};
    for (const [name, slot] of this.slots) {
      tensors[`${name}/m`] = { shape: slot.m.shape, data: slot.m.dataSync() as Float32Array };
      tensors[`${name}/v`] = { shape: slot.v.shape, data: slot.v.dataSync() as Float32Array };
    }
    return { step: this.step, tensors };
  }

  /** Restore from `state()`; incomplete pairs are dropped, and moments whose shape no longer matches their variable restart at zero. */
  restore(step: number, tensors: Record<string, { shape: number[]; data: Float32Array }>): void {
    this.dispose();
    this.step = step;
    for (const [key, t] of Object.entries(tensors)) {
      const cut = key.lastIndexOf('/');
      const name = key.slice(0, cut);
      const which = key.slice(cut + 1) as 'm' | 'v';
      if (which !== 'm' && which !== 'v') continue;
      const slot = this.slots.get(name) ?? { m: undefined as unknown as tf.Variable, v: undefined as unknown as tf.Variable };
      slot[which] = tf.variable(tf.tensor(t.data, t.shape), false);
      this.slots.set(name, slot);
    }
    for (const [name, slot] of this.slots) {
      if (!slot.m || !slot.v || slot.m.shape.join() !== slot.v.shape.join()) {
        slot.m?.dispose();
        slot.v?.dispose();
        this.slots.delete(name);
      }
    }
  }

  dispose(): void {
    for (const slot of this.slots.values()) {
      slot.m.dispose();
      slot.v.dispose();
    }
    this.slots.clear();
  }
}
