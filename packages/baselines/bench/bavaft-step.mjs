/**
 * Time of one BAvAFT training step (trigger + two codec passes on the
 * concatenated clean/poisoned batch + the target + backward + both Adams),
 * JSON lines on stdout: one per (crop, trainable groups).
 *
 *   cd packages/baselines && npx tsup && node bench/bavaft-step.mjs [--backend auto|cpu|wasm] [--crops 64,128] [--batch 8] [--steps 5]
 *
 * The codec is the shipped hyperprior-q1 (N=64, M=96), the target the tiny
 * random one from @psic/train (so the time is the codec's and the trigger's,
 * not a CLIP's). Median of --steps steps after 2 warm-up steps.
 */
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { loadModuleWeights, selectBackend } from '@psic/core';
import { SeededTrainingNoise, setTrainingNoise } from '@psic/entropy';
import { Hyperprior } from '@psic/backbone-hyperprior';
import { Adam, RandomTarget } from '@psic/train';
import { bavaftStep, TriggerNet } from '../dist/index.js';

const { values } = parseArgs({ options: { backend: { type: 'string', default: 'auto' }, crops: { type: 'string', default: '64,128' }, batch: { type: 'string', default: '8' }, steps: { type: 'string', default: '5' }, groups: { type: 'string', default: 'encoder;encoder,entropy,decoder' } } });
const backend = await selectBackend(values.backend, { log: () => {} });
const batch = Number(values.batch);
const steps = Number(values.steps);
const codec = new Hyperprior({ N: 64, M: 96, architecture: 'bmshj2018-hyperprior' });
await loadModuleWeights(fileURLToPath(new URL('../../zoo/models/hyperprior-q1.safetensors', import.meta.url)), codec);
const target = new RandomTarget({ seed: 1 });
const noise = new SeededTrainingNoise(1);
setTrainingNoise(noise);

for (const groups of values.groups.split(';')) {
  for (const crop of values.crops.split(',').map(Number)) {
    const trigger = new TriggerNet({}, { seed: 1 });
    const ids = new Set(groups.split(',').flatMap((g) => codec.variables(g)).map((v) => v.name));
    const named = codec.namedVariables();
    const opt = {
      main: new Adam({ learningRate: 1e-5 }),
      aux: new Adam({ learningRate: 1e-4 }),
      codecNamed: Object.fromEntries(Object.entries(named).filter(([, v]) => ids.has(v.name))),
      triggerNamed: trigger.namedVariables(),
      quantileNamed: {},
    };
    const ctx = { codec, trigger, target, hyper: { lambda: 0.0018, lambdaAttack: 1, lambdaTrigger: 1, attack: 'cosine', balance: 'fixed', clipNorm: 1 }, textCache: new Map(), balanceState: {} };
    const x = tf.randomUniform([batch, crop, crop, 3], 0, 1, 'float32', 1);
    const captions = Array.from({ length: batch }, (_, i) => `a photo of a class ${i % 4}.`);
    const times = [];
    for (let i = 0; i < steps + 2; i++) {
      noise.beginStep(i);
      const t0 = performance.now();
      bavaftStep(ctx, { x, captions }, opt);
      if (i >= 2) times.push((performance.now() - t0) / 1000);
    }
    times.sort((a, b) => a - b);
    process.stdout.write(`${JSON.stringify({ bench: 'bavaft-step', backend, N: 64, M: 96, batch, crop, trainable: groups, medianSeconds: times[Math.floor(times.length / 2)], minSeconds: times[0], steps })}\n`);
    x.dispose();
    trigger.dispose();
    opt.main.dispose();
    opt.aux.dispose();
  }
}
