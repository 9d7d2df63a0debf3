/**
 * Training a conditional model by a recipe, on the shared loop (progress bar,
 * JSONL log, atomic checkpoints with both Adam states, resume, validation,
 * SIGINT save). Stages switch by step count: at a stage's first step the
 * optimizers restart (new learning rate, other trainable groups), so a
 * checkpoint inside a stage always holds that stage's moments.
 */
import * as tf from '@tensorflow/tfjs-core';
import { padReplicate, paddedSize, type RgbImage, type SemanticTarget } from '@psic/core';
import { PsicError } from '@psic/entropy';
import { cosineRows, type UaeoOptions } from '@psic/objectives';
import { Adam } from './adam.js';
import type { PairDataset } from './pairs.js';
import { recipeStep, type ConditionalCodec, type RecipeContext, type RecipeOptimizers } from './recipe-step.js';
import { stagePlan, validateRecipe, type HyperParameter, type Recipe, type StagePlanEntry } from './recipes.js';
import { runTrainingLoop } from './trainer.js';

export interface RecipeTrainOptions {
  data: PairDataset;
  outDir: string;
  /** total steps over all stages */
  steps: number;
  /** explicit steps per stage (instead of the recipe's shares) */
  stageSteps?: number[];
  lambda: number;
  lambdaClip?: number;
  lambdaInstance?: number;
  batchSize: number;
  crop: number;
  /** the 'base' learning rate */
  learningRate: number;
  auxLearningRate: number;
  checkpointEvery: number;
  validateEvery: number;
  /** validation images (already decoded and cropped) */
  validation?: RgbImage[];
  seed: number;
  resume: boolean;
  clipNorm: number;
  /** the owner's key for the keyed mode (recipes with one) */
  key?: string | Uint8Array;
  target?: SemanticTarget;
  uaeoOptions?: UaeoOptions;
  meta: Record<string, unknown>;
  log?: (line: string) => void;
}

export interface RecipeValidation {
  bpp: number;
  images: number;
  /** per mode: PSNR against the original, and the target's cosine between decode and original */
  modes: Record<string, { psnr: number; mse: number; semanticCos?: number }>;
  /** PSNR of a random wrong key's decode against the default decode (high = a wrong key decodes like no key) */
  wrongKeyVsDefaultPsnr?: number;
}

export interface RecipeTrainResult {
  step: number;
  stopped: boolean;
  lastValidation?: RecipeValidation;
  /** last step's figures per stage (what the sidecar records) */
  stageFigures: Record<string, Record<string, number>>;
}

export async function trainRecipe(model: ConditionalCodec, recipe: Recipe, opts: RecipeTrainOptions): Promise<RecipeTrainResult> {
  validateRecipe(recipe);
  const plan = stagePlan(recipe, opts.steps, opts.stageSteps);
  const total = plan[plan.length - 1].end;
  const ctx = makeContext(model, recipe, opts);
  const named = model.namedVariables();
  const optimizers = { main: new Adam({ learningRate: opts.learningRate }), aux: new Adam({ learningRate: opts.auxLearningRate }) };
  let lastValidation: RecipeValidation | undefined;
  let stageFigures: Record<string, Record<string, number>> = {};
  let current: { entry: StagePlanEntry; opt: RecipeOptimizers } | undefined;

  const enterStage = (entry: StagePlanEntry, step: number, log: (line: string) => void) => {
    const { stage } = entry;
    if (step === entry.start && entry.index > 0) {
      // a new stage starts its optimizers afresh (the reference builds a new optimizer per stage)
      optimizers.main.dispose();
      optimizers.aux.dispose();
      optimizers.main = new Adam({ learningRate: opts.learningRate });
      optimizers.aux = new Adam({ learningRate: opts.auxLearningRate });
    }
    optimizers.main.learningRate = stage.learningRate === 'base' ? opts.learningRate : stage.learningRate;
    const trainable = new Set(stage.trainable.flatMap((g) => model.variables(g)).map((v) => v.name));
    const auxNames = new Set(model.auxVariables().map((v) => v.name));
    const pick = (keep: (v: tf.Variable) => boolean) => Object.fromEntries(Object.entries(named).filter(([, v]) => keep(v)));
    current = {
      entry,
      opt: {
        main: optimizers.main,
        aux: stage.auxiliary ? optimizers.aux : undefined,
        mainNamed: pick((v) => trainable.has(v.name) && !auxNames.has(v.name)),
        auxNamed: stage.auxiliary ? pick((v) => auxNames.has(v.name)) : {},
      },
    };
    log(`\nstage ${entry.index + 1}/${plan.length} "${stage.name}" (steps ${entry.start + 1}-${entry.end}): trains ${stage.trainable.join(', ')}, lr ${optimizers.main.learningRate}`);
  };

  const result = await runTrainingLoop(
    {
      named,
      optimizers,
      restore(state) {
        const r = state.recipe as { lastValidation?: RecipeValidation; stageFigures?: Record<string, Record<string, number>> } | undefined;
        lastValidation = r?.lastValidation;
        stageFigures = r?.stageFigures ?? {};
      },
      snapshot: () => ({ recipe: { name: recipe.name, lastValidation, stageFigures } }),
      async prepare(log) {
        log(`${opts.data.size} image-text pairs, ${opts.validation?.length ?? 0} validation images; recipe ${recipe.name}: ${plan.map((p) => `${p.stage.name} ${p.end - p.start} steps`).join(', ')}`);
      },
      beforeStep(step, log) {
        const entry = plan.find((p) => step >= p.start && step < p.end)!;
        if (!current || current.entry !== entry || step === entry.start) enterStage(entry, step, log);
      },
      step(rng, step) {
        const { entry, opt } = current!;
        const spec = entry.stage.alternation[(step - entry.start) % entry.stage.alternation.length];
        const batch = opts.data.sampleBatch(opts.batchSize, opts.crop, rng);
        const x = tf.tensor4d(batch.images, [opts.batchSize, opts.crop, opts.crop, 3]);
        const f = recipeStep(ctx, spec, { x, captions: batch.captions, labels: batch.labels }, rng, opt, opts.clipNorm);
        x.dispose();
        const record: Record<string, number> = { loss: f.loss, bpp: f.bpp, stage: entry.index + 1, aux: f.aux, gradNorm: f.gradNorm };
        for (const [m, v] of Object.entries(f.modes)) record[`psnr:${m}`] = v.psnr;
        for (const [k, v] of Object.entries(f.terms)) if (!k.startsWith('rate')) record[k] = v;
        for (const [g, v] of Object.entries(f.weights ?? {})) record[`weight:${g}`] = v;
        if (f.confidentShare !== undefined) record.confident = f.confidentShare;
        stageFigures[entry.stage.name] = { step: step + 1, ...record };
        const bar: Record<string, number> = { loss: f.loss, bpp: f.bpp };
        for (const [m, v] of Object.entries(f.modes)) bar[m] = v.psnr;
        return { record, bar };
      },
      async validate(step, log) {
        if (!opts.validation || opts.validation.length === 0) return undefined;
        lastValidation = validateRecipeModel(ctx, opts.validation);
        const modes = Object.entries(lastValidation.modes).map(([m, v]) => `${m} ${v.psnr.toFixed(2)} dB${v.semanticCos === undefined ? '' : ` (cos ${v.semanticCos.toFixed(3)})`}`);
        const wrong = lastValidation.wrongKeyVsDefaultPsnr === undefined ? '' : `  wrong key vs default ${lastValidation.wrongKeyVsDefaultPsnr.toFixed(1)} dB`;
        log(`\nstep ${step} validation: bpp ${lastValidation.bpp.toFixed(4)}  ${modes.join('  ')}${wrong}`);
        return { ...lastValidation };
      },
      endRecord: () => ({ lastValidation }),
    },
    {
      outDir: opts.outDir,
      steps: total,
      seed: opts.seed,
      resume: opts.resume,
      checkpointEvery: opts.checkpointEvery,
      validateEvery: opts.validateEvery,
      meta: opts.meta,
      log: opts.log,
      label: recipe.name,
      startOptions: { ...summarise(opts), recipe: recipe.name, stages: plan.map((p) => ({ name: p.stage.name, start: p.start, end: p.end })) },
    },
  );
  optimizers.main.dispose();
  optimizers.aux.dispose();
  return { step: result.step, stopped: result.stopped, lastValidation, stageFigures };
}

function makeContext(model: ConditionalCodec, recipe: Recipe, opts: RecipeTrainOptions): RecipeContext {
  const modeNames = new Set(model.modes.map((m) => m.name));
  for (const m of recipe.modes) if (!modeNames.has(m.name)) throw new PsicError('USAGE', `recipe ${recipe.name} trains mode "${m.name}", which the model does not have (its modes: ${[...modeNames].join(', ')})`);
  const betas = new Map<string, Float32Array>();
  for (const m of model.modes) {
    if (m.keyed) {
      if (opts.key === undefined) throw new PsicError('USAGE', `recipe ${recipe.name} needs the owner's key (mode "${m.name}")`);
      betas.set(m.name, model.conditionVector({ mode: m.name, key: opts.key }));
    } else {
      betas.set(m.name, model.conditionVector({ mode: m.name }));
    }
  }
  const hyper: Record<HyperParameter, number> = {
    lambda: opts.lambda,
    lambdaClip: opts.lambdaClip ?? recipe.defaults.lambdaClip,
    lambdaInstance: opts.lambdaInstance ?? recipe.defaults.lambdaInstance,
  };
  const hasKeyed = model.modes.some((m) => m.keyed);
  return {
    model,
    target: opts.target,
    hyper,
    betas,
    defaultMode: model.modes.find((m) => m.default)!.name,
    wrongKeyShare: hasKeyed ? recipe.wrongKeyShare : 0,
    textCache: new Map(),
    uaeoOptions: opts.uaeoOptions,
  };
}

/**
 * Each validation image through the evaluation forward (rounded latents)
 * under every mode: bpp (estimated), PSNR per mode, the target's cosine
 * between each decode and the original, and how close a random wrong key's
 * decode comes to the default one.
 */
export function validateRecipeModel(ctx: RecipeContext, images: RgbImage[]): RecipeValidation {
  const modes = [...ctx.betas.keys()];
  const dim = ctx.model.conditionDim;
  const withWrong = ctx.wrongKeyShare > 0;
  let bits = 0;
  let pixels = 0;
  const sums = new Map(modes.map((m) => [m, { psnr: 0, mse: 0, cos: 0 }]));
  let wrongPsnr = 0;
  images.forEach((img, index) => {
    const ph = paddedSize(img.height);
    const pw = paddedSize(img.width);
    tf.tidy(() => {
      const x = tf.tensor4d(padReplicate(img.data, img.height, img.width, 3, ph, pw), [1, ph, pw, 3]);
      const conditions = modes.map((m) => tf.tensor2d(ctx.betas.get(m)!, [1, dim]));
      // a fixed pseudo-random wrong key per image, so validations are comparable over the run
      if (withWrong) conditions.push(tf.randomUniform([1, dim], -1, 1, 'float32', 1000 + index) as tf.Tensor2D);
      const out = ctx.model.forwardModes(x, { training: false, conditions });
      const crop = (t: tf.Tensor4D) => tf.clipByValue(tf.slice(t, [0, 0, 0, 0], [1, img.height, img.width, 3]), 0, 1) as tf.Tensor4D;
      const xTrue = tf.slice(x, [0, 0, 0, 0], [1, img.height, img.width, 3]) as tf.Tensor4D;
      bits += tf.addN(out.likelihoods.map((p) => tf.sum(tf.log(p)))).dataSync()[0] / -Math.LN2;
      const original = ctx.target ? ctx.target.embedImages(xTrue) : undefined;
      modes.forEach((m, i) => {
        const decoded = crop(out.xHats[i]);
        const mse = tf.mean(tf.squaredDifference(xTrue, decoded)).dataSync()[0];
        const s = sums.get(m)!;
        s.mse += mse;
        s.psnr += -10 * Math.log10(mse);
        if (original) s.cos += cosineRows(original, ctx.target!.embedImages(decoded)).dataSync()[0];
      });
      if (withWrong) {
        const reference = crop(out.xHats[modes.indexOf(ctx.defaultMode)]);
        wrongPsnr += -10 * Math.log10(Math.max(tf.mean(tf.squaredDifference(reference, crop(out.xHats[modes.length]))).dataSync()[0], 1e-10));
      }
    });
    pixels += img.height * img.width;
  });
  const n = images.length;
  return {
    bpp: bits / pixels,
    images: n,
    modes: Object.fromEntries(modes.map((m) => {
      const s = sums.get(m)!;
      return [m, { psnr: s.psnr / n, mse: s.mse / n, ...(ctx.target ? { semanticCos: s.cos / n } : {}) }];
    })),
    ...(withWrong ? { wrongKeyVsDefaultPsnr: wrongPsnr / n } : {}),
  };
}

function summarise(opts: RecipeTrainOptions): Record<string, unknown> {
  const { data: _d, validation, target, key: _k, log: _l, meta: _m, ...rest } = opts;
  return { ...rest, validationImages: validation?.length ?? 0, target: target?.name };
}

