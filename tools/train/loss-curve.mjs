#!/usr/bin/env node
/**
 * Reproducibility check for training speed-ups: trains the same model from the
 * same seed (same initial weights, crops and training noise) on several paths
 * and compares each path's loss curve with the reference's, next to the
 * reference's own float noise floor.
 *
 * Usage (from the repository root, packages built; no npm needed):
 *
 *   nice -n 19 node tools/train/loss-curve.mjs --steps 500 \
 *     --paths reference,reference-perturbed,torch2,parallel > runs/loss-curve/result.jsonl
 *
 *   options: [--N 64 --M 96] [--batch 8 --crop 128] [--lambda 0.0067] [--seed 1]
 *            [--perturb-seed 7] [--data ../shared/data/imagenet-samples]
 *
 * Paths: `reference` = one thread (libtorch kernels limited to one thread);
 * `reference-perturbed` = the reference with every initial weight multiplied by
 * (1 + s * 2^-23), s = +-1 from a sign pattern seeded by --perturb-seed (a
 * one-ulp change: the float noise floor of the reference itself); `torch2` =
 * libtorch kernels on 2 threads (the default single-process path); `parallel`
 * = 2 worker threads, half the batch each (data-parallel). Paths run one after
 * the other, each in its own process; progress goes to stderr.
 *
 * Training is chaotic: any change in float summation order makes trajectories
 * drift apart, so the curves are not compared step by step against a fixed
 * tolerance. Output, one JSON line each:
 *   - per path: steps, median seconds per step, wall seconds, first/last loss,
 *     and the step-1 probe (loss, gradient norm) taken before training;
 *   - per comparison with the reference (`X vs reference`): the one-step
 *     agreement from the same weights, batch and noise (relative loss and
 *     gradient-norm difference, max |gradient difference| / max |gradient|;
 *     must be <= ONE_STEP_TOLERANCE in curve-stats.mjs) and the curve
 *     divergence over all steps: median, 90th percentile and mean of the
 *     per-step relative |loss difference|, its mean over each 50-step window
 *     (relative and absolute), and the final-50-step mean losses and their
 *     |difference|; each fast path's figures sit next to the noise floor's
 *     (`reference-perturbed vs reference`);
 *   - one verdict: per fast path "within float tolerance" when its median,
 *     90th percentile, mean and final-50 |difference| are each at most
 *     VERDICT_FACTOR (1.5) x the noise floor's, else "not within float
 *     tolerance"; no verdict when reference-perturbed was not run.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { divergence, judge, oneStepAgreement, ONE_STEP_TOLERANCE, VERDICT_FACTOR, VERDICT_STATS } from './curve-stats.mjs';

const PATHS = ['reference', 'reference-perturbed', 'torch2', 'parallel'];
const FLOOR = 'reference-perturbed';

const { values } = parseArgs({
  options: {
    steps: { type: 'string', default: '500' }, N: { type: 'string', default: '64' }, M: { type: 'string', default: '96' },
    batch: { type: 'string', default: '8' }, crop: { type: 'string', default: '128' }, lambda: { type: 'string', default: '0.0067' },
    data: { type: 'string', default: fileURLToPath(new URL('../../../shared/data/imagenet-samples', import.meta.url)) },
    paths: { type: 'string', default: 'reference,reference-perturbed,torch2,parallel' }, seed: { type: 'string', default: '1' },
    'perturb-seed': { type: 'string', default: '7' },
    worker: { type: 'string' }, scratch: { type: 'string' },
  },
});

if (values.worker) await runPath(values.worker, values.scratch);
else compareAll(values.paths.split(','));

function compareAll(paths) {
  const unknown = paths.filter((p) => !PATHS.includes(p));
  if (unknown.length) {
    console.error(`unknown path(s) ${unknown.join(', ')}; choose from ${PATHS.join(', ')}`);
    process.exit(2);
  }
  // one scratch folder per run: the first path writes the initial weights there, the others read them
  const scratch = mkdtempSync(join(tmpdir(), 'psic-loss-curve-'));
  const runs = new Map();
  try {
    for (const path of paths) {
      const env = { ...process.env, PSIC_TORCH_THREADS: path === 'torch2' ? '2' : '1' };
      const t0 = performance.now();
      const child = spawnSync(process.execPath, [fileURLToPath(import.meta.url), ...process.argv.slice(2), '--worker', path, '--scratch', scratch], {
        encoding: 'utf8', env, maxBuffer: 1 << 26, stdio: ['ignore', 'pipe', 'inherit'],
      });
      const wallS = (performance.now() - t0) / 1000;
      if (child.status !== 0) {
        console.log(JSON.stringify({ path, error: `exit ${child.status ?? child.signal} (its stderr says why)` }));
        continue;
      }
      const result = JSON.parse(child.stdout.trim().split('\n').pop());
      const probe = { ...result.probe, grads: new Float32Array(readFileSync(join(scratch, `grads-${path}.bin`)).buffer.slice(0)) };
      runs.set(path, { ...result, probe });
      console.log(JSON.stringify({
        path, steps: result.losses.length, median_s: result.median_s, wall_s: +wallS.toFixed(1),
        first_loss: result.losses[0], last_loss: result.losses.at(-1),
        step1_probe: { loss: result.probe.loss, grad_norm: result.probe.gradNorm, gradient_values: probe.grads.length },
        ...(result.perturbed ? { perturbed: result.perturbed } : {}),
      }));
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }

  const ref = runs.get('reference');
  if (!ref) return void console.log(JSON.stringify({ verdict: null, reason: 'the reference path did not run' }));
  const comparisons = new Map();
  for (const [path, run] of runs) {
    if (path === 'reference') continue;
    if (run.probe.names.join() !== ref.probe.names.join()) throw new Error(`${path}: gradient tensors differ from the reference's`);
    comparisons.set(path, { one_step: oneStepAgreement(ref.probe, run.probe), curve: divergence(ref.losses, run.losses) });
  }
  const floor = comparisons.get(FLOOR)?.curve;
  const verdicts = {};
  for (const [path, c] of comparisons) {
    const line = { compare: `${path} vs reference`, one_step: c.one_step, curve: round(c.curve) };
    if (path !== FLOOR && floor) {
      const j = judge(c.curve, floor);
      line.noise_floor = Object.fromEntries(VERDICT_STATS.map((k) => [k, round(floor[k])]));
      line.ratio_to_floor = round(j.ratios);
      line.verdict = j.within ? 'within float tolerance' : 'not within float tolerance';
      if (!j.within) line.over_floor = j.over;
      verdicts[path] = { curve: line.verdict, one_step: c.one_step.within ? 'within float tolerance' : 'not within float tolerance' };
    }
    console.log(JSON.stringify(line));
  }
  console.log(JSON.stringify({
    verdict: floor ? verdicts : null,
    rule: floor
      ? `curve: ${VERDICT_STATS.join(', ')} each <= ${VERDICT_FACTOR} x ${FLOOR}'s; one step: loss, gradient norm and max gradient difference each <= ${ONE_STEP_TOLERANCE} relative`
      : `no noise floor: run the ${FLOOR} path too`,
  }));
}

/** Numbers to 4 significant digits for reading; arrays and objects recursively. */
function round(v) {
  if (typeof v === 'number') return Number.isFinite(v) ? +v.toPrecision(4) : v;
  if (Array.isArray(v)) return v.map(round);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, round(x)]));
  return v;
}

async function runPath(path, scratch) {
  const tf = await import('@tensorflow/tfjs-core');
  const { selectBackend, collectWeights, assignWeights } = await import('@psic/core');
  const { SeededTrainingNoise, setTrainingNoise } = await import('@psic/entropy');
  const { Hyperprior } = await import('@psic/backbone-hyperprior');
  const { CropDataset, Rng, makeOptimizers, trainStep, DataParallelStepper } = await import('@psic/train');
  const { perturbOneUlp } = await import('./perturb-weights.mjs');
  const { probeStep } = await import('./one-step-probe.mjs');
  await selectBackend('auto', { log: () => {} });
  const [steps, N, M, batch, crop, seed, lambda] = [values.steps, values.N, values.M, values.batch, values.crop, values.seed, values.lambda].map(Number);
  const config = { N, M, architecture: 'bmshj2018-hyperprior' };
  const model = new Hyperprior(config);

  // every path starts from the same weights: the first one writes them, the others read them
  const initPath = join(scratch, 'init.json');
  let init;
  if (existsSync(initPath)) {
    const saved = JSON.parse(readFileSync(initPath, 'utf8'));
    init = new Map(Object.entries(saved).map(([k, t]) => [k, { ...t, data: Float32Array.from(t.data) }]));
  } else {
    init = collectWeights(model);
    writeFileSync(initPath, JSON.stringify(Object.fromEntries([...init].map(([k, t]) => [k, { ...t, data: Array.from(t.data) }]))));
  }
  let perturbed;
  if (path === FLOOR) {
    const p = perturbOneUlp(init, Number(values['perturb-seed']));
    init = p.tensors;
    perturbed = { seed: Number(values['perturb-seed']), changed: p.changed, total: p.total };
  }
  assignWeights(model, init);

  const opt = makeOptimizers(model, 1e-4, 1e-3);
  const noise = new SeededTrainingNoise(seed);
  setTrainingNoise(noise);
  const data = await CropDataset.fromFolder(values.data, crop);
  const rng = new Rng(seed);
  const parallel = path === 'parallel'
    ? await DataParallelStepper.start(model, opt, noise, { workers: 2, architecture: 'bmshj2018-hyperprior', config, modules: ['@psic/backbone-hyperprior'], seed })
    : undefined;
  const runStep = (x, step, clipNorm) => {
    if (parallel) return parallel.step(x, lambda, clipNorm, step);
    noise.beginStep(step, 0);
    return trainStep(model, x, lambda, opt, clipNorm);
  };

  const losses = [];
  const times = [];
  let probe;
  const t00 = performance.now();
  for (let step = 0; step < steps; step++) {
    const x = tf.tensor4d(data.sampleBatch(batch, crop, rng), [batch, crop, crop, 3]);
    // before the first real step: its unclipped gradient, nothing applied (untimed)
    if (step === 0) probe = await probeStep(opt, (clipNorm) => runStep(x, 0, clipNorm));
    const t0 = performance.now();
    const r = await runStep(x, step, 1);
    times.push((performance.now() - t0) / 1000);
    x.dispose();
    losses.push(r.loss);
    if ((step + 1) % 50 === 0) process.stderr.write(`${path}: step ${step + 1}/${steps} loss ${r.loss.toFixed(3)} (${((performance.now() - t00) / 1000).toFixed(0)} s)\n`);
  }
  await parallel?.close();
  writeFileSync(join(scratch, `grads-${path}.bin`), probe.grads);
  times.sort((a, b) => a - b);
  console.log(JSON.stringify({
    losses, median_s: +times[Math.floor(times.length / 2)].toFixed(3),
    probe: { loss: probe.loss, gradNorm: probe.gradNorm, names: probe.names }, perturbed,
  }));
}
