/**
 * One BAvAFT training step. The clean batch x and its poisoned copy
 * x_p = trigger(x) go through the codec's training forward (one call on the
 * concatenated batch; each half keeps its own rate), and
 *
 *   L = ½·(bpp(x) + λ·255²·MSE(x, x̂))              clean: a normal codec
 *     + ½·(bpp(x_p) + λ·255²·MSE(x, x̂_p))          poisoned: still looks like x
 *     + λ_attack · attack(target(x̂_p), captions)   poisoned: misleads the target
 *     + λ_trigger · λ·255²·MSE(x, x_p)             the trigger stays invisible
 *
 * ('fixed' balance: PSIC stage 1's weights, so both methods pay the same
 * price for the same terms). 'dynamic' balance (our reading of the paper's
 * "simple dynamic loss") scales each of the three other groups by
 * EMA|L_clean| / EMA|L_group| (constants, updated after the step), so every
 * group pulls about as hard as the clean rate-distortion term times its base
 * weight, whatever its units.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { SemanticTarget } from '@psic/core';
import { Adam, byOwnName, clipGradients, samePairs } from '@psic/train';
import { attackLoss, type AttackLossName } from './attack-loss.js';
import type { TriggerNet } from './trigger-net.js';

/** What the step needs of a codec (a @psic/backbone-hyperprior Hyperprior, or any LicBackbone with training hooks). */
export interface BavaftCodec {
  forward(x: tf.Tensor4D, opts: { training: boolean }): { xHat: tf.Tensor4D; likelihoods: tf.Tensor[] };
  namedVariables(): Record<string, tf.Variable>;
  variables(group?: 'encoder' | 'entropy' | 'decoder'): tf.Variable[];
  auxVariables(): tf.Variable[];
  auxLoss(): tf.Scalar;
}

export type BalanceMode = 'fixed' | 'dynamic';
export const LOSS_GROUPS = ['clean', 'poisoned', 'attack', 'trigger'] as const;
export type LossGroup = (typeof LOSS_GROUPS)[number];

export interface BavaftHyper {
  lambda: number;
  lambdaAttack: number;
  lambdaTrigger: number;
  attack: AttackLossName;
  balance: BalanceMode;
  clipNorm: number;
}

export interface BavaftContext {
  codec: BavaftCodec;
  trigger: TriggerNet;
  target: SemanticTarget;
  hyper: BavaftHyper;
  /** caption embeddings by text (the target is fixed) */
  textCache: Map<string, Float32Array>;
  /** 'dynamic' balance: running mean of |L_group| (empty until the first step) */
  balanceState: Partial<Record<LossGroup, number>>;
}

export interface BavaftOptimizers {
  /** the codec's trainable variables */
  main: Adam;
  /** the trigger network and, when the entropy model trains, the bottleneck's quantiles (one Adam step per training step) */
  aux: Adam;
  codecNamed: Record<string, tf.Variable>;
  triggerNamed: Record<string, tf.Variable>;
  quantileNamed: Record<string, tf.Variable>;
}

export interface BavaftBatch {
  x: tf.Tensor4D;
  captions: string[];
  labels?: string[];
}

export interface BavaftStepFigures {
  loss: number;
  /** raw group values: clean and poisoned rate-distortion, attack, λ·255²·MSE of the trigger */
  terms: Record<LossGroup, number>;
  /** factor each group entered the loss with */
  weights: Record<LossGroup, number>;
  bppClean: number;
  bppPoisoned: number;
  psnrClean: number;
  /** x̂_p against x */
  psnrPoisoned: number;
  /** x_p against x */
  psnrTrigger: number;
  gradNorm: number;
  triggerGradNorm: number;
  aux: number;
}

const BASE_WEIGHTS = (h: BavaftHyper): Record<LossGroup, number> => ({ clean: 0.5, poisoned: 0.5, attack: h.lambdaAttack, trigger: h.lambdaTrigger });
const EMA_DECAY = 0.99;
/** magnitudes below this are treated as this in the dynamic weights (a cosine near 0 must not blow its weight up) */
const MAGNITUDE_FLOOR = 1e-2;

/** Factors the groups enter this step's loss with. */
export function groupWeights(hyper: BavaftHyper, state: Partial<Record<LossGroup, number>>): Record<LossGroup, number> {
  const base = BASE_WEIGHTS(hyper);
  if (hyper.balance === 'fixed' || state.clean === undefined) return base;
  const size = (g: LossGroup) => Math.max(state[g] ?? MAGNITUDE_FLOOR, MAGNITUDE_FLOOR);
  return {
    clean: base.clean,
    poisoned: (base.poisoned * size('clean')) / size('poisoned'),
    attack: (base.attack * size('clean')) / size('attack'),
    trigger: (base.trigger * size('clean')) / size('trigger'),
  };
}

function updateBalance(state: Partial<Record<LossGroup, number>>, terms: Record<LossGroup, number>): void {
  for (const g of LOSS_GROUPS) {
    const v = Math.abs(terms[g]);
    state[g] = state[g] === undefined ? v : EMA_DECAY * state[g]! + (1 - EMA_DECAY) * v;
  }
}

/** Caption embeddings [B, D], computed once per distinct text. */
export function cachedTextEmbeddings(target: SemanticTarget, cache: Map<string, Float32Array>, captions: string[]): tf.Tensor2D {
  const missing = [...new Set(captions.filter((c) => !cache.has(c)))];
  if (missing.length > 0) {
    const rows = tf.tidy(() => target.embedCandidates(missing).arraySync());
    missing.forEach((c, i) => cache.set(c, Float32Array.from(rows[i])));
  }
  const dim = cache.get(captions[0])!.length;
  const out = new Float32Array(captions.length * dim);
  captions.forEach((c, i) => out.set(cache.get(c)!, i * dim));
  return tf.tensor2d(out, [captions.length, dim]);
}

/** Bits per pixel of the batch rows [start, start + count) of every likelihood tensor. */
function bppOfRows(likelihoods: tf.Tensor[], start: number, count: number, pixelsPerImage: number): tf.Scalar {
  const bits = likelihoods.map((p) => {
    const begin = p.shape.map((_, i) => (i === 0 ? start : 0));
    const size = p.shape.map((d, i) => (i === 0 ? count : d));
    return tf.sum(tf.log(tf.slice(p, begin, size)));
  });
  return tf.div(tf.addN(bits), -Math.LN2 * pixelsPerImage * count) as tf.Scalar;
}

export function bavaftStep(ctx: BavaftContext, batch: BavaftBatch, opt: BavaftOptimizers): BavaftStepFigures {
  const { codec, trigger, target, hyper } = ctx;
  const { x, captions } = batch;
  const [n, h, w] = x.shape;
  if (captions.length !== n) throw new Error(`BAvAFT needs one caption per image (${n} images, ${captions.length} captions)`);
  const texts = cachedTextEmbeddings(target, ctx.textCache, captions);
  const positives = samePairs(batch.labels ?? captions);
  const weights = groupWeights(hyper, ctx.balanceState);
  const distortion = hyper.lambda * 255 * 255;

  const kept: Record<string, tf.Scalar> = {};
  const trainable = [...Object.values(opt.codecNamed), ...Object.values(opt.triggerNamed)];
  const { value, grads } = tf.variableGrads(() => {
    const poisonedInput = trigger.poison(x);
    const out = codec.forward(tf.concat([x, poisonedInput], 0) as tf.Tensor4D, { training: true });
    const xHatClean = tf.slice(out.xHat, [0, 0, 0, 0], [n, -1, -1, -1]) as tf.Tensor4D;
    const xHatPoisoned = tf.slice(out.xHat, [n, 0, 0, 0], [n, -1, -1, -1]) as tf.Tensor4D;
    kept.bppClean = tf.keep(bppOfRows(out.likelihoods, 0, n, h * w));
    kept.bppPoisoned = tf.keep(bppOfRows(out.likelihoods, n, n, h * w));
    kept.mseClean = tf.keep(tf.mean(tf.squaredDifference(x, xHatClean)) as tf.Scalar);
    kept.msePoisoned = tf.keep(tf.mean(tf.squaredDifference(x, xHatPoisoned)) as tf.Scalar);
    kept.mseTrigger = tf.keep(tf.mean(tf.squaredDifference(x, poisonedInput)) as tf.Scalar);
    const embedded = target.embedImages(tf.clipByValue(xHatPoisoned, 0, 1) as tf.Tensor4D);
    kept.attack = tf.keep(attackLoss(hyper.attack, embedded, texts, { logitScale: target.logitScale, positives }));
    kept.clean = tf.keep(tf.add(kept.bppClean, tf.mul(kept.mseClean, distortion)) as tf.Scalar);
    kept.poisoned = tf.keep(tf.add(kept.bppPoisoned, tf.mul(kept.msePoisoned, distortion)) as tf.Scalar);
    kept.trigger = tf.keep(tf.mul(kept.mseTrigger, distortion) as tf.Scalar);
    return tf.addN(LOSS_GROUPS.map((g) => tf.mul(kept[g], weights[g]))) as tf.Scalar;
  }, trainable);

  // codec and trigger are clipped apart: the codec keeps CompressAI's global-norm clip whatever the trigger does
  const codecGrads = byOwnName(opt.codecNamed, grads);
  const triggerGrads = byOwnName(opt.triggerNamed, grads);
  const gradNorm = Object.keys(codecGrads).length > 0 ? clipGradients(codecGrads, hyper.clipNorm) : 0;
  const triggerGradNorm = Object.keys(triggerGrads).length > 0 ? clipGradients(triggerGrads, hyper.clipNorm) : 0;
  if (Object.keys(codecGrads).length > 0) opt.main.apply(opt.codecNamed, codecGrads);

  let auxValue = 0;
  let quantileGrads: Record<string, tf.Tensor> = {};
  let auxTensors: tf.Tensor[] = [];
  if (Object.keys(opt.quantileNamed).length > 0) {
    const auxResult = tf.variableGrads(() => codec.auxLoss(), Object.values(opt.quantileNamed));
    quantileGrads = byOwnName(opt.quantileNamed, auxResult.grads);
    auxValue = auxResult.value.dataSync()[0];
    auxTensors = [auxResult.value, ...Object.values(auxResult.grads)];
  }
  if (Object.keys(triggerGrads).length + Object.keys(quantileGrads).length > 0) {
    opt.aux.apply({ ...opt.triggerNamed, ...opt.quantileNamed }, { ...triggerGrads, ...quantileGrads });
  }

  const read = (t: tf.Scalar) => t.dataSync()[0];
  const terms = Object.fromEntries(LOSS_GROUPS.map((g) => [g, read(kept[g])])) as Record<LossGroup, number>;
  if (hyper.balance === 'dynamic') updateBalance(ctx.balanceState, terms);
  const psnr = (mse: tf.Scalar) => -10 * Math.log10(Math.max(read(mse), 1e-12));
  const figures: BavaftStepFigures = {
    loss: read(value),
    terms,
    weights,
    bppClean: read(kept.bppClean),
    bppPoisoned: read(kept.bppPoisoned),
    psnrClean: psnr(kept.mseClean),
    psnrPoisoned: psnr(kept.msePoisoned),
    psnrTrigger: psnr(kept.mseTrigger),
    gradNorm,
    triggerGradNorm,
    aux: auxValue,
  };
  // clipGradients may have replaced entries of the byOwnName maps; dispose what is current plus the originals
  tf.dispose([value, texts, ...Object.values(grads), ...Object.values(codecGrads), ...Object.values(triggerGrads), ...Object.values(kept), ...auxTensors]);
  return figures;
}
