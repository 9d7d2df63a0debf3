#!/usr/bin/env node
/**
 * Reproducibility check for training speed-ups: trains the same model from the
 * same seed (same initial weights, crops and training noise) on two paths and
 * compares the loss curves step by step.
 *
 *   node tools/train/loss-curve.mjs [--steps 500] [--N 64 --M 96] [--batch 8 --crop 128]
 *        [--data ../shared/data/imagenet-samples] [--paths reference,fastest]
 *
 * Paths: `reference` = one thread (tfjs-wasm, libtorch kernels limited to one
 * thread); `torch2` = libtorch kernels on 2 threads (the default single-process
 * path); `parallel` = 2 worker threads, half the batch each (data-parallel).
 * Prints one JSON line per path (time per step) and one comparing each path's
 * curve with the first: max absolute and relative loss difference.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    steps: { type: 'string', default: '500' }, N: { type: 'string', default: '64' }, M: { type: 'string', default: '96' },
    batch: { type: 'string', default: '8' }, crop: { type: 'string', default: '128' }, lambda: { type: 'string', default: '0.0067' },
    data: { type: 'string', default: fileURLToPath(new URL('../../../shared/data/imagenet-samples', import.meta.url)) },
    paths: { type: 'string', default: 'reference,torch2,parallel' }, seed: { type: 'string', default: '1' },
    worker: { type: 'string' },
  },
});

if (values.worker) {
  await runPath(values.worker);
} else {
  const curves = [];
  for (const path of values.paths.split(',')) {
    const env = { ...process.env, PSIC_TORCH_THREADS: path === 'torch2' ? '2' : '1' };
    const child = spawnSync(process.execPath, [fileURLToPath(import.meta.url), ...process.argv.slice(2), '--worker', path], { encoding: 'utf8', env, maxBuffer: 1 << 26 });
    if (child.status !== 0) {
      console.log(JSON.stringify({ path, error: child.stderr.trim().split('\n').slice(-3).join(' | ') }));
      continue;
    }
    const result = JSON.parse(child.stdout.trim().split('\n').pop());
    console.log(JSON.stringify({ path, steps: result.losses.length, median_s: result.median_s, first_loss: result.losses[0], last_loss: result.losses.at(-1) }));
    curves.push({ path, losses: result.losses });
  }
  const [ref, ...others] = curves;
  for (const other of others) {
    let maxAbs = 0;
    let maxRel = 0;
    ref.losses.forEach((l, i) => {
      const d = Math.abs(l - other.losses[i]);
      maxAbs = Math.max(maxAbs, d);
      maxRel = Math.max(maxRel, d / Math.abs(l));
    });
    const tail = (xs) => xs.slice(-50).reduce((a, b) => a + b, 0) / Math.min(50, xs.length);
    console.log(JSON.stringify({ compare: `${other.path} vs ${ref.path}`, max_abs_diff: maxAbs, max_rel_diff: +maxRel.toExponential(3), mean_last50: [tail(ref.losses), tail(other.losses)] }));
  }
}

async function runPath(path) {
  const tf = await import('@tensorflow/tfjs-core');
  const { selectBackend, collectWeights, assignWeights } = await import('@psic/core');
  const { SeededTrainingNoise, setTrainingNoise } = await import('@psic/entropy');
  const { Hyperprior } = await import('@psic/backbone-hyperprior');
  const { CropDataset, Rng, makeOptimizers, trainStep, DataParallelStepper } = await import('@psic/train');
  await selectBackend('auto', { log: () => {} });
  const [steps, N, M, batch, crop, seed, lambda] = [values.steps, values.N, values.M, values.batch, values.crop, values.seed, values.lambda].map(Number);
  const config = { N, M, architecture: 'bmshj2018-hyperprior' };
  const model = new Hyperprior(config);
  // every path starts from the same weights: the first one writes them, the others read them
  const initPath = join(tmpdir(), `psic-loss-curve-${N}x${M}-seed${seed}.json`);
  if (existsSync(initPath) && path !== values.paths.split(',')[0]) {
    const saved = JSON.parse(readFileSync(initPath, 'utf8'));
    assignWeights(model, new Map(Object.entries(saved).map(([k, t]) => [k, { ...t, data: Float32Array.from(t.data) }])));
  } else {
    const tensors = Object.fromEntries([...collectWeights(model)].map(([k, t]) => [k, { ...t, data: Array.from(t.data) }]));
    writeFileSync(initPath, JSON.stringify(tensors));
  }
  const opt = makeOptimizers(model, 1e-4, 1e-3);
  const noise = new SeededTrainingNoise(seed);
  setTrainingNoise(noise);
  const data = await CropDataset.fromFolder(values.data, crop);
  const rng = new Rng(seed);
  const parallel = path === 'parallel'
    ? await DataParallelStepper.start(model, opt, noise, { workers: 2, architecture: 'bmshj2018-hyperprior', config, modules: ['@psic/backbone-hyperprior'], seed })
    : undefined;
  const losses = [];
  const times = [];
  for (let step = 0; step < steps; step++) {
    const x = tf.tensor4d(data.sampleBatch(batch, crop, rng), [batch, crop, crop, 3]);
    const t0 = performance.now();
    let r;
    if (parallel) r = await parallel.step(x, lambda, 1, step);
    else {
      noise.beginStep(step, 0);
      r = trainStep(model, x, lambda, opt, 1);
    }
    times.push((performance.now() - t0) / 1000);
    x.dispose();
    losses.push(r.loss);
  }
  await parallel?.close();
  times.sort((a, b) => a - b);
  console.log(JSON.stringify({ losses, median_s: +times[Math.floor(times.length / 2)].toFixed(3) }));
}
