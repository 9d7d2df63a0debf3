#!/usr/bin/env node
/**
 * Times the addon's three conv entry points on raw buffers for the
 * hyperprior's largest layer shapes (5x5, stride 2, pad 2), to compare with
 * the same libtorch calls made from Python (conv_kernels.py): the difference
 * is the cost of our glue (layout views, filter permutes, output copies).
 *   node bench/conv-kernels.mjs [--N 128] [--batch 8] [--repeat 10]
 */
import { createRequire } from 'node:module';

const args = Object.fromEntries(process.argv.slice(2).join(' ').split('--').filter(Boolean).map((kv) => kv.trim().split(/\s+/)));
const N = Number(args.N ?? 128), batch = Number(args.batch ?? 8), repeat = Number(args.repeat ?? 10);
const addon = createRequire(import.meta.url)('../native/build/Release/psic_torch.node');
addon.setNumThreads(Number(process.env.PSIC_TORCH_THREADS ?? 2));

function random(n) {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = Math.random() - 0.5;
  return a;
}

function median(fn) {
  fn();
  const t = [];
  for (let i = 0; i < repeat; i++) {
    const began = performance.now();
    fn();
    t.push(performance.now() - began);
  }
  return Math.round(t.sort((a, b) => a - b)[t.length >> 1] * 100) / 100;
}

// [in size, cin, cout]: g_a's N->N convs at 64² and 32², g_s's deconv at 32²->64².
for (const [size, cin, cout] of [[64, N, N], [32, N, N], [128, 3, N]]) {
  const out = size / 2;
  const g = Int32Array.from([batch, size, size, cin, 5, 5, cout, out, out, 2, 2, 1, 1, 2, 2, 2, 2]);
  const x = random(batch * size * size * cin), w = random(25 * cin * cout), dy = random(batch * out * out * cout);
  const y = new Float32Array(dy.length), dx = new Float32Array(x.length), dw = new Float32Array(w.length);
  console.log(JSON.stringify({
    layer: `${size}² ${cin}->${cout}`, batch,
    forwardMs: median(() => addon.conv2d(g, x, w, null, 0, y)),
    backpropInputMs: median(() => addon.conv2dBackpropInput(g, dy, w, dx)),
    backpropFilterMs: median(() => addon.conv2dBackpropFilter(g, x, dy, dw)),
  }));
}
