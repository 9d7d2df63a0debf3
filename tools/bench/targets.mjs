#!/usr/bin/env node
/**
 * Semantic-target benchmark: forward, and forward + backward (the gradient
 * with respect to the input images, what the PSIC attack and the UG-ICM
 * supervision pay for), of each target's image side for a batch of 8 at the
 * target's own input size. One JSON line per target: median and min ms over
 * --runs runs after --warmup, plus CPU seconds and the load average, since the
 * machine may be shared.
 *
 *   npm run bench:targets
 *   node tools/bench/targets.mjs [--targets faceres,face-api,mobilenet-v2,clip,inhouse-cifar]
 *        [--batch 8] [--runs 3] [--warmup 1] [--backend wasm|cpu|auto] [--torch 0|1]
 *
 * Targets: the npm models of @psic/vlp ('faceres', 'face-api',
 * 'mobilenet-v2'), CLIP ViT-B/32 with random weights ('clip'; same cost as
 * trained ones), and the in-house contrastive model ('inhouse-cifar'; its
 * shipped weights, or a random initialisation when none are shipped). A
 * target whose module is not there is reported as skipped with the reason.
 * Uses the built packages (npx nx run @psic/vlp:build).
 */
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    targets: { type: 'string', default: 'faceres,face-api,mobilenet-v2,clip,inhouse-cifar' },
    batch: { type: 'string', default: '8' },
    runs: { type: 'string', default: '3' },
    warmup: { type: 'string', default: '1' },
    backend: { type: 'string', default: 'wasm' },
    torch: { type: 'string' },
  },
});
if (values.torch !== undefined) process.env.PSIC_TORCH = values.torch;
const [batch, runs, warmup] = [values.batch, values.runs, values.warmup].map(Number);

let tf, core, vlp;
try {
  tf = await import('@tensorflow/tfjs-core');
  core = await import('@psic/core');
  vlp = await import('@psic/vlp');
} catch (err) {
  console.error(`bench:targets needs the built packages (${err.message}); run: npx nx run @psic/vlp:build`);
  process.exit(1);
}
const backend = await core.selectBackend(values.backend);

/** How to build each target and its input side; returns { target, size, init } or throws { skip }. */
const builders = {
  faceres: async () => ({ target: await core.semanticTargets.get('faceres')(), size: 224, init: 'pretrained (@vladmandic/human)' }),
  'face-api': async () => ({ target: await core.semanticTargets.get('face-api')(), size: 112, init: 'pretrained (@vladmandic/face-api)' }),
  'mobilenet-v2': async () => ({ target: await core.semanticTargets.get('mobilenet-v2')(), size: 224, init: 'pretrained (nsfwjs)' }),
  clip: async () => {
    const { ClipTarget, ClipModel, ClipTokenizer, randomClipStateDict, VIT_B_32 } = vlp;
    if (!ClipTarget || !ClipModel || !randomClipStateDict || !VIT_B_32 || !ClipTokenizer) throw { skip: '@psic/vlp has no CLIP module (ClipTarget, randomClipStateDict, VIT_B_32) in this build' };
    const target = new ClipTarget(new ClipModel(randomClipStateDict(VIT_B_32, 1)), await ClipTokenizer.default());
    return { target, size: target.inputResolution ?? 224, init: 'random ViT-B/32' };
  },
  'inhouse-cifar': async () => {
    const { loadInhouseTarget, InhouseClip, defaultInhouseConfig, ClipTokenizer } = vlp;
    if (!loadInhouseTarget && !InhouseClip) throw { skip: '@psic/vlp has no in-house contrastive module in this build' };
    let target;
    let init = 'shipped weights';
    try {
      target = await loadInhouseTarget();
    } catch (err) {
      if (!InhouseClip || !defaultInhouseConfig || !ClipTokenizer) throw { skip: `no shipped in-house weights (${err.message}) and no way to initialise one` };
      target = new InhouseClip(defaultInhouseConfig(1024), await ClipTokenizer.default());
      init = `random (no shipped weights: ${err.code ?? err.message})`;
    }
    return { target, size: target.inputSize, init };
  },
};

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** Time `fn` (which returns tensors to read back) warmup + runs times: ms per run and CPU seconds per run. */
async function time(fn) {
  const ms = [];
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < warmup + runs; i++) {
    const t0 = performance.now();
    const out = fn();
    await out.data(); // wait for the backend
    out.dispose();
    if (i >= warmup) ms.push(performance.now() - t0);
  }
  const cpu = process.cpuUsage(cpu0);
  return { median: Math.round(median(ms)), min: Math.round(Math.min(...ms)), cpuS: +((cpu.user + cpu.system) / 1e6 / (warmup + runs)).toFixed(2) };
}

console.log(JSON.stringify({ bench: 'targets', backend, torch: process.env.PSIC_TORCH !== '0', batch, runs, warmup, node: process.version }));
for (const name of values.targets.split(',')) {
  const builder = builders[name];
  if (!builder) {
    console.log(JSON.stringify({ bench: 'targets', target: name, skipped: `unknown target; known: ${Object.keys(builders).join(', ')}` }));
    continue;
  }
  let built;
  const t0 = performance.now();
  try {
    built = await builder();
  } catch (err) {
    console.log(JSON.stringify({ bench: 'targets', target: name, skipped: err?.skip ?? `could not be loaded: ${err?.message ?? err}` }));
    continue;
  }
  const loadMs = Math.round(performance.now() - t0);
  const { target, size, init } = built;
  const x = tf.randomUniform([batch, size, size, 3], 0, 1, 'float32', 1);
  const dims = tf.tidy(() => target.embedImages(tf.slice(x, [0, 0, 0, 0], [1, -1, -1, -1])).shape[1]);
  const weights = tf.randomNormal([batch, dims], 0, 1, 'float32', 2); // a fixed dy, so every output dimension gets a gradient
  const loss = (xx) => tf.sum(tf.mul(target.embedImages(xx), weights));
  const forward = await time(() => tf.tidy(() => loss(x)));
  const grad = tf.grad(loss);
  const backward = await time(() => grad(x));
  console.log(JSON.stringify({
    bench: 'targets',
    target: name,
    init,
    input: [batch, size, size, 3],
    embedding_dim: dims,
    load_ms: loadMs,
    forward_ms: forward.median,
    forward_backward_ms: backward.median,
    forward_backward_min_ms: backward.min,
    cpu_s_per_forward_backward: backward.cpuS,
    load_avg: +loadavg()[0].toFixed(2),
  }));
  tf.dispose([x, weights]);
  target.dispose?.();
}
