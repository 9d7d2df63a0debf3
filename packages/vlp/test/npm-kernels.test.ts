import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '@psic/core';
import {
  depthwiseBackpropInputViaConv,
  KerasGraph,
  maxPoolGradValues,
  registerFastDepthwiseBackpropInput,
  registerFastMaxPoolGrad,
  rewriteReluClips,
} from '../src/npm/index.js';

/** Largest |a - b| over two tensors. */
function maxDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
}

/** d/dx of sum(op(x) * r) for a fixed random r: the input gradient with a non-trivial dy. */
function inputGradient(op: (x: tf.Tensor4D) => tf.Tensor4D, x: tf.Tensor4D): tf.Tensor {
  return tf.tidy(() => {
    const r = tf.randomNormal(op(x).shape, 0, 1, 'float32', 7);
    return tf.grad((xx: tf.Tensor) => tf.sum(tf.mul(op(xx as tf.Tensor4D), r)))(x);
  });
}

beforeAll(async () => {
  await selectBackend('wasm', { log: () => {} });
});

describe('DepthwiseConv2dNativeBackpropInput via a forward depthwise conv', () => {
  const cases: [string, [number, number, number, number], number, number, 'same' | 'valid'][] = [
    ['3x3 stride 1 same', [2, 9, 11, 5], 3, 1, 'same'],
    ['3x3 stride 2 same, odd size', [2, 9, 11, 5], 3, 2, 'same'],
    ['3x3 stride 2 valid', [1, 8, 8, 4], 3, 2, 'valid'],
    ['5x5 stride 2 same', [1, 10, 7, 3], 5, 2, 'same'],
    ['5x5 stride 3 same', [1, 13, 13, 2], 5, 3, 'same'],
  ];
  for (const [label, shape, k, stride, pad] of cases) {
    it(`matches the cpu backend's gradient: ${label}`, async () => {
      const x = tf.randomNormal(shape, 0, 1, 'float32', 1) as tf.Tensor4D;
      const w = tf.randomNormal([k, k, shape[3], 1], 0, 1, 'float32', 2) as tf.Tensor4D;
      const op = (xx: tf.Tensor4D) => tf.depthwiseConv2d(xx, w, stride, pad);
      await tf.setBackend('cpu');
      const reference = inputGradient(op, x);
      const referenceValues = tf.tensor(await reference.array());
      await tf.setBackend('wasm');
      registerFastDepthwiseBackpropInput();
      const got = inputGradient(op, x);
      expect(got.shape).toEqual(shape);
      expect(maxDiff(got, referenceValues)).toBeLessThan(1e-4);
      // the function itself, outside the gradient machinery
      const dy = tf.randomNormal(op(x).shape, 0, 1, 'float32', 3) as tf.Tensor4D;
      const direct = depthwiseBackpropInputViaConv(dy, w, { strides: stride, dilations: 1, pad, inputShape: shape });
      expect(direct.shape).toEqual(shape);
      tf.dispose([x, w, reference, referenceValues, got, dy, direct]);
    });
  }
  it('stays installed across calls and comes back after selectBackend replaces it', async () => {
    registerFastDepthwiseBackpropInput();
    const mine = tf.getKernel('DepthwiseConv2dNativeBackpropInput', 'wasm')!.kernelFunc;
    registerFastDepthwiseBackpropInput();
    expect(tf.getKernel('DepthwiseConv2dNativeBackpropInput', 'wasm')!.kernelFunc).toBe(mine);
    await selectBackend('wasm', { log: () => {} }); // puts core's cpu bridge back
    const bridge = tf.getKernel('DepthwiseConv2dNativeBackpropInput', 'wasm')!.kernelFunc;
    expect(bridge).not.toBe(mine);
    registerFastDepthwiseBackpropInput();
    const again = tf.getKernel('DepthwiseConv2dNativeBackpropInput', 'wasm')!.kernelFunc;
    expect(again).not.toBe(bridge);
    registerFastDepthwiseBackpropInput();
    expect(tf.getKernel('DepthwiseConv2dNativeBackpropInput', 'wasm')!.kernelFunc).toBe(again);
  });
});

describe('MaxPoolGrad as a window loop', () => {
  it('routes each gradient to the first maximum of its window, ignoring padding', () => {
    // x 1x3x3x1, pool 2x2 stride 1 valid: windows [[1,5],[4,2]] -> 5, [[5,3],[2,2]] -> 5, [[4,2],[7,0]] -> 7, [[2,2],[0,9]] -> 9
    const x = [1, 5, 3, 4, 2, 2, 7, 0, 9];
    const dy = [10, 20, 30, 40];
    const info = tf.backend_util.computePool2DInfo([1, 3, 3, 1], 2, 1, 1, 'valid');
    expect(Array.from(maxPoolGradValues(x, dy, info))).toEqual([0, 30, 0, 0, 0, 0, 30, 0, 40]);
  });
  it('matches the stock cpu kernel, all-negative windows included (where stock wasm is wrong)', async () => {
    const stockCpu = tf.getKernel('MaxPoolGrad', 'cpu')!;
    for (const [shape, k, stride, pad] of [
      [[2, 9, 11, 5], 3, 2, 'same'],
      [[1, 8, 8, 4], 2, 2, 'valid'],
      [[1, 10, 7, 3], 3, 1, 'same'],
    ] as [number[], number, number, 'same' | 'valid'][]) {
      const x = tf.sub(tf.randomNormal(shape, 0, 1, 'float32', 4), 2) as tf.Tensor4D; // mostly negative
      const op = (xx: tf.Tensor4D) => tf.maxPool(xx, k, stride, pad);
      await tf.setBackend('cpu');
      if (tf.getKernel('MaxPoolGrad', 'cpu')!.kernelFunc !== stockCpu.kernelFunc) {
        tf.unregisterKernel('MaxPoolGrad', 'cpu');
        tf.registerKernel(stockCpu);
      }
      const reference = tf.tensor(await inputGradient(op, x).array());
      await tf.setBackend('wasm');
      registerFastMaxPoolGrad();
      expect(maxDiff(inputGradient(op, x), reference)).toBeLessThan(1e-5);
      x.dispose();
    }
  });
});

describe('rewriteReluClips', () => {
  const graph = () => [
    { name: 'x', op: 'Placeholder' },
    { name: 'six', op: 'Const' },
    { name: 'zero', op: 'Const' },
    { name: 'r', op: 'Relu', input: ['x'] },
    { name: 'm', op: 'Minimum', input: ['r', 'six'] },
    { name: 'c', op: 'Maximum', input: ['m', 'zero'] },
  ];
  const constants = new Map([['six', 6], ['zero', 0]]);
  /** Evaluate the tiny graph on numbers (the ops it can hold). */
  function run(nodes: { name: string; op: string; input?: string[] }[], x: number, out = 'c'): number {
    const byName = new Map(nodes.map((n) => [n.name, n]));
    const value = (name: string): number => {
      const n = byName.get(name)!;
      const [a, b] = (n.input ?? []).map(value);
      switch (n.op) {
        case 'Placeholder': return x;
        case 'Const': return constants.get(name)!;
        case 'Relu': return Math.max(a, 0);
        case 'Minimum': return Math.min(a, b);
        case 'Maximum': return Math.max(a, b);
        case 'Sub': return a - b;
        default: throw new Error(n.op);
      }
    };
    return value(out);
  }
  it('turns Relu -> Minimum(6) -> Maximum(0) into relu(x) - relu(x - 6) with the same values', () => {
    const nodes = graph();
    expect(rewriteReluClips(nodes, constants)).toBe(1);
    expect(nodes.map((n) => n.op)).not.toContain('Minimum');
    for (const x of [-3, 0, 2.5, 6, 9]) expect(run(nodes, x)).toBe(run(graph(), x));
  });
  it('leaves chains alone when a constant is not what the pattern needs or a link has other consumers', () => {
    const wrongFloor = graph();
    expect(rewriteReluClips(wrongFloor, new Map([['six', 6], ['zero', 1]]))).toBe(0);
    const shared = [...graph(), { name: 'other', op: 'Relu', input: ['m'] }];
    expect(rewriteReluClips(shared, constants)).toBe(0);
  });
});

describe('KerasGraph', () => {
  it('folds BatchNormalization into the convolution before it without changing the output', () => {
    const layers = [
      { name: 'in', class_name: 'InputLayer', config: {}, inbound_nodes: [] },
      { name: 'pad', class_name: 'ZeroPadding2D', config: { padding: [[0, 1], [0, 1]] }, inbound_nodes: [[['in', 0, 0, {}]]] },
      { name: 'conv', class_name: 'Conv2D', config: { strides: [2, 2], padding: 'valid', use_bias: false }, inbound_nodes: [[['pad', 0, 0, {}]]] },
      { name: 'bn', class_name: 'BatchNormalization', config: { epsilon: 1e-3 }, inbound_nodes: [[['conv', 0, 0, {}]]] },
      { name: 'act', class_name: 'ReLU', config: { max_value: 6 }, inbound_nodes: [[['bn', 0, 0, {}]]] },
      { name: 'dw', class_name: 'DepthwiseConv2D', config: { strides: [1, 1], padding: 'same', use_bias: false }, inbound_nodes: [[['act', 0, 0, {}]]] },
      { name: 'dw_bn', class_name: 'BatchNormalization', config: { epsilon: 1e-3 }, inbound_nodes: [[['dw', 0, 0, {}]]] },
      { name: 'sum', class_name: 'Add', config: {}, inbound_nodes: [[['act', 0, 0, {}], ['dw_bn', 0, 0, {}]]] },
      { name: 'gap', class_name: 'GlobalAveragePooling2D', config: {}, inbound_nodes: [[['sum', 0, 0, {}]]] },
    ];
    const bn = (c: number, seed: number) => ({
      gamma: tf.randomUniform([c], 0.5, 1.5, 'float32', seed),
      beta: tf.randomNormal([c], 0, 1, 'float32', seed + 1),
      moving_mean: tf.randomNormal([c], 0, 1, 'float32', seed + 2),
      moving_variance: tf.randomUniform([c], 0.5, 2, 'float32', seed + 3),
    });
    const weights: tf.NamedTensorMap = { 'conv/kernel': tf.randomNormal([3, 3, 3, 4], 0, 1, 'float32', 1), 'dw/depthwise_kernel': tf.randomNormal([3, 3, 4, 1], 0, 1, 'float32', 2) };
    for (const [layer, c, seed] of [['bn', 4, 10], ['dw_bn', 4, 20]] as const) for (const [k, v] of Object.entries(bn(c, seed))) weights[`${layer}/${k}`] = v;
    const copy = Object.fromEntries(Object.entries(weights).map(([k, v]) => [k, v.clone()]));
    const x = tf.randomNormal([2, 9, 9, 3], 0, 2, 'float32', 5) as tf.Tensor4D;

    // the same network written out with tf.batchNorm, unfolded
    const norm = (y: tf.Tensor4D, p: string) => tf.batchNorm(y, copy[`${p}/moving_mean`], copy[`${p}/moving_variance`], copy[`${p}/beta`], copy[`${p}/gamma`], 1e-3);
    const c1 = tf.conv2d(tf.pad(x, [[0, 0], [0, 1], [0, 1], [0, 0]]), copy['conv/kernel'] as tf.Tensor4D, 2, 'valid');
    const a = tf.clipByValue(norm(c1, 'bn'), 0, 6) as tf.Tensor4D;
    const expected = tf.mean(tf.add(a, norm(tf.depthwiseConv2d(a, copy['dw/depthwise_kernel'] as tf.Tensor4D, 1, 'same'), 'dw_bn')), [1, 2]);

    const g = new KerasGraph({ model_config: { config: { layers } } }, weights);
    expect(g.layerNames()).toHaveLength(layers.length);
    expect(maxDiff(g.execute(x, 'gap'), expected)).toBeLessThan(1e-4);
    g.dispose();
  });
  it('rejects a layer kind it does not know', () => {
    const layers = [
      { name: 'in', class_name: 'InputLayer', config: {}, inbound_nodes: [] },
      { name: 'lstm', class_name: 'LSTM', config: {}, inbound_nodes: [[['in', 0, 0, {}]]] },
    ];
    expect(() => new KerasGraph({ model_config: { config: { layers } } }, {})).toThrow(/LSTM is not supported/);
  });
});
