#!/usr/bin/env node
/**
 * Micro-benchmark of the fixed-point hyper-synthesis (packages/core/src/fixed-point.ts)
 * on the scale-hyperprior h_s shape: deconv(N->N,5,2) ReLU, deconv(N->N,5,2) ReLU,
 * conv(N->M,3,1) ReLU, for the z sizes of a few image sizes.
 *
 *   npx tsx tools/bench/fixed-point.mjs [--repeat 5] [--N 128] [--M 192] [--sizes 768x512,1920x1080] [--kernels wasm,js]
 *
 * Runs the TypeScript source directly (tsx), so it needs no build. Prints one
 * JSON line per size and kernel: wall ms (median and min), multiply-adds, and
 * G multiply-adds per second at the median. Also checks both kernels agree.
 */
import { quantizeNetwork, runFixedPoint } from '../../packages/core/src/fixed-point.ts';

const args = Object.fromEntries(
  process.argv.slice(2).reduce((pairs, a, i, all) => (a.startsWith('--') ? [...pairs, [a.slice(2), all[i + 1]]] : pairs), []),
);
const repeat = Number(args.repeat ?? 5);
const kernels = (args.kernels ?? 'wasm,js').split(',');
const N = Number(args.N ?? 128);
const M = Number(args.M ?? 192);
const sizes = (args.sizes ?? '768x512,1920x1080').split(',').map((s) => s.split('x').map(Number));

function random(seed) {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  };
}

function layer(kind, cin, cout, kernel, stride, rand) {
  const std = Math.sqrt(2 / (cin * kernel * kernel));
  return {
    kind, cin, cout, kernel, stride, activation: 'relu',
    weight: new Float32Array(kernel * kernel * cin * cout).map(() => rand() * 2 * std * 1.7),
    bias: new Float32Array(cout).map(() => rand() * 0.1),
  };
}

const rand = random(7);
const net = quantizeNetwork([layer('deconv', N, N, 5, 2, rand), layer('deconv', N, N, 5, 2, rand), layer('conv', N, M, 3, 1, rand)]);

for (const [width, height] of sizes) {
  // g_a and h_a downsample by 16 and 4 after padding the image to a multiple of 64.
  const zh = Math.ceil(height / 64);
  const zw = Math.ceil(width / 64);
  const z = new Float32Array(zh * zw * N).map(() => Math.round(rand() * 12));
  const macs = zh * zw * 25 * N * N + 4 * zh * zw * 25 * N * N + 16 * zh * zw * 9 * N * M;
  let reference;
  for (const kernel of kernels) {
    const first = runFixedPoint(net, z, zh, zw, N, { kernel }); // warm-up (JIT, weight preparation)
    reference ??= first.data;
    const agrees = first.data.length === reference.length && first.data.every((v, i) => v === reference[i]);
    const times = [];
    for (let r = 0; r < repeat; r++) {
      const t0 = performance.now();
      runFixedPoint(net, z, zh, zw, N, { kernel });
      times.push(performance.now() - t0);
    }
    times.sort((a, b) => a - b);
    const ms = times[Math.floor(times.length / 2)];
    console.log(JSON.stringify({
      image: `${width}x${height}`, z: `${zh}x${zw}x${N}`, N, M, kernel,
      ms: Math.round(ms), minMs: Math.round(times[0]), macs, gmacPerS: +(macs / ms / 1e6).toFixed(2), agrees,
    }));
  }
}
