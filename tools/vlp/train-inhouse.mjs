#!/usr/bin/env node
/**
 * Trains the in-house contrastive model (@psic/vlp InhouseClip) on the
 * CIFAR-10 training split with captions from CLIP's CIFAR-10 templates,
 * holding out CIFAR10_HELD_OUT_TEMPLATES for the zero-shot figure.
 *
 *   (cd packages/vlp && npx tsup)    # the script runs the built package
 *   PSIC_TORCH_THREADS=1 nohup node tools/vlp/train-inhouse.mjs --out runs/inhouse-cifar \
 *       --steps 4500 --resume > runs/inhouse-cifar/train.log 2>&1 &
 *
 * (The shipped model: planned --steps 1500, resumed with --steps 3000 at
 * step 1050 and --steps 4500 at step 3000; a resume with a new total
 * stretches the cosine and is recorded in the sidecar's training.schedule.)
 *
 * Options: --data <cifar10-jpeg.tar> --out <dir> --steps N --batch 128
 *   --lr 2e-3 --warmup 100 --weight-decay 0.05 --token-dropout 0.1
 *   --checkpoint-every 50 --eval-every 250 --eval-images 1000 --seed 1
 *   --backend wasm --resume --max-steps-this-run N (stop early, resumable)
 *
 * Writes <out>/checkpoint.safetensors (atomic, resumable with --resume),
 * <out>/log.jsonl (one line per logged step / evaluation) and, at the end,
 * <out>/inhouse-cifar.safetensors + .json (weights + sidecar), which
 * tools/vlp/ship-inhouse.mjs copies into packages/vlp/models.
 *
 * Each step: a batch of random training images (pad-4 crop, flip), each
 * with a caption from a random training template; the images are
 * upsampled 32 -> 64 here with the model's own resampling matrices (the
 * same result as embedImages' resize, without the tape); the distinct
 * captions of the batch go through the text tower once; loss = symmetric
 * InfoNCE with same-class pairs as positives. AdamW (Adam + decoupled
 * weight decay on matrices and kernels), linear warm-up then cosine decay,
 * logit scale capped at 100 as in CLIP.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '@psic/core';
import { Adam, Rng, appendJsonl, loadCheckpoint, saveCheckpoint, ProgressBar } from '@psic/train';
import {
  CIFAR10_CLASSES,
  CIFAR10_HELD_OUT_TEMPLATES,
  ClassCaptions,
  ClipTokenizer,
  InhouseClip,
  MAX_LOGIT_SCALE,
  TokenVocabulary,
  UNKNOWN_ROW,
  augmentBatch,
  defaultInhouseConfig,
  evaluateZeroShot,
  loadCifar10,
  readPromptSet,
  resizeToSquareArray,
  saveInhouseTarget,
  splitTemplates,
  symmetricInfoNce,
  zeroShotClassifier,
} from '@psic/vlp';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const opts = parseArgs(process.argv.slice(2));

await selectBackend(opts.backend);
mkdirSync(opts.out, { recursive: true });
const logPath = join(opts.out, 'log.jsonl');
const checkpointPath = join(opts.out, 'checkpoint.safetensors');

// ---- data and captions
const t0 = Date.now();
const train = await loadCifar10(opts.data, 'train');
const test = await loadCifar10(opts.data, 'test', { perClass: Math.ceil(opts.evalImages / 10) });
log(`decoded ${train.count} training and ${test.count} test images in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
const prompts = await readPromptSet('CIFAR10');
if (prompts.classes.map((c) => c[0]).join() !== CIFAR10_CLASSES.join()) throw new Error('prompts.md CIFAR10 classes are not in CIFAR-10 label order');
const templates = splitTemplates(prompts.templates, CIFAR10_HELD_OUT_TEMPLATES);
const captions = new ClassCaptions(prompts.classes, templates.train);
const tokenizer = await ClipTokenizer.default();
const config = defaultInhouseConfig(1); // vocabSize filled in below
const L = config.text.contextLength;
const vocab = TokenVocabulary.fromTokenRows(tokenizer.tokenize(captions.allCaptions(), L), tokenizer.endTokenId, L);
config.text.vocabSize = vocab.size;
// Token dropout never hides the class name (the caption would lose its meaning) nor the start / end tokens.
const protectedRows = new Set([vocab.row(tokenizer.startTokenId), vocab.row(tokenizer.endTokenId)]);
for (const names of prompts.classes) for (const name of names) for (const id of tokenizer.encode(name)) protectedRows.add(vocab.row(id));

// ---- model, optimiser, state
const model = new InhouseClip(config, tokenizer, { vocabulary: vocab, seed: opts.seed });
const named = model.namedVariables();
const trainable = model.trainableVariables();
const nameOf = new Map(Object.entries(trainable).map(([k, v]) => [v.name, k]));
const decayed = new Set(Object.entries(trainable).filter(([k, v]) => v.rank >= 2 && k !== 'positional_embedding').map(([k]) => k));
const adam = new Adam({ learningRate: opts.lr, beta1: 0.9, beta2: 0.98, epsilon: 1e-6 });
const unusedAux = new Adam({ learningRate: 0 }); // the checkpoint format has a second optimiser slot
const rng = new Rng(opts.seed);
let step = 0;
let lastEval;
/** Each change of plan (total steps, peak learning rate) on a resume, for the sidecar. */
let schedule = [{ fromStep: 0, steps: opts.steps, lr: opts.lr, warmup: opts.warmup }];
if (opts.resume && existsSync(checkpointPath)) {
  const state = await loadCheckpoint(checkpointPath, named, adam, unusedAux);
  if (JSON.stringify(state.options.config) !== JSON.stringify(config)) throw new Error('checkpoint was trained with another config');
  step = state.step;
  rng.state = state.rngState;
  lastEval = state.meta.lastEval;
  schedule = state.meta.schedule ?? [{ fromStep: 0, steps: state.options.steps, lr: state.options.lr, warmup: state.options.warmup }];
  const last = schedule[schedule.length - 1];
  if (last.steps !== opts.steps || last.lr !== opts.lr || last.warmup !== opts.warmup) {
    // A longer plan continues the same warm-up + cosine curve, now stretched to the new total (a warm restart).
    schedule.push({ fromStep: step, steps: opts.steps, lr: opts.lr, warmup: opts.warmup });
    appendJsonl(logPath, { event: 'schedule', ...schedule[schedule.length - 1], time: new Date().toISOString() });
  }
  log(`resumed at step ${step}`);
} else {
  appendJsonl(logPath, { event: 'start', config, parameters: model.parameterCount(), options: opts, templates, time: new Date().toISOString() });
}
log(`model: ${model.parameterCount()} parameters (image ${countParams(model.visual.namedVariables(''))}), vocab ${vocab.size} rows, ${opts.steps} steps of ${opts.batch}`);

const bar = new ProgressBar({ total: opts.steps, start: step, label: 'train' });
const stopAt = Math.min(opts.steps, step + (opts.maxStepsThisRun ?? Infinity));
let window = { loss: 0, n: 0, seconds: 0 };
while (step < stopAt) {
  const started = Date.now();
  const lr = learningRate(step);
  adam.learningRate = lr;
  const { loss } = trainStep();
  step++;
  window.loss += loss;
  window.n++;
  window.seconds += (Date.now() - started) / 1000;
  if (step % opts.logEvery === 0 || step === stopAt) {
    appendJsonl(logPath, { step, loss: window.loss / window.n, lr, logitScale: model.logitScale, secondsPerStep: window.seconds / window.n, time: new Date().toISOString() });
    bar.update(step, { loss: window.loss / window.n, 's/step': window.seconds / window.n });
    window = { loss: 0, n: 0, seconds: 0 };
  }
  if (step % opts.evalEvery === 0 || step === opts.steps) {
    lastEval = await evaluate();
    appendJsonl(logPath, { step, event: 'eval', ...lastEval });
    log(`step ${step}: zero-shot top-1 ${(lastEval.heldOutTop1 * 100).toFixed(1)}% (held-out templates), ${(lastEval.trainTemplatesTop1 * 100).toFixed(1)}% (training templates) on ${lastEval.images} test images`);
  }
  if (step % opts.checkpointEvery === 0 || step === stopAt) {
    await saveCheckpoint(checkpointPath, named, adam, unusedAux, { step, rngState: rng.state, meta: { lastEval, schedule }, options: { config, ...opts } });
  }
}
bar.finish();

if (step >= opts.steps) {
  const out = join(opts.out, 'inhouse-cifar.safetensors');
  await saveInhouseTarget(model, out, {
    data: 'CIFAR-10 train split of ../shared/data/cifar10-jpeg.tar (35,000 images, 3,500 per class), pad-4 random crops and flips, upsampled 32 -> 64',
    captions: 'CLIP CIFAR10 prompts (../shared/data/clip/prompts.md): a random training template around the class name',
    classes: CIFAR10_CLASSES,
    templates: { train: templates.train, heldOut: templates.heldOut },
    training: {
      steps: step,
      batch: opts.batch,
      loss: 'symmetric InfoNCE, same-class pairs positive (UniCL)',
      optimiser: `AdamW (beta 0.9/0.98), peak lr ${opts.lr}, ${opts.warmup} warm-up steps then cosine to the planned total, weight decay ${opts.weightDecay}`,
      schedule,
      tokenDropout: opts.tokenDropout,
      seed: opts.seed,
      trainedWith: tf.getBackend(),
    },
    validation: lastEval ? { ...lastEval, note: `zero-shot top-1 on the first ${lastEval.images} CIFAR-10 test images during training` } : undefined,
  });
  log(`wrote ${out}`);
}

// ---- pieces

function trainStep() {
  const B = opts.batch;
  const indices = Array.from({ length: B }, () => rng.int(train.count));
  const batchCaptions = indices.map((i) => captions.caption(train.labels[i], rng));
  const groups = batchCaptions.map((c) => c.group);
  // Distinct captions go through the text tower once; `select` copies them back to the batch rows.
  const distinct = [...new Set(batchCaptions.map((c) => c.text))];
  const encoded = model.encodeTexts(distinct);
  dropTokens(encoded);
  const select = new Float32Array(B * distinct.length);
  batchCaptions.forEach((c, b) => (select[b * distinct.length + distinct.indexOf(c.text)] = 1));
  const size = config.image.inputSize;
  const pixels = resizeToSquareArray(augmentBatch(train, indices, rng), B, train.side, train.side, 3, size, config.image.resolution);

  const x = tf.tensor4d(pixels, [B, size, size, 3]);
  const selectT = tf.tensor2d(select, [B, distinct.length]);
  const { value, grads } = tf.variableGrads(() => {
    const images = model.forwardImages(x, true);
    const texts = tf.matMul(selectT, model.embedEncoded(encoded));
    return symmetricInfoNce(images, texts, tf.exp(model.logitScaleLog), groups);
  }, Object.values(trainable));
  const loss = value.dataSync()[0];
  if (!Number.isFinite(loss)) throw new Error(`loss became ${loss} at step ${step}`);
  const byName = {};
  for (const [engineName, g] of Object.entries(grads)) byName[nameOf.get(engineName)] = g;
  adam.apply(trainable, byName);
  tf.tidy(() => {
    const shrink = 1 - adam.learningRate * opts.weightDecay;
    for (const k of decayed) trainable[k].assign(tf.mul(trainable[k], shrink));
    model.logitScaleLog.assign(tf.minimum(model.logitScaleLog, Math.log(MAX_LOGIT_SCALE)));
  });
  tf.dispose([x, selectT, value, ...Object.values(grads)]);
  return { loss };
}

/** Replace non-protected tokens by the "unknown" row with probability tokenDropout (up to each row's end token). */
function dropTokens(encoded) {
  if (opts.tokenDropout <= 0) return;
  for (let r = 0; r < encoded.count; r++) {
    for (let t = 1; t < encoded.endPositions[r]; t++) {
      const i = r * L + t;
      if (!protectedRows.has(encoded.rows[i]) && rng.next() < opts.tokenDropout) encoded.rows[i] = UNKNOWN_ROW;
    }
  }
}

async function evaluate() {
  const heldOut = zeroShotClassifier(model, prompts.classes, templates.heldOut);
  const seen = zeroShotClassifier(model, prompts.classes, templates.train);
  const a = await evaluateZeroShot(model, test, heldOut, { batch: 250 });
  const b = await evaluateZeroShot(model, test, seen, { batch: 250 });
  tf.dispose([heldOut, seen]);
  return { heldOutTop1: a.top1, trainTemplatesTop1: b.top1, images: test.count, perClassHeldOut: a.perClass.map((v) => Math.round(v * 1000) / 1000) };
}

function learningRate(s) {
  if (s < opts.warmup) return (opts.lr * (s + 1)) / opts.warmup;
  const progress = (s - opts.warmup) / Math.max(1, opts.steps - opts.warmup);
  return opts.lr * 0.5 * (1 + Math.cos(Math.PI * Math.min(1, progress)));
}

function countParams(vars) {
  return Object.values(vars).filter((v) => v.trainable).reduce((n, v) => n + v.size, 0);
}

function log(msg) {
  process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${msg}\n`);
}

function parseArgs(argv) {
  const o = {
    data: resolve(root, '..', 'shared', 'data', 'cifar10-jpeg.tar'),
    out: resolve(root, 'runs', 'inhouse-cifar'),
    steps: 4500,
    batch: 128,
    lr: 2e-3,
    warmup: 100,
    weightDecay: 0.05,
    tokenDropout: 0.1,
    checkpointEvery: 50,
    evalEvery: 250,
    evalImages: 1000,
    logEvery: 10,
    seed: 1,
    backend: 'wasm',
    resume: false,
    maxStepsThisRun: undefined,
  };
  const numeric = new Set(['steps', 'batch', 'lr', 'warmup', 'weightDecay', 'tokenDropout', 'checkpointEvery', 'evalEvery', 'evalImages', 'logEvery', 'seed', 'maxStepsThisRun']);
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    if (!flag.startsWith('--')) throw new Error(`unexpected argument ${flag}`);
    const key = flag.slice(2).replace(/-([a-z])/g, (_, c) => c.toUpperCase());
    if (key === 'resume') {
      o.resume = true;
      continue;
    }
    if (!(key in o)) throw new Error(`unknown option ${flag}`);
    const value = argv[++i];
    if (value === undefined) throw new Error(`${flag} needs a value`);
    if (numeric.has(key)) {
      const n = Number(value);
      if (!Number.isFinite(n)) throw new Error(`${flag} must be a number`);
      o[key] = n;
    } else o[key] = key === 'data' || key === 'out' ? resolve(value) : value;
  }
  return o;
}
