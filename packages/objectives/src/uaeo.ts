/**
 * UAEO — uncertainty-aware encryption-oriented objective (PSIC, ICML 2025,
 * section 3.3, eq. 5-9), the privacy loss of the protected decode.
 *
 * Both readings work on a batch of B images with their B captions (caption i
 * belongs to image i). The evidence and the choice of targets come from the
 * ORIGINAL images' embeddings (what the vision-language model believes about
 * the real picture); the loss moves the PROTECTED decode's embeddings.
 *
 * `variant: 'reference'` (default; the authors' code):
 *   s_ij  = cos(orig_i, text_j)
 *   e_ij  = exp(tanh(s_ij) / τ)                 τ = 0.1
 *   e_b   = e + eᵀ                              bidirectional evidence
 *   α     = e_b + 1                             Dirichlet parameters
 *   b_ij  = e_b_ij / Σ_j α_ij                   belief (the paper's "u")
 *   confident i: argmax_j b_ij is i's own caption; its loss pushes the
 *     protected embedding away from the caption:  L_conf = mean_i cos(prot_i, text_i)
 *   uncertain i: InfoNCE (logits = logitScale · cos) of the protected image
 *     towards its least-believed caption n_i = argmin_j b_ij (L_i2t), and of
 *     caption i towards its least-believed image under bᵀ's rows (L_t2i)
 *   L = 10 · L_conf + 0.5 · (L_i2t + L_t2i)
 *
 * `variant: 'paper'` (eq. 5-9 as printed):
 *   e_ij = exp(tanh(s_ij / τ)), same e_b and b, n_i = argmin_j b_ij for
 *   EVERY i, L = cross-entropy of cos(prot_i, text_·) / τ towards n_i (image
 *   to text only, mean over the batch).
 *
 * "Own caption" is row i's diagonal unless `positives[i][j]` says that text
 * j also describes image i (several images of one class in a batch). The
 * least-believed target is taken among the OTHER captions / images (see
 * `ownTargets`).
 */
import * as tf from '@tensorflow/tfjs-core';
import { cosineMatrix, cosineRows } from './similarity.js';

export type UaeoVariant = 'reference' | 'paper';

export interface UaeoInputs {
  /** embeddings of the original images [B, D] (no gradient is taken through them) */
  originalImages: tf.Tensor2D;
  /** embeddings of the protected decodes [B, D] (differentiable) */
  protectedImages: tf.Tensor2D;
  /** caption embeddings [B, D]; row i is image i's caption */
  texts: tf.Tensor2D;
  /** the target model's logit scale (CLIP: 1 / 0.07) */
  logitScale: number;
  /** positives[i][j]: text j is a caption of image i (default: i === j) */
  positives?: boolean[][];
}

export interface UaeoOptions {
  variant?: UaeoVariant;
  /** evidence temperature τ (default 0.1) */
  tau?: number;
  /** weight of the confident term (default 10) */
  confidentWeight?: number;
  /** weight of the two uncertain InfoNCE terms (default 0.5 each) */
  uncertainWeight?: number;
  /**
   * Let a least-believed target be the sample's own caption / image (the
   * formula taken literally). Default false: own captions are skipped, since
   * InfoNCE towards one would restore the semantics the loss removes.
   */
  ownTargets?: boolean;
}

export interface UaeoResult {
  loss: tf.Scalar;
  /** mean cos(prot_i, own caption) over confident pairs (0 when none) */
  confident: tf.Scalar;
  /** InfoNCE image -> least-believed text over uncertain images (0 when none) */
  i2t: tf.Scalar;
  /** InfoNCE text -> least-believed image over uncertain texts (0 when none; 'paper' has none) */
  t2i: tf.Scalar;
  /** per image: its own caption is the most believed */
  confidentImages: boolean[];
  /** per text: its own image is the most believed */
  confidentTexts: boolean[];
  /** per image: the least-believed caption */
  textTargets: number[];
  /** per text: the least-believed image */
  imageTargets: number[];
}

/** Belief matrix b (B×B, rows sum to < 1) from the original embeddings, as plain numbers. */
export function uaeoBelief(originalImages: tf.Tensor2D, texts: tf.Tensor2D, opts: { variant?: UaeoVariant; tau?: number } = {}): number[][] {
  const tau = opts.tau ?? 0.1;
  const variant = opts.variant ?? 'reference';
  const s = toRows(tf.tidy(() => cosineMatrix(originalImages, texts)));
  const e = s.map((row) => row.map((v) => (variant === 'reference' ? Math.exp(Math.tanh(v) / tau) : Math.exp(Math.tanh(v / tau)))));
  return e.map((row, i) => {
    const eb = row.map((v, j) => v + e[j][i]);
    const strength = eb.reduce((acc, v) => acc + v + 1, 0);
    return eb.map((v) => v / strength);
  });
}

export function uaeo(inputs: UaeoInputs, opts: UaeoOptions = {}): UaeoResult {
  const { originalImages, protectedImages, texts, logitScale } = inputs;
  const n = originalImages.shape[0];
  if (protectedImages.shape[0] !== n || texts.shape[0] !== n) {
    throw new RangeError(`UAEO needs B images, B protected images and B captions; got ${n}, ${protectedImages.shape[0]}, ${texts.shape[0]}`);
  }
  const variant = opts.variant ?? 'reference';
  const tau = opts.tau ?? 0.1;
  const positives = inputs.positives ?? Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => i === j));

  const belief = uaeoBelief(originalImages, texts, { variant, tau });
  const beliefT = belief.map((_, j) => belief.map((row) => row[j])); // text j's row: its belief over images
  const confidentImages = belief.map((row, i) => positives[i][argmax(row)]);
  const confidentTexts = beliefT.map((row, j) => positives[argmax(row)][j]);
  // a target that is itself a caption of the image would pull the protected decode TOWARDS its meaning
  const own = (i: number, j: number) => positives[i][j] && !opts.ownTargets;
  const textTargets = belief.map((row, i) => argmin(row.map((v, j) => (own(i, j) ? Infinity : v))));
  const imageTargets = beliefT.map((row, j) => argmin(row.map((v, i) => (own(i, j) ? Infinity : v))));

  return tf.tidy(() => {
    const cos = cosineMatrix(protectedImages, texts); // [image, text]
    if (variant === 'paper') {
      const i2t = crossEntropyRows(tf.div(cos, tau) as tf.Tensor2D, textTargets, Array(n).fill(true));
      const zero = tf.scalar(0);
      return { loss: i2t.clone(), confident: zero, i2t, t2i: zero.clone(), confidentImages, confidentTexts, textTargets, imageTargets };
    }
    const diag = tf.tensor2d(positives.map((row, i) => row.map((p, j) => (confidentImages[i] && i === j ? 1 : 0))));
    const nConfident = confidentImages.filter(Boolean).length;
    const confident = nConfident > 0 ? (tf.div(tf.sum(tf.mul(cos, diag)), nConfident) as tf.Scalar) : tf.scalar(0);
    const logits = tf.mul(cos, logitScale) as tf.Tensor2D;
    const i2t = crossEntropyRows(logits, textTargets, confidentImages.map((c) => !c));
    const t2i = crossEntropyRows(tf.transpose(logits) as tf.Tensor2D, imageTargets, confidentTexts.map((c) => !c));
    const cw = opts.confidentWeight ?? 10;
    const uw = opts.uncertainWeight ?? 0.5;
    const loss = tf.add(tf.mul(confident, cw), tf.mul(tf.add(i2t, t2i), uw)) as tf.Scalar;
    return { loss, confident, i2t, t2i, confidentImages, confidentTexts, textTargets, imageTargets };
  });
}

/** Mean over the selected rows of −log softmax(logits)[row, target[row]]; 0 when no row is selected. */
function crossEntropyRows(logits: tf.Tensor2D, targets: number[], selected: boolean[]): tf.Scalar {
  const count = selected.filter(Boolean).length;
  if (count === 0) return tf.scalar(0);
  const [rows, cols] = logits.shape;
  const mask = tf.tensor2d(Array.from({ length: rows }, (_, i) => Array.from({ length: cols }, (_, j) => (selected[i] && targets[i] === j ? 1 : 0))));
  return tf.div(tf.neg(tf.sum(tf.mul(tf.logSoftmax(logits, 1), mask))), count) as tf.Scalar;
}

/**
 * The naive attack (ablation): minimise the protected decode's cosine
 * similarity with its own caption, mean over the batch.
 */
export function naiveAttack(protectedImages: tf.Tensor2D, texts: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => tf.mean(cosineRows(protectedImages, texts)) as tf.Scalar);
}

function toRows(t: tf.Tensor2D): number[][] {
  const rows = t.arraySync();
  t.dispose();
  return rows;
}

function argmax(row: number[]): number {
  let best = 0;
  for (let j = 1; j < row.length; j++) if (row[j] > row[best]) best = j;
  return best;
}

function argmin(row: number[]): number {
  let best = 0;
  for (let j = 1; j < row.length; j++) if (row[j] < row[best]) best = j;
  return best;
}
