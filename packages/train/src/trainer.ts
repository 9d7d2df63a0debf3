/**
 * The rate-distortion training loop: random crops -> forward (noise) ->
 * lambda * 255^2 * MSE + bpp -> Adam, plus the auxiliary Adam on the
 * bottleneck quantiles. It checkpoints atomically every K steps (so `kill -9`
 * at any moment loses at most K steps), logs one JSON line per step, and
 * validates on a held-out folder every K steps.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { listImages, padReplicate, paddedSize, readImage, saveModuleWeights, type BlockHook, type RgbImage } from '@psic/core';
import { Adam } from './adam.js';
import { loadCheckpoint, saveCheckpoint, type CheckpointState } from './checkpoint.js';
import { CropDataset } from './data.js';
import { appendJsonl } from './jsonl.js';
import { ProgressBar } from './progress.js';
import { Rng } from './rng.js';
import { DataParallelStepper, type DataParallelOptions } from './data-parallel.js';
import { shardGradients } from './shard-gradients.js';
import { PsicError, SeededTrainingNoise, setTrainingNoise } from '@psic/entropy';

/** What the loop needs of a codec: the training forward, its variables, and the auxiliary loss. */
export interface TrainableCodec {
  forward(x: tf.Tensor4D, opts: { training: boolean; hook?: BlockHook }): { xHat: tf.Tensor4D; likelihoods: tf.Tensor[] };
  namedVariables(): Record<string, tf.Variable>;
  variables(): tf.Variable[];
  auxVariables(): tf.Variable[];
  auxLoss(): tf.Scalar;
}

export interface TrainOptions {
  dataDir: string;
  outDir: string;
  steps: number;
  lambda: number;
  batchSize: number;
  crop: number;
  learningRate: number;
  auxLearningRate: number;
  checkpointEvery: number;
  validateEvery: number;
  valDir?: string;
  /** how many validation images (sorted by name) to use; 0 = all */
  valImages: number;
  /** validation crops the centre to this size (a multiple of 64) to bound the cost; 0 = full images */
  valCrop: number;
  seed: number;
  resume: boolean;
  /** clip the global gradient norm to this (CompressAI's default 1.0); 0 disables */
  clipNorm: number;
  /** extra JSON stored in the checkpoint and the log header (model config, backend, ...) */
  meta: Record<string, unknown>;
  log?: (line: string) => void;
  /**
   * Data-parallel training over this many threads (>= 2; see data-parallel.ts);
   * `parallel` says how each worker rebuilds the model. Unset: one thread.
   */
  workers?: number;
  parallel?: Omit<DataParallelOptions, 'workers' | 'seed'>;
}

export interface TrainResult {
  step: number;
  lastValidation?: ValidationFigures;
  bestValidation?: ValidationFigures & { step: number };
}

export interface ValidationFigures {
  bpp: number;
  psnr: number;
  mse: number;
  images: number;
}

export const CHECKPOINT_FILE = 'checkpoint.safetensors';
export const LOG_FILE = 'train.jsonl';
export const BEST_FILE = 'best.safetensors';

export async function train(model: TrainableCodec, opts: TrainOptions): Promise<TrainResult> {
  const named = model.namedVariables();
  const optimizers = makeOptimizers(model, opts.learningRate, opts.auxLearningRate);
  let data: CropDataset;
  let validation: RgbImage[] = [];
  let lastValidation: ValidationFigures | undefined;
  // the best validation so far (lambda * 255^2 * MSE + bpp): its weights are kept in best.safetensors
  let bestObjective: number | undefined;
  let bestValidation: (ValidationFigures & { step: number }) | undefined;

  // seeded per-sample noise: a run is reproducible, and data-parallel steps draw what one thread would
  const noise = new SeededTrainingNoise(opts.seed);
  const previousNoise = setTrainingNoise(noise);
  let parallel: DataParallelStepper | undefined;
  const workers = opts.workers ?? 1;

  const result = await runTrainingLoop(
    {
      named,
      optimizers,
      restore(state, log) {
        lastValidation = state.lastValidation;
        bestObjective = state.bestObjective;
        bestValidation = state.bestValidation;
        void log;
      },
      snapshot: () => ({ lastValidation, bestObjective, bestValidation }),
      async prepare(log) {
        log(`loading training images from ${opts.dataDir} ...`);
        data = await CropDataset.fromFolder(opts.dataDir, opts.crop);
        validation = opts.valDir ? await loadValidation(opts.valDir, opts.valImages, opts.valCrop) : [];
        log(`${data.size} training images, ${validation.length} validation images`);
        if (workers > 1) {
          if (!opts.parallel) throw new PsicError('USAGE', 'data-parallel training needs the architecture and modules to rebuild the model in each worker');
          parallel = await DataParallelStepper.start(model, optimizers, noise, { ...opts.parallel, workers, seed: opts.seed });
          log(`data-parallel: ${workers} threads, ${opts.batchSize} samples split between them`);
        }
      },
      async step(rng, step) {
        const x = tf.tensor4d(data.sampleBatch(opts.batchSize, opts.crop, rng), [opts.batchSize, opts.crop, opts.crop, 3]);
        let figures: { loss: number; bpp: number; mse: number; auxLoss: number; gradNorm: number };
        if (parallel) {
          figures = await parallel.step(x, opts.lambda, opts.clipNorm, step);
        } else {
          noise.beginStep(step, 0);
          figures = trainStep(model, x, opts.lambda, optimizers, opts.clipNorm);
        }
        const { loss, bpp, mse, auxLoss, gradNorm } = figures;
        x.dispose();
        const psnr = -10 * Math.log10(mse);
        return { record: { loss, bpp, mse, psnr, aux: auxLoss, gradNorm }, bar: { loss, bpp, psnr } };
      },
      async validate(step, log) {
        if (validation.length === 0) return undefined;
        lastValidation = validate(model, validation);
        const objective = opts.lambda * 255 * 255 * lastValidation.mse + lastValidation.bpp;
        const isBest = bestObjective === undefined || objective < bestObjective;
        if (isBest) {
          bestObjective = objective;
          bestValidation = { ...lastValidation, step };
          await saveModuleWeights(join(opts.outDir, BEST_FILE), { namedVariables: () => named }, { step, validation: lastValidation, objective });
        }
        log(`\nstep ${step} validation: bpp ${lastValidation.bpp.toFixed(4)}  PSNR ${lastValidation.psnr.toFixed(2)} dB (${lastValidation.images} images, estimated rate)`);
        return { ...lastValidation, objective, best: isBest };
      },
      endRecord: () => ({ lastValidation }),
    },
    { ...opts, startOptions: { ...opts, log: undefined } },
  ).finally(async () => {
    await parallel?.close();
    setTrainingNoise(previousNoise);
  });
  optimizers.main.dispose();
  optimizers.aux.dispose();
  return { step: result.step, lastValidation, bestValidation };
}

export interface StepOutcome {
  record: Record<string, number>;
  bar: Record<string, number>;
}

/** What a training run plugs into the shared loop: its variables, optimizers, data, one step, validation. */
export interface TrainingDriver {
  /** every variable the checkpoint holds, by stable name */
  named: Record<string, tf.Variable>;
  /** the current optimizers; a driver may replace them between steps (a new stage) */
  optimizers: { main: Adam; aux: Adam };
  /** after a checkpoint was loaded: take the driver's own part of its state */
  restore?(state: CheckpointState, log: (line: string) => void): void;
  /** the driver's part of the checkpoint state */
  snapshot?(): Partial<CheckpointState>;
  /** load data (after any resume, so a resumed run reports its step first) */
  prepare(log: (line: string) => void): Promise<void>;
  /** called before each step with the number of steps done */
  beforeStep?(step: number, log: (line: string) => void): void;
  /** one optimisation step: `record` goes to the JSONL log (needs `loss`), `bar` is smoothed onto the progress bar */
  step(rng: Rng, step: number): StepOutcome | Promise<StepOutcome>;
  /** validation every `validateEvery` steps; the record goes to the log (undefined: nothing to validate) */
  validate?(step: number, log: (line: string) => void): Promise<Record<string, unknown> | undefined>;
  endRecord?(): Record<string, unknown>;
}

export interface LoopOptions {
  outDir: string;
  steps: number;
  seed: number;
  resume: boolean;
  checkpointEvery: number;
  validateEvery: number;
  meta: Record<string, unknown>;
  log?: (line: string) => void;
  /** written in the log's start record */
  startOptions: Record<string, unknown>;
  /** stored in the checkpoint's state */
  checkpointOptions?: Record<string, unknown>;
  label?: string;
}

/**
 * The loop every training run shares: resume from the checkpoint, steps with
 * a progress bar and one JSONL line each, validation and an atomic
 * checkpoint every K steps, and a final checkpoint on the last step or on
 * SIGINT / SIGTERM (continue with resume).
 */
export async function runTrainingLoop(driver: TrainingDriver, opts: LoopOptions): Promise<{ step: number; stopped: boolean }> {
  const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  mkdirSync(opts.outDir, { recursive: true });
  const checkpointPath = join(opts.outDir, CHECKPOINT_FILE);
  const logPath = join(opts.outDir, LOG_FILE);
  const rng = new Rng(opts.seed);

  let step = 0;
  if (opts.resume && existsSync(checkpointPath)) {
    const state = await loadCheckpoint(checkpointPath, driver.named, driver.optimizers.main, driver.optimizers.aux);
    step = state.step;
    rng.state = state.rngState;
    driver.restore?.(state, log);
    log(`resumed from ${checkpointPath} at step ${step}`);
  } else if (existsSync(checkpointPath) && !opts.resume) {
    log(`note: ${checkpointPath} exists and will be overwritten (pass --resume to continue it)`);
  }

  await driver.prepare(log);
  appendJsonl(logPath, { type: 'start', step, time: new Date().toISOString(), options: opts.startOptions, meta: opts.meta });

  const save = async () => {
    const state: CheckpointState = { step, rngState: rng.state, meta: opts.meta, options: opts.checkpointOptions ?? summariseOptions(opts.startOptions), ...driver.snapshot?.() };
    await saveCheckpoint(checkpointPath, driver.named, driver.optimizers.main, driver.optimizers.aux, state);
  };

  let stopping = false;
  const onSignal = () => {
    stopping = true;
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const bar = new ProgressBar({ total: opts.steps, start: step, label: opts.label ?? 'train' });
  const ema: Record<string, number> = {};
  try {
    while (step < opts.steps && !stopping) {
      driver.beforeStep?.(step, log);
      const t0 = performance.now();
      const { record, bar: figures } = await driver.step(rng, step);
      step++;
      const seconds = (performance.now() - t0) / 1000;
      if (!Number.isFinite(record.loss)) throw new Error(`loss became ${record.loss} at step ${step}; lower the learning rate or resume from the last checkpoint`);
      for (const [k, v] of Object.entries(figures)) ema[k] = smooth(ema[k] ?? NaN, v);
      appendJsonl(logPath, { type: 'step', step, ...record, seconds });
      bar.update(step, { ...ema, 's/step': seconds });

      if (driver.validate && step % opts.validateEvery === 0) {
        const figuresVal = await driver.validate(step, log);
        if (figuresVal) appendJsonl(logPath, { type: 'val', step, ...figuresVal });
      }
      if (step % opts.checkpointEvery === 0) await save();
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    bar.finish();
  }
  await save();
  if (stopping) log(`stopped at step ${step}; checkpoint saved, continue with --resume`);
  appendJsonl(logPath, { type: 'end', step, time: new Date().toISOString(), ...driver.endRecord?.() });
  return { step, stopped: stopping };
}

export interface Optimizers {
  main: Adam;
  aux: Adam;
  /** the model's variables by name, split into what the main and the auxiliary optimizer update */
  mainNamed: Record<string, tf.Variable>;
  auxNamed: Record<string, tf.Variable>;
}

/** Split a codec's variables between the main (rate-distortion) and auxiliary (quantiles) optimizers. */
export function makeOptimizers(model: TrainableCodec, learningRate: number, auxLearningRate: number): Optimizers {
  const named = model.namedVariables();
  const auxNames = new Set(model.auxVariables().map((v) => v.name));
  return {
    main: new Adam({ learningRate }),
    aux: new Adam({ learningRate: auxLearningRate }),
    mainNamed: Object.fromEntries(Object.entries(named).filter(([, v]) => !auxNames.has(v.name))),
    auxNamed: Object.fromEntries(Object.entries(named).filter(([, v]) => auxNames.has(v.name))),
  };
}

/** One optimisation step on batch `x`: rate-distortion gradient + Adam, then the auxiliary quantile step. */
export function trainStep(model: TrainableCodec, x: tf.Tensor4D, lambda: number, opt: Optimizers, clipNorm = 1): { loss: number; bpp: number; mse: number; auxLoss: number; gradNorm: number } {
  const { grads, figures } = shardGradients(model, x, lambda, opt.mainNamed);
  return { ...figures, ...applyStep(model, opt, grads, clipNorm) };
}

/**
 * The update half of a step: clip the main gradients (keyed by the model's
 * own names; disposed here), Adam on the main variables, then the auxiliary
 * (quantile) step, which does not depend on the data.
 */
export function applyStep(model: TrainableCodec, opt: Optimizers, grads: Record<string, tf.Tensor>, clipNorm: number): { auxLoss: number; gradNorm: number } {
  const gradNorm = clipGradients(grads, clipNorm);
  opt.main.apply(opt.mainNamed, grads);
  const auxResult = tf.variableGrads(() => model.auxLoss(), Object.values(opt.auxNamed));
  opt.aux.apply(opt.auxNamed, byOwnName(opt.auxNamed, auxResult.grads));
  const auxLoss = auxResult.value.dataSync()[0]!;
  tf.dispose([auxResult.value, ...Object.values(grads), ...Object.values(auxResult.grads)]);
  return { auxLoss, gradNorm };
}

/**
 * Scale all gradients down together when their global L2 norm exceeds
 * `maxNorm` (CompressAI's train.py clips at 1.0): one bad batch can't throw
 * the GDN / entropy parameters into divergence. Returns the norm before
 * clipping. maxNorm <= 0 or Infinity disables it.
 */
export function clipGradients(grads: tf.NamedTensorMap, maxNorm: number): number {
  const norm = tf.tidy(() => tf.sqrt(tf.addN(Object.values(grads).map((g) => tf.sum(tf.square(g))))).dataSync()[0]);
  if (maxNorm > 0 && Number.isFinite(maxNorm) && norm > maxNorm) {
    const scale = maxNorm / norm;
    for (const [name, g] of Object.entries(grads)) {
      grads[name] = tf.mul(g, scale);
      g.dispose();
    }
  }
  return norm;
}

/** tf.variableGrads keys gradients by engine-global variable names; map them back to the model's own names. */
export function byOwnName(named: Record<string, tf.Variable>, grads: tf.NamedTensorMap): Record<string, tf.Tensor> {
  const out: Record<string, tf.Tensor> = {};
  for (const [name, v] of Object.entries(named)) if (grads[v.name]) out[name] = grads[v.name];
  return out;
}

function smooth(prev: number, value: number): number {
  return Number.isNaN(prev) ? value : 0.95 * prev + 0.05 * value;
}

function summariseOptions(opts: Record<string, unknown>): Record<string, unknown> {
  const { log: _log, meta: _meta, ...rest } = opts;
  return rest;
}

/** The first `count` images of a folder (sorted by name; 0 = all), centre-cropped to `cropSize` (0 = whole). */
export async function loadValidation(dir: string, count: number, cropSize: number): Promise<RgbImage[]> {
  const files = await listImages(dir);
  const chosen = count > 0 ? files.slice(0, count) : files;
  const images: RgbImage[] = [];
  for (const f of chosen) images.push(centreCrop(await readImage(f), cropSize));
  return images;
}

function centreCrop(img: RgbImage, size: number): RgbImage {
  if (size <= 0 || (img.height <= size && img.width <= size)) return img;
  const h = Math.min(size, img.height);
  const w = Math.min(size, img.width);
  const top = Math.floor((img.height - h) / 2);
  const left = Math.floor((img.width - w) / 2);
  const data = new Float32Array(h * w * 3);
  for (let y = 0; y < h; y++) data.set(img.data.subarray(((top + y) * img.width + left) * 3, ((top + y) * img.width + left + w) * 3), y * w * 3);
  return { height: h, width: w, data };
}

/** Eval-mode forward (rounded latents) on each image, rate estimated from the likelihoods over the real pixel count. */
export function validate(model: TrainableCodec, images: RgbImage[]): ValidationFigures {
  let bits = 0;
  let pixels = 0;
  let mseSum = 0;
  let psnrSum = 0;
  for (const img of images) {
    const ph = paddedSize(img.height);
    const pw = paddedSize(img.width);
    const { imgBits, mse } = tf.tidy(() => {
      const x = tf.tensor4d(padReplicate(img.data, img.height, img.width, 3, ph, pw), [1, ph, pw, 3]);
      const out = model.forward(x, { training: false });
      const xHat = tf.clipByValue(tf.slice(out.xHat, [0, 0, 0, 0], [1, img.height, img.width, 3]), 0, 1);
      const xTrue = tf.slice(x, [0, 0, 0, 0], [1, img.height, img.width, 3]);
      const b = tf.addN(out.likelihoods.map((p) => tf.sum(tf.log(p)))).dataSync()[0] / -Math.LN2;
      return { imgBits: b, mse: tf.mean(tf.squaredDifference(xTrue, xHat)).dataSync()[0] };
    });
    bits += imgBits;
    pixels += img.height * img.width;
    mseSum += mse;
    psnrSum += -10 * Math.log10(mse);
  }
  return { bpp: bits / pixels, psnr: psnrSum / images.length, mse: mseSum / images.length, images: images.length };
}
