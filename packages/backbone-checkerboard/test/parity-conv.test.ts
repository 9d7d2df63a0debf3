/**
 * @psic/core's runParityConv (the checkerboard context in fixed point) against
 * the dense fixed-point runner: at the positions of the chosen colour it must
 * give the very same integers, elsewhere 0, with either kernel (wasm SIMD or
 * JS), for masked and full kernels, every activation and odd sizes.
 */
import { describe, expect, it } from 'vitest';
import { quantizeNetwork, runFixedLayers, runParityConv, type FixedActivation, type FixedLayerSpec } from '@psic/core';
import { checkerboardKernelMask } from '../src/index.js';

function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

function convLayer(random: () => number, cin: number, cout: number, kernel: number, masked: boolean, activation: FixedActivation): FixedLayerSpec {
  const mask = checkerboardKernelMask(kernel);
  const weight = new Float32Array(kernel * kernel * cin * cout);
  for (let t = 0; t < kernel * kernel; t++)
    for (let i = 0; i < cin * cout; i++) weight[t * cin * cout + i] = (masked ? mask[t] : 1) * (random() - 0.5) * 0.6;
  const bias = Float32Array.from({ length: cout }, () => random() - 0.5);
  return { kind: 'conv', weight, bias, kernel, stride: 1, cin, cout, activation };
}

describe('runParityConv', () => {
  const cases: [number, number, number, boolean, FixedActivation][] = [
    [7, 9, 5, true, 'none'],
    [8, 6, 5, true, 'leaky_relu'],
    [1, 1, 5, true, 'none'],
    [2, 5, 3, false, 'relu'],
    [5, 4, 1, false, 'none'],
  ];
  it.each(cases)('%ix%i, kernel %i, masked %s, %s: equals the dense conv on one colour, 0 on the other', (h, w, kernel, masked, activation) => {
    const random = mulberry32(h * 100 + w);
    const cin = 6;
    const cout = 7;
    const net = quantizeNetwork([convLayer(random, cin, cout, kernel, masked, activation)]);
    const input = { data: Int32Array.from({ length: h * w * cin }, () => Math.round((random() - 0.5) * 4000)), h, w, c: cin };
    const dense = runFixedLayers(net, input, { kernel: 'js' });
    for (const parity of [0, 1] as const) {
      const js = runParityConv(net, net.layers[0], input, parity, { kernel: 'js' });
      const wasm = runParityConv(net, net.layers[0], input, parity, { kernel: 'wasm' });
      expect(wasm.data).toEqual(js.data);
      expect([js.h, js.w, js.c]).toEqual([h, w, cout]);
      let nonzero = 0;
      for (let y = 0; y < h; y++)
        for (let x = 0; x < w; x++)
          for (let c = 0; c < cout; c++) {
            const at = (y * w + x) * cout + c;
            const expected = (y + x) % 2 === parity ? dense.data[at] : 0;
            expect(js.data[at]).toBe(expected);
            if (expected !== 0) nonzero++;
          }
      if (h * w > 1 || parity === 0) expect(nonzero).toBeGreaterThan(0);
    }
  });

  it('refuses layers it cannot run and inputs of the wrong size', () => {
    const random = mulberry32(3);
    const strided = quantizeNetwork([{ ...convLayer(random, 2, 2, 3, false, 'none'), stride: 2 }]);
    const input = { data: new Int32Array(4 * 4 * 2), h: 4, w: 4, c: 2 };
    expect(() => runParityConv(strided, strided.layers[0], input, 0)).toThrow(/stride-1/);
    const net = quantizeNetwork([convLayer(random, 2, 2, 3, false, 'none')]);
    expect(() => runParityConv(net, net.layers[0], { ...input, c: 3 }, 0)).toThrow(/channels/);
    expect(() => runParityConv(net, net.layers[0], { ...input, h: 5 }, 0)).toThrow(/does not match/);
  });
});
