/**
 * BAvAFT training on @psic/train's shared loop (progress bar, one JSONL line
 * per step, atomic checkpoints holding both Adam states, resume, SIGINT
 * save). Stages by step count:
 *
 *   1. 'trigger' (optional warm-up, `warmupSteps`): the codec frozen, only the
 *      trigger network learns to fool the target through the given codec;
 *   2. 'joint': the trigger network and the codec's `trainable` groups
 *      together. Default: the encoder (g_a, h_a) only — the paper's "simple
 *      modification of encoder parameters", which leaves the decoder and
 *      the entropy model, and so every receiver, untouched.
 *
 * Runs are reproducible from the seed: data crops from the loop's Rng, the
 * quantization noise from a SeededTrainingNoise keyed by step, the trigger
 * network's initial weights from the seed.
 */
import * as tf from '@tensorflow/tfjs-core';
import { padReplicate, paddedSize, type RgbImage, type SemanticTarget } from '@psic/core';
import { PsicError, SeededTrainingNoise, setTrainingNoise, type TrainingNoiseSource } from '@psic/entropy';
import { cosineRows } from '@psic/objectives';
import { Adam, runTrainingLoop, type PairBatch, type Rng } from '@psic/train';
import { ATTACK_LOSSES, type AttackLossName } from './attack-loss.js';
import { bavaftStep, LOSS_GROUPS, type BalanceMode, type BavaftCodec, type BavaftContext, type BavaftOptimizers, type BavaftStepFigures, type LossGroup } from './bavaft-step.js';
import type { TriggerNet } from './trigger-net.js';

export type CodecGroup = 'encoder' | 'entropy' | 'decoder';
export const CODEC_GROUPS: readonly CodecGroup[] = ['encoder', 'entropy', 'decoder'];

/** Image–caption batches (PairDataset from @psic/train, or anything that samples like it). */
export interface PairSource {
  readonly size: number;
  sampleBatch(batchSize: number, crop: number, rng: Rng): PairBatch;
}

export interface BavaftTrainOptions {
  codec: BavaftCodec;
  trigger: TriggerNet;
  target: SemanticTarget;
  data: PairSource;
  outDir: string;
  /** total steps, warm-up included */
  steps: number;
  /** steps at the start that train only the trigger network (default 0) */
  warmupSteps?: number;
  /** codec groups trained in the joint stage (default ['encoder'], as the paper) */
  trainable?: CodecGroup[];
  lambda: number;
  /** weight of the attack term (default 1, PSIC's λ_clip) */
  lambdaAttack?: number;
  /** weight of the trigger's λ·255²·MSE(x, x_p) (default 1) */
  lambdaTrigger?: number;
  attack?: AttackLossName;
  balance?: BalanceMode;
  batchSize: number;
  /** crop side, a multiple of 64 */
  crop: number;
  /** the codec's learning rate */
  learningRate: number;
  /** the trigger network's (and the quantiles') learning rate */
  triggerLearningRate: number;
  checkpointEvery: number;
  validateEvery: number;
  /** validation images (decoded, cropped) */
  validation?: RgbImage[];
  seed: number;
  resume: boolean;
  clipNorm: number;
  meta: Record<string, unknown>;
  log?: (line: string) => void;
}

export interface BavaftValidation {
  images: number;
  /** estimated rate (eval forward), clean and poisoned */
  bppClean: number;
  bppPoisoned: number;
  psnrClean: number;
  /** poisoned decode against the clean original */
  psnrPoisoned: number;
  /** poisoned input against the clean original */
  psnrTrigger: number;
  /** the target's cosine between each decode and the original */
  cosClean: number;
  cosPoisoned: number;
}

export interface BavaftTrainResult {
  step: number;
  stopped: boolean;
  lastFigures?: Record<string, number>;
  lastValidation?: BavaftValidation;
}

interface Stage {
  name: 'trigger' | 'joint';
  start: number;
  end: number;
}

function checkOptions(opts: BavaftTrainOptions): void {
  const warmup = opts.warmupSteps ?? 0;
  if (!Number.isInteger(opts.steps) || opts.steps < 1) throw new PsicError('USAGE', `steps must be a positive integer, got ${opts.steps}`);
  if (!Number.isInteger(warmup) || warmup < 0 || warmup > opts.steps) throw new PsicError('USAGE', `warm-up steps must be an integer in 0..${opts.steps}, got ${warmup}`);
  if (!Number.isInteger(opts.crop) || opts.crop < 64 || opts.crop % 64 !== 0) throw new PsicError('USAGE', `crop must be a positive multiple of 64, got ${opts.crop}`);
  for (const g of opts.trainable ?? []) if (!CODEC_GROUPS.includes(g)) throw new PsicError('USAGE', `unknown codec group "${g}"; groups: ${CODEC_GROUPS.join(', ')}`);
  if (opts.attack && !ATTACK_LOSSES.includes(opts.attack)) throw new PsicError('USAGE', `unknown attack loss "${opts.attack}"; known: ${ATTACK_LOSSES.join(', ')}`);
  if (opts.balance && opts.balance !== 'fixed' && opts.balance !== 'dynamic') throw new PsicError('USAGE', `balance must be fixed or dynamic, got "${opts.balance}"`);
}

export async function trainBavaft(opts: BavaftTrainOptions): Promise<BavaftTrainResult> {
  checkOptions(opts);
  const { codec, trigger } = opts;
  const trainable = opts.trainable ?? ['encoder'];
  const warmup = opts.warmupSteps ?? 0;
  const stages: Stage[] = [
    ...(warmup > 0 ? [{ name: 'trigger' as const, start: 0, end: warmup }] : []),
    ...(warmup < opts.steps ? [{ name: 'joint' as const, start: warmup, end: opts.steps }] : []),
  ];
  const ctx: BavaftContext = {
    codec,
    trigger,
    target: opts.target,
    hyper: {
      lambda: opts.lambda,
      lambdaAttack: opts.lambdaAttack ?? 1,
      lambdaTrigger: opts.lambdaTrigger ?? 1,
      attack: opts.attack ?? 'cosine',
      balance: opts.balance ?? 'fixed',
      clipNorm: opts.clipNorm,
    },
    textCache: new Map(),
    balanceState: {},
  };
  const codecAll = codec.namedVariables();
  const triggerNamed = trigger.namedVariables();
  for (const name of Object.keys(triggerNamed)) if (name in codecAll) throw new Error(`variable ${name} is in both the codec and the trigger network`);
  const named = { ...codecAll, ...triggerNamed };
  const optimizers = { main: new Adam({ learningRate: opts.learningRate }), aux: new Adam({ learningRate: opts.triggerLearningRate }) };

  const auxIds = new Set(codec.auxVariables().map((v) => v.name));
  const pick = (ids: Set<string>) => Object.fromEntries(Object.entries(codecAll).filter(([, v]) => ids.has(v.name)));
  const optimizersFor = (stage: Stage): BavaftOptimizers => {
    const ids = stage.name === 'joint' ? new Set(trainable.flatMap((g) => codec.variables(g)).map((v) => v.name)) : new Set<string>();
    for (const id of auxIds) ids.delete(id);
    return {
      main: optimizers.main,
      aux: optimizers.aux,
      codecNamed: pick(ids),
      triggerNamed,
      // the quantiles follow the entropy model: trained only when it is
      quantileNamed: stage.name === 'joint' && trainable.includes('entropy') ? pick(auxIds) : {},
    };
  };

  let current: { stage: Stage; opt: BavaftOptimizers } | undefined;
  let lastFigures: Record<string, number> | undefined;
  let lastValidation: BavaftValidation | undefined;
  const noise = new SeededTrainingNoise(opts.seed);
  let previousNoise: TrainingNoiseSource | undefined;
  let noiseInstalled = false;

  try {
    const result = await runTrainingLoop(
      {
        named,
        optimizers,
        restore(state) {
          const saved = state.recipe as { name?: string; balance?: Partial<Record<LossGroup, number>>; lastFigures?: Record<string, number>; lastValidation?: BavaftValidation } | undefined;
          if (saved?.name !== undefined && saved.name !== 'bavaft') throw new PsicError('BAD_CHECKPOINT', `the checkpoint in ${opts.outDir} is from a "${saved.name}" run, not BAvAFT`);
          ctx.balanceState = { ...(saved?.balance ?? {}) };
          lastFigures = saved?.lastFigures;
          lastValidation = saved?.lastValidation;
        },
        snapshot: () => ({ recipe: { name: 'bavaft', balance: ctx.balanceState, lastFigures, lastValidation } }),
        async prepare(log) {
          previousNoise = setTrainingNoise(noise);
          noiseInstalled = true;
          log(`${opts.data.size} image-text pairs, ${opts.validation?.length ?? 0} validation images; BAvAFT ${stages.map((s) => `${s.name} ${s.end - s.start} steps`).join(', ')}; joint stage trains the trigger + ${trainable.join(', ')}`);
        },
        beforeStep(step, log) {
          const stage = stages.find((s) => step >= s.start && step < s.end)!;
          if (!current || current.stage !== stage) {
            current = { stage, opt: optimizersFor(stage) };
            log(`\nstage "${stage.name}" (steps ${stage.start + 1}-${stage.end}): trains the trigger network${stage.name === 'joint' ? ` and the codec's ${trainable.join(', ')}` : ''}`);
          }
        },
        step(rng, step) {
          const batch = opts.data.sampleBatch(opts.batchSize, opts.crop, rng);
          const x = tf.tensor4d(batch.images, [opts.batchSize, opts.crop, opts.crop, 3]);
          noise.beginStep(step);
          let f: BavaftStepFigures;
          try {
            f = bavaftStep(ctx, { x, captions: batch.captions, labels: batch.labels }, current!.opt);
          } finally {
            x.dispose();
          }
          const record = flatten(f, current!.stage.name === 'trigger' ? 1 : 2);
          lastFigures = record;
          return { record, bar: { loss: f.loss, bpp: f.bppClean, clean: f.psnrClean, poisoned: f.psnrPoisoned, attack: f.terms.attack } };
        },
        async validate(step, log) {
          if (!opts.validation || opts.validation.length === 0) return undefined;
          lastValidation = validateBavaft(codec, trigger, opts.target, opts.validation);
          const v = lastValidation;
          log(`\nstep ${step} validation: bpp ${v.bppClean.toFixed(4)} / ${v.bppPoisoned.toFixed(4)}  clean ${v.psnrClean.toFixed(2)} dB (cos ${v.cosClean.toFixed(3)})  poisoned ${v.psnrPoisoned.toFixed(2)} dB (cos ${v.cosPoisoned.toFixed(3)})  trigger ${v.psnrTrigger.toFixed(2)} dB`);
          return { ...v };
        },
        endRecord: () => ({ lastValidation }),
      },
      {
        outDir: opts.outDir,
        steps: opts.steps,
        seed: opts.seed,
        resume: opts.resume,
        checkpointEvery: opts.checkpointEvery,
        validateEvery: opts.validateEvery,
        meta: opts.meta,
        log: opts.log,
        label: 'bavaft',
        startOptions: { ...summarise(opts), trainable, stages },
      },
    );
    return { step: result.step, stopped: result.stopped, lastFigures, lastValidation };
  } finally {
    if (noiseInstalled) setTrainingNoise(previousNoise);
    optimizers.main.dispose();
    optimizers.aux.dispose();
  }
}

function flatten(f: BavaftStepFigures, stage: number): Record<string, number> {
  const record: Record<string, number> = {
    loss: f.loss,
    stage,
    bppClean: f.bppClean,
    bppPoisoned: f.bppPoisoned,
    psnrClean: f.psnrClean,
    psnrPoisoned: f.psnrPoisoned,
    psnrTrigger: f.psnrTrigger,
    gradNorm: f.gradNorm,
    triggerGradNorm: f.triggerGradNorm,
    aux: f.aux,
  };
  for (const g of LOSS_GROUPS) {
    record[`term:${g}`] = f.terms[g];
    record[`weight:${g}`] = f.weights[g];
  }
  return record;
}

function summarise(opts: BavaftTrainOptions): Record<string, unknown> {
  const { codec: _c, trigger, target, data, validation, log: _l, meta: _m, ...rest } = opts;
  return { ...rest, trigger: trigger.config, target: target.name, pairs: data.size, validationImages: validation?.length ?? 0 };
}

/**
 * The evaluation forward (rounded latents, the coder's own scales) on each
 * image, clean and poisoned: estimated bpp, PSNR against the original, the
 * poisoned input's PSNR, and the target's cosine between each decode and the
 * original.
 */
export function validateBavaft(codec: BavaftCodec, trigger: TriggerNet, target: SemanticTarget, images: RgbImage[]): BavaftValidation {
  const sums = { bitsClean: 0, bitsPoisoned: 0, pixels: 0, psnrClean: 0, psnrPoisoned: 0, psnrTrigger: 0, cosClean: 0, cosPoisoned: 0 };
  for (const img of images) {
    const ph = paddedSize(img.height);
    const pw = paddedSize(img.width);
    tf.tidy(() => {
      const x = tf.tensor4d(padReplicate(img.data, img.height, img.width, 3, ph, pw), [1, ph, pw, 3]);
      const xp = trigger.poison(x);
      const crop = (t: tf.Tensor4D) => tf.clipByValue(tf.slice(t, [0, 0, 0, 0], [1, img.height, img.width, 3]), 0, 1) as tf.Tensor4D;
      const original = crop(x);
      const psnr = (a: tf.Tensor4D) => -10 * Math.log10(Math.max(tf.mean(tf.squaredDifference(original, a)).dataSync()[0], 1e-12));
      const reference = target.embedImages(original);
      const cos = (a: tf.Tensor4D) => cosineRows(reference, target.embedImages(a)).dataSync()[0];
      const bits = (likelihoods: tf.Tensor[]) => tf.addN(likelihoods.map((p) => tf.sum(tf.log(p)))).dataSync()[0] / -Math.LN2;
      const clean = codec.forward(x, { training: false });
      const poisoned = codec.forward(xp, { training: false });
      const xHat = crop(clean.xHat);
      const xHatP = crop(poisoned.xHat);
      sums.bitsClean += bits(clean.likelihoods);
      sums.bitsPoisoned += bits(poisoned.likelihoods);
      sums.psnrClean += psnr(xHat);
      sums.psnrPoisoned += psnr(xHatP);
      sums.psnrTrigger += psnr(crop(xp));
      sums.cosClean += cos(xHat);
      sums.cosPoisoned += cos(xHatP);
    });
    sums.pixels += img.height * img.width;
  }
  const n = images.length;
  return {
    images: n,
    bppClean: sums.bitsClean / sums.pixels,
    bppPoisoned: sums.bitsPoisoned / sums.pixels,
    psnrClean: sums.psnrClean / n,
    psnrPoisoned: sums.psnrPoisoned / n,
    psnrTrigger: sums.psnrTrigger / n,
    cosClean: sums.cosClean / n,
    cosPoisoned: sums.cosPoisoned / n,
  };
}
