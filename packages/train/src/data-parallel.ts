/**
 * Data-parallel rate-distortion steps over worker_threads.
 *
 * The batch is split into `workers` shards of (nearly) equal size. The main
 * thread computes the first shard's gradient on the real model while each
 * worker thread, holding a replica with its own tensor backend, computes one
 * of the others; the gradients are averaged with shard-size weights (so the
 * result is the full batch's gradient up to float summation order), clipped,
 * and applied by the main thread's Adam, whose new weights go to the
 * replicas with the next step. The auxiliary (quantile) step does not depend
 * on the data and runs on the main thread only.
 *
 * Training noise must come from a `SeededTrainingNoise` (installed by the
 * caller) so each sample gets the same noise as in a single-thread run.
 * Each thread runs libtorch kernels single-threaded (PSIC_TORCH_THREADS=1):
 * two threads each running their own half is faster than both cores fighting
 * over every small op.
 */
import { Worker } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import type { BackboneConfig } from '@psic/core';
import { PsicError, type SeededTrainingNoise } from '@psic/entropy';
import { applyStep, type Optimizers, type TrainableCodec } from './trainer.js';
import { shardGradients, type ShardFigures } from './shard-gradients.js';

export interface DataParallelOptions {
  /** total threads including the main one (>= 2) */
  workers: number;
  /** registry name and config to rebuild the model in each worker */
  architecture: string;
  config: BackboneConfig;
  /** modules each worker imports first so the architecture is registered (e.g. '@psic/backbone-hyperprior') */
  modules: string[];
  /** tensor backend each worker selects (as `selectBackend`) */
  backend?: string;
  seed: number;
}

interface WorkerReply {
  type: 'ready' | 'grads' | 'error';
  grads?: Record<string, Float32Array>;
  figures?: ShardFigures;
  message?: string;
}

export class DataParallelStepper {
  private constructor(
    private readonly model: TrainableCodec,
    private readonly opt: Optimizers,
    private readonly workers: Worker[],
    private readonly noise: SeededTrainingNoise,
  ) {}

  static async start(model: TrainableCodec, opt: Optimizers, noise: SeededTrainingNoise, options: DataParallelOptions): Promise<DataParallelStepper> {
    if (!(options.workers >= 2)) throw new PsicError('USAGE', `data-parallel training needs at least 2 threads, got ${options.workers}`);
    const url = new URL('./data-parallel-worker.js', import.meta.url);
    const workers = Array.from({ length: options.workers - 1 }, () =>
      new Worker(url, {
        env: { ...process.env, PSIC_TORCH_THREADS: '1' },
        workerData: { architecture: options.architecture, config: options.config, modules: options.modules, backend: options.backend, seed: options.seed },
      }),
    );
    const stepper = new DataParallelStepper(model, opt, workers, noise);
    try {
      await Promise.all(workers.map((w) => stepper.reply(w, 'ready')));
    } catch (err) {
      await stepper.close();
      throw err;
    }
    return stepper;
  }

  /** One step on the NHWC batch `x`; the same figures as `trainStep`. */
  async step(x: tf.Tensor4D, lambda: number, clipNorm: number, stepIndex: number): Promise<{ loss: number; bpp: number; mse: number; auxLoss: number; gradNorm: number }> {
    const n = x.shape[0];
    const bounds = shardBounds(n, this.workers.length + 1);
    const weights = snapshot(this.opt.mainNamed);
    const replies = this.workers.map((worker, i) => {
      const [from, to] = bounds[i + 1]!;
      const shard = tf.slice(x, [from, 0, 0, 0], [to - from, -1, -1, -1]);
      const pixels = shard.dataSync() as Float32Array;
      worker.postMessage({ type: 'step', weights, pixels, shape: shard.shape, lambda, step: stepIndex, firstSample: from });
      shard.dispose();
      return this.reply(worker, 'grads');
    });
    const [from0, to0] = bounds[0]!;
    const own = tf.slice(x, [from0, 0, 0, 0], [to0 - from0, -1, -1, -1]);
    this.noise.beginStep(stepIndex, from0);
    const mine = shardGradients(this.model, own, lambda, this.opt.mainNamed);
    own.dispose();
    const theirs = await Promise.all(replies);

    // full-batch gradient = sum over shards of (shard size / n) * shard gradient
    const grads: Record<string, tf.Tensor> = {};
    const shares = bounds.map(([a, b]) => (b - a) / n);
    const parts = [mine.grads, ...theirs.map((r) => r.grads!)];
    for (const [name, v] of Object.entries(this.opt.mainNamed)) {
      if (!parts.some((p) => p[name])) continue;
      const sum = new Float32Array(v.size);
      parts.forEach((p, i) => {
        const g = p[name];
        if (g) addScaled(sum, g instanceof Float32Array ? g : (g.dataSync() as Float32Array), shares[i]!);
      });
      grads[name] = tf.tensor(sum, v.shape);
    }
    tf.dispose(Object.values(mine.grads));
    const figures = { loss: 0, bpp: 0, mse: 0 };
    const allFigures = [mine.figures, ...theirs.map((r) => r.figures!)];
    for (const key of ['loss', 'bpp', 'mse'] as const) figures[key] = allFigures.reduce((s, f, i) => s + shares[i]! * f[key], 0);
    return { ...figures, ...applyStep(this.model, this.opt, grads, clipNorm) };
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }

  private reply(worker: Worker, expected: WorkerReply['type']): Promise<WorkerReply> {
    return new Promise((resolve, reject) => {
      const cleanup = () => {
        worker.off('message', onMessage);
        worker.off('error', onError);
        worker.off('exit', onExit);
      };
      const onMessage = (m: WorkerReply) => {
        cleanup();
        if (m.type === expected) resolve(m);
        else reject(new PsicError('WORKER_FAILED', `training worker: ${m.message ?? `unexpected reply ${m.type}`}`));
      };
      const onError = (err: Error) => {
        cleanup();
        reject(new PsicError('WORKER_FAILED', `training worker crashed: ${err.message}`));
      };
      const onExit = (code: number) => {
        cleanup();
        reject(new PsicError('WORKER_FAILED', `training worker exited with code ${code}`));
      };
      worker.on('message', onMessage);
      worker.on('error', onError);
      worker.on('exit', onExit);
    });
  }
}

/** [from, to) sample ranges of `parts` nearly equal shards (the first ones one larger when n doesn't divide). */
export function shardBounds(n: number, parts: number): [number, number][] {
  if (n < parts) throw new PsicError('USAGE', `a batch of ${n} cannot be split over ${parts} threads; use a batch of at least ${parts}`);
  const bounds: [number, number][] = [];
  let from = 0;
  for (let i = 0; i < parts; i++) {
    const size = Math.floor(n / parts) + (i < n % parts ? 1 : 0);
    bounds.push([from, from + size]);
    from += size;
  }
  return bounds;
}

function snapshot(named: Record<string, tf.Variable>): Record<string, Float32Array> {
  return Object.fromEntries(Object.entries(named).map(([name, v]) => [name, v.dataSync() as Float32Array]));
}

function addScaled(into: Float32Array, values: Float32Array, scale: number): void {
  for (let i = 0; i < into.length; i++) into[i] += scale * values[i]!;
}
