/**
 * One step of a recipe: one analysis and one y-hat, decoded under every mode
 * the step's terms look at (ConditionalSynthesis.forwardModes), the terms
 * summed or balanced, one Adam step on the stage's trainable variables.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { SemanticTarget } from '@psic/core';
import { bitsPerPixelFromLikelihoods, gridBoxes, naiveAttack, semanticGlobal, semanticInstances, uaeo, type CropBox, type UaeoOptions } from '@psic/objectives';
import type { Adam } from './adam.js';
import { samePairs } from './pairs.js';
import type { HyperParameter, LossTerm, StepSpec, TrainableGroup } from './recipes.js';
import type { Rng } from './rng.js';
import { byOwnName, clipGradients } from './trainer.js';

/** What a recipe needs of a conditional model (@psic/cltg's ConditionalSynthesis implements it). */
export interface ConditionalCodec {
  readonly conditionDim: number;
  readonly modes: { name: string; default?: boolean; keyed?: boolean }[];
  conditionVector(condition: { mode: string; key?: string | Uint8Array }): Float32Array;
  forwardModes(x: tf.Tensor4D, opts: { training: boolean; conditions: tf.Tensor2D[] }): { xHats: tf.Tensor4D[]; likelihoods: tf.Tensor[] };
  namedVariables(): Record<string, tf.Variable>;
  variables(group?: TrainableGroup): tf.Variable[];
  auxVariables(): tf.Variable[];
  auxLoss(): tf.Scalar;
}

export interface RecipeContext {
  model: ConditionalCodec;
  target?: SemanticTarget;
  hyper: Record<HyperParameter, number>;
  /** β of every mode (keyed modes: from the training key) */
  betas: Map<string, Float32Array>;
  defaultMode: string;
  /** share of default-mode samples given a random wrong key's β */
  wrongKeyShare: number;
  /** caption embeddings already computed, by text */
  textCache: Map<string, Float32Array>;
  uaeoOptions?: UaeoOptions;
  /** regions for the instance-wise term (default: gridBoxes of the crop) */
  instanceBoxes?: (height: number, width: number) => CropBox[];
}

export interface RecipeBatch {
  x: tf.Tensor4D;
  captions?: string[];
  labels?: string[];
}

export interface RecipeOptimizers {
  main: Adam;
  /** undefined: the quantiles are frozen this stage */
  aux?: Adam;
  /** the trainable variables by name */
  mainNamed: Record<string, tf.Variable>;
  auxNamed: Record<string, tf.Variable>;
}

/** Conditions per mode for a batch: [1, D] fixed vectors, or [B, D] for the default mode mixed with wrong keys. */
export function modeConditions(ctx: RecipeContext, modes: string[], batch: number, rng: Rng): tf.Tensor2D[] {
  const dim = ctx.model.conditionDim;
  return modes.map((mode) => {
    const beta = ctx.betas.get(mode);
    if (!beta) throw new Error(`no condition for mode ${mode}`);
    if (mode !== ctx.defaultMode || ctx.wrongKeyShare <= 0) return tf.tensor2d(beta, [1, dim]);
    const rows = new Float32Array(batch * dim);
    for (let b = 0; b < batch; b++) {
      if (rng.next() < ctx.wrongKeyShare) for (let d = 0; d < dim; d++) rows[b * dim + d] = rng.next() * 2 - 1;
      else rows.set(beta, b * dim);
    }
    return tf.tensor2d(rows, [batch, dim]);
  });
}

/** Caption embeddings [B, D] through the cache (the target is fixed, so a text's embedding never changes). */
export function captionEmbeddings(ctx: RecipeContext, captions: string[]): tf.Tensor2D {
  const target = ctx.target!;
  const missing = [...new Set(captions.filter((c) => !ctx.textCache.has(c)))];
  if (missing.length > 0) {
    const rows = tf.tidy(() => target.embedCandidates(missing).arraySync());
    missing.forEach((c, i) => ctx.textCache.set(c, Float32Array.from(rows[i])));
  }
  const dim = ctx.textCache.get(captions[0])!.length;
  const out = new Float32Array(captions.length * dim);
  captions.forEach((c, i) => out.set(ctx.textCache.get(c)!, i * dim));
  return tf.tensor2d(out, [captions.length, dim]);
}

export function termFactor(term: LossTerm, hyper: Record<HyperParameter, number>): number {
  return (term.scale ?? []).reduce((f, h) => f * hyper[h], term.weight);
}

export function termKey(term: LossTerm): string {
  return term.mode ? `${term.objective}:${term.mode}` : term.objective;
}

export interface RecipeStepFigures {
  loss: number;
  bpp: number;
  gradNorm: number;
  aux: number;
  /** per mode: MSE and PSNR of x̂_mode against x */
  modes: Record<string, { mse: number; psnr: number }>;
  /** each term's raw value (before its factor), keyed objective:mode */
  terms: Record<string, number>;
  /** balance weights per group ('inverse-loss' steps) */
  weights?: Record<string, number>;
  /** UAEO: share of confident images */
  confidentShare?: number;
}

export function recipeStep(ctx: RecipeContext, spec: StepSpec, batch: RecipeBatch, rng: Rng, opt: RecipeOptimizers, clipNorm = 1): RecipeStepFigures {
  const { x } = batch;
  const [n, h, w] = x.shape;
  const modes = [...new Set(spec.terms.filter((t) => t.objective !== 'rate').map((t) => t.mode!))];
  const needsTarget = spec.terms.some((t) => t.objective !== 'rate' && t.objective !== 'mse');
  if (needsTarget && !ctx.target) throw new Error('this recipe step needs a semantic target');
  const needsCaptions = spec.terms.some((t) => t.objective === 'uaeo' || t.objective === 'naive');
  if (needsCaptions && (!batch.captions || batch.captions.length !== n)) throw new Error('this recipe step needs one caption per image');

  const conditions = modeConditions(ctx, modes, n, rng);
  // constants of the step: the original images' and the captions' embeddings
  const original = needsTarget ? tf.tidy(() => ctx.target!.embedImages(x)) : undefined;
  const texts = needsCaptions ? captionEmbeddings(ctx, batch.captions!) : undefined;
  const positives = needsCaptions ? samePairs(batch.labels ?? batch.captions!) : undefined;

  const kept: Record<string, tf.Scalar> = {};
  const figures: Partial<RecipeStepFigures> = { modes: {}, terms: {} };
  const { value, grads } = tf.variableGrads(() => {
    const out = ctx.model.forwardModes(x, { training: true, conditions });
    const xHat = new Map(modes.map((m, i) => [m, out.xHats[i]]));
    const embedded = new Map<string, tf.Tensor2D>();
    const embed = (mode: string) => {
      if (!embedded.has(mode)) embedded.set(mode, ctx.target!.embedImages(tf.clipByValue(xHat.get(mode)!, 0, 1)));
      return embedded.get(mode)!;
    };
    const bpp = bitsPerPixelFromLikelihoods(out.likelihoods, n * h * w);
    kept.bpp = tf.keep(bpp);
    for (const m of modes) kept[`pixel-mse:${m}`] = tf.keep(tf.mean(tf.squaredDifference(x, xHat.get(m)!)) as tf.Scalar);

    const groups = new Map<string, tf.Scalar[]>();
    spec.terms.forEach((term, i) => {
      let v: tf.Scalar;
      switch (term.objective) {
        case 'rate':
          v = bpp;
          break;
        case 'mse':
          v = tf.mul(kept[`pixel-mse:${term.mode}`], 255 * 255) as tf.Scalar;
          break;
        case 'uaeo': {
          const r = uaeo({ originalImages: original!, protectedImages: embed(term.mode!), texts: texts!, logitScale: ctx.target!.logitScale, positives }, ctx.uaeoOptions);
          figures.confidentShare = r.confidentImages.filter(Boolean).length / n;
          v = r.loss;
          break;
        }
        case 'naive':
          v = naiveAttack(embed(term.mode!), texts!);
          break;
        case 'semanticGlobal':
          v = semanticGlobal(original!, embed(term.mode!));
          break;
        case 'semanticInstances':
          v = semanticInstances(ctx.target!, x, xHat.get(term.mode!)!, (ctx.instanceBoxes ?? ((hh, ww) => gridBoxes(hh, ww)))(h, w));
          break;
      }
      kept[termKey(term)] = tf.keep(v);
      const group = term.group ?? `#${i}`;
      groups.set(group, [...(groups.get(group) ?? []), tf.mul(v, termFactor(term, ctx.hyper)) as tf.Scalar]);
    });
    const sums = new Map([...groups].map(([g, vs]) => [g, vs.length === 1 ? vs[0] : (tf.addN(vs) as tf.Scalar)]));
    if (spec.balance !== 'inverse-loss') return tf.addN([...sums.values()]) as tf.Scalar;
    // normalised inverse loss: each group's pull scaled to about the same size; the weights are constants
    const inv = new Map([...sums].map(([g, s]) => [g, 1 / Math.max(Math.abs(s.dataSync()[0]), 1e-6)]));
    const total = [...inv.values()].reduce((a, b) => a + b, 0);
    figures.weights = Object.fromEntries([...inv].map(([g, v]) => [g, v / total]));
    return tf.addN([...sums].map(([g, s]) => tf.mul(s, inv.get(g)! / total))) as tf.Scalar;
  }, Object.values(opt.mainNamed));

  const gradNorm = clipGradients(grads, clipNorm);
  opt.main.apply(opt.mainNamed, byOwnName(opt.mainNamed, grads));
  let auxValue = 0;
  if (opt.aux && Object.keys(opt.auxNamed).length > 0) {
    const auxResult = tf.variableGrads(() => ctx.model.auxLoss(), Object.values(opt.auxNamed));
    opt.aux.apply(opt.auxNamed, byOwnName(opt.auxNamed, auxResult.grads));
    auxValue = auxResult.value.dataSync()[0];
    tf.dispose([auxResult.value, ...Object.values(auxResult.grads)]);
  }

  const read = (t: tf.Scalar) => t.dataSync()[0];
  for (const m of modes) {
    const mse = read(kept[`pixel-mse:${m}`]);
    figures.modes![m] = { mse, psnr: -10 * Math.log10(mse) };
  }
  for (const term of spec.terms) figures.terms![termKey(term)] = read(kept[termKey(term)]);
  const result: RecipeStepFigures = { ...(figures as RecipeStepFigures), loss: read(value), bpp: read(kept.bpp), gradNorm, aux: auxValue };
  tf.dispose([value, ...Object.values(grads), ...Object.values(kept), ...conditions, ...(original ? [original] : []), ...(texts ? [texts] : [])]);
  return result;
}
