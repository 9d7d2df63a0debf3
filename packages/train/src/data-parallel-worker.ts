/**
 * A data-parallel training worker (see data-parallel.ts): rebuilds the model
 * from the registry, then for each step loads the weights it is sent, draws
 * its shard's seeded noise and returns the shard's rate-distortion gradient.
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import { backbones, selectBackend, type BackboneConfig } from '@psic/core';
import { SeededTrainingNoise, setTrainingNoise } from '@psic/entropy';
import { shardGradients } from './shard-gradients.js';
import type { TrainableCodec } from './trainer.js';

interface Setup {
  architecture: string;
  config: BackboneConfig;
  modules: string[];
  backend?: string;
  seed: number;
}

interface StepMessage {
  type: 'step';
  weights: Record<string, Float32Array>;
  pixels: Float32Array;
  shape: [number, number, number, number];
  lambda: number;
  step: number;
  firstSample: number;
}

const port = parentPort!;

async function main(): Promise<void> {
  const setup = workerData as Setup;
  await selectBackend((setup.backend ?? 'auto') as Parameters<typeof selectBackend>[0], { log: () => {} });
  for (const m of setup.modules) await import(m);
  const model = backbones.get(setup.architecture)(setup.config) as unknown as TrainableCodec;
  const named = model.namedVariables();
  const aux = new Set(model.auxVariables().map((v) => v.name));
  const main = Object.fromEntries(Object.entries(named).filter(([, v]) => !aux.has(v.name)));
  const noise = new SeededTrainingNoise(setup.seed);
  setTrainingNoise(noise);

  port.on('message', (m: StepMessage) => {
    try {
      for (const [name, v] of Object.entries(main)) {
        const values = m.weights[name];
        if (!values) throw new Error(`weights lack ${name}`);
        v.assign(tf.tensor(values, v.shape));
      }
      const x = tf.tensor4d(m.pixels, m.shape);
      noise.beginStep(m.step, m.firstSample);
      const { grads, figures } = shardGradients(model, x, m.lambda, main);
      x.dispose();
      const out: Record<string, Float32Array> = {};
      for (const [name, g] of Object.entries(grads)) out[name] = (g.dataSync() as Float32Array).slice(); // own buffer, safe to transfer
      tf.dispose(Object.values(grads));
      port.postMessage({ type: 'grads', grads: out, figures }, Object.values(out).map((a) => a.buffer as ArrayBuffer));
    } catch (err) {
      port.postMessage({ type: 'error', message: (err as Error).message });
    }
  });
  port.postMessage({ type: 'ready' });
}

main().catch((err: unknown) => port.postMessage({ type: 'error', message: (err as Error)?.message ?? String(err) }));
