#!/usr/bin/env node
/**
 * Training-step benchmark: the real `trainStep` of @psic/train (forward,
 * backward, Adam, auxiliary quantile step) on a scale hyperprior, batch 8 x
 * 128^2 random crops, for N=64/M=96 and N=128/M=192. One JSON line per
 * configuration: median and min seconds over --steps steps after --warmup.
 *
 *   npm run bench:train-step
 *   node tools/bench/train-step.mjs [--backend wasm|cpu] [--torch 0|1] [--steps 5] [--warmup 2] [--sizes 64x96,128x192]
 *
 * --torch 0 measures the pure tfjs kernels (what runs without libtorch);
 * the default uses @psic/backend-torch when its addon is built.
 */
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '@psic/core';
import { Hyperprior } from '@psic/backbone-hyperprior';
import { makeOptimizers, trainStep } from '@psic/train';

const { values } = parseArgs({
  options: {
    backend: { type: 'string', default: 'wasm' },
    torch: { type: 'string' },
    steps: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '2' },
    sizes: { type: 'string', default: '64x96,128x192' },
    batch: { type: 'string', default: '8' },
    crop: { type: 'string', default: '128' },
  },
});
if (values.torch !== undefined) process.env.PSIC_TORCH = values.torch;
const backend = await selectBackend(values.backend);
const [batch, crop, steps, warmup] = [values.batch, values.crop, values.steps, values.warmup].map(Number);

for (const size of values.sizes.split(',')) {
  const [N, M] = size.split('x').map(Number);
  const model = new Hyperprior({ N, M, architecture: 'bmshj2018-hyperprior' });
  const opt = makeOptimizers(model, 1e-4, 1e-3);
  const x = tf.randomUniform([batch, crop, crop, 3], 0, 1, 'float32', 1);
  const times = [];
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < warmup + steps; i++) {
    const t0 = performance.now();
    trainStep(model, x, 0.0067, opt);
    if (i >= warmup) times.push((performance.now() - t0) / 1000);
  }
  const cpu = process.cpuUsage(cpu0);
  times.sort((a, b) => a - b);
  console.log(JSON.stringify({
    bench: 'train-step',
    backend,
    torch: process.env.PSIC_TORCH !== '0',
    N, M, batch, crop,
    steps,
    median_s: +times[Math.floor(times.length / 2)].toFixed(3),
    min_s: +times[0].toFixed(3),
    cpu_s_per_step: +((cpu.user + cpu.system) / 1e6 / (warmup + steps)).toFixed(3),
    load_avg: +loadavg()[0].toFixed(2),
  }));
  x.dispose();
  opt.main.dispose();
  opt.aux.dispose();
  model.dispose();
}
