/**
 * Semantic metrics of PSIC / UG-ICM (DESIGN.md "Metrics"): zero-shot top-1,
 * retrieval R@1 in both directions, attribute accuracy, and the attack
 * success rate (ASR). Pure functions on plain numbers, so they can be checked
 * by hand and used with any model's scores.
 *
 * Conventions shared by every function here:
 * - A similarity matrix is given as rows (`sim[i][j]`), e.g. image i vs text j.
 * - A "hit" needs the right candidate's score to be strictly above every
 *   other candidate's: a tie with a wrong candidate is a miss, so a collapsed
 *   model whose scores are all equal scores 0 rather than "whatever index
 *   comes first". A NaN score on the right candidate is a miss; NaN scores on
 *   wrong candidates are ignored.
 * - A rate over zero samples is NaN (undefined), never 0 or 1.
 * - Mismatched lengths, ragged rows and out-of-range indices are programming
 *   errors and throw RangeError (like `mse`).
 */

export type ScoreMatrix = ArrayLike<ArrayLike<number>>;

/** Whether `scores[right]` is strictly greater than every other non-NaN score. */
function isStrictTop(scores: ArrayLike<number>, right: number): boolean {
  const target = scores[right];
  if (Number.isNaN(target)) return false;
  for (let j = 0; j < scores.length; j++) {
    if (j !== right && scores[j] >= target) return false;
  }
  return true;
}

/** Share of `true` values; NaN for an empty list. */
export function hitRate(hits: ArrayLike<boolean>): number {
  if (hits.length === 0) return NaN;
  let n = 0;
  for (let i = 0; i < hits.length; i++) if (hits[i]) n++;
  return n / hits.length;
}

function checkIndex(value: number, size: number, what: string): void {
  if (!Number.isInteger(value) || value < 0 || value >= size) {
    throw new RangeError(`${what} ${value} is not an index in [0, ${size})`);
  }
}

/** Width of a rectangular matrix; RangeError when rows differ in length. */
function columns(sim: ScoreMatrix, what: string): number {
  const width = sim.length > 0 ? sim[0].length : 0;
  for (let i = 0; i < sim.length; i++) {
    if (sim[i].length !== width) throw new RangeError(`${what}: row ${i} has ${sim[i].length} columns, row 0 has ${width}`);
  }
  return width;
}

/** Per sample: is the true class (labels[i]) the strict top score of row i of `scores` (samples x classes)? */
export function topOneHits(scores: ScoreMatrix, labels: ArrayLike<number>): boolean[] {
  if (scores.length !== labels.length) throw new RangeError(`topOneHits: ${scores.length} score rows but ${labels.length} labels`);
  const classes = columns(scores, 'topOneHits');
  const hits: boolean[] = [];
  for (let i = 0; i < scores.length; i++) {
    checkIndex(labels[i], classes, `topOneHits: label of sample ${i}`);
    hits.push(isStrictTop(scores[i], labels[i]));
  }
  return hits;
}

/** Zero-shot top-1 accuracy: share of samples whose true class scores strictly highest. NaN with no samples. */
export function zeroShotTop1(scores: ScoreMatrix, labels: ArrayLike<number>): number {
  return hitRate(topOneHits(scores, labels));
}

/**
 * For each text j, the image it describes. Omitted: the matrix must be square
 * and text j describes image j (matching pairs on the diagonal).
 */
function pairing(sim: ScoreMatrix, texts: number, imageOfText: ArrayLike<number> | undefined, what: string): ArrayLike<number> {
  if (imageOfText === undefined) {
    if (sim.length !== texts) throw new RangeError(`${what}: a ${sim.length}x${texts} matrix needs imageOfText (pairs are on the diagonal only when square)`);
    return Array.from({ length: texts }, (_, j) => j);
  }
  if (imageOfText.length !== texts) throw new RangeError(`${what}: ${texts} texts but ${imageOfText.length} imageOfText entries`);
  for (let j = 0; j < texts; j++) checkIndex(imageOfText[j], sim.length, `${what}: imageOfText[${j}]`);
  return imageOfText;
}

/**
 * Image -> text retrieval, per image: does the strictly best-scoring text
 * describe this image? `sim` is images x texts. With several captions per
 * image, any of the image's own captions on top is a hit; a tie between two
 * of its own captions is still a hit as long as no other image's caption
 * reaches that score.
 */
export function imageToTextHits(sim: ScoreMatrix, imageOfText?: ArrayLike<number>): boolean[] {
  const texts = columns(sim, 'imageToTextHits');
  const owner = pairing(sim, texts, imageOfText, 'imageToTextHits');
  const hits: boolean[] = [];
  for (let i = 0; i < sim.length; i++) {
    let bestOwn = NaN;
    let bestOther = -Infinity;
    for (let j = 0; j < texts; j++) {
      const s = sim[i][j];
      if (Number.isNaN(s)) continue;
      if (owner[j] === i) bestOwn = Number.isNaN(bestOwn) ? s : Math.max(bestOwn, s);
      else bestOther = Math.max(bestOther, s);
    }
    hits.push(!Number.isNaN(bestOwn) && bestOwn > bestOther);
  }
  return hits;
}

/** Text -> image retrieval, per text: is its own image the strict top of its column of `sim` (images x texts)? */
export function textToImageHits(sim: ScoreMatrix, imageOfText?: ArrayLike<number>): boolean[] {
  const texts = columns(sim, 'textToImageHits');
  const owner = pairing(sim, texts, imageOfText, 'textToImageHits');
  const hits: boolean[] = [];
  const column = new Float64Array(sim.length);
  for (let j = 0; j < texts; j++) {
    for (let i = 0; i < sim.length; i++) column[i] = sim[i][j];
    hits.push(isStrictTop(column, owner[j]));
  }
  return hits;
}

/** Retrieval recall at 1 in both directions, from one images x texts similarity matrix. NaN where there is nothing to retrieve. */
export function recallAt1(sim: ScoreMatrix, imageOfText?: ArrayLike<number>): { imageToText: number; textToImage: number } {
  return {
    imageToText: hitRate(imageToTextHits(sim, imageOfText)),
    textToImage: hitRate(textToImageHits(sim, imageOfText)),
  };
}

/**
 * Per sample: does the predicted attribute match the truth? A score above
 * `threshold` (default 0.5, for probabilities) predicts "present"; truth is
 * a boolean or 0/1. A NaN score is a miss.
 */
export function attributeHits(scores: ArrayLike<number>, truth: ArrayLike<boolean | number>, threshold = 0.5): boolean[] {
  if (scores.length !== truth.length) throw new RangeError(`attributeHits: ${scores.length} scores but ${truth.length} labels`);
  const hits: boolean[] = [];
  for (let i = 0; i < scores.length; i++) {
    const t = truth[i];
    if (t !== true && t !== false && t !== 0 && t !== 1) throw new RangeError(`attributeHits: label ${i} is ${String(t)}, expected a boolean or 0/1`);
    const s = scores[i];
    hits.push(!Number.isNaN(s) && s > threshold === Boolean(t));
  }
  return hits;
}

/** Share of samples whose thresholded score matches the binary attribute; NaN with no samples. */
export function attributeAccuracy(scores: ArrayLike<number>, truth: ArrayLike<boolean | number>, threshold = 0.5): number {
  return hitRate(attributeHits(scores, truth, threshold));
}

export interface AttackSuccess {
  /** Samples handled correctly on the reference decode: the ones an attack can succeed on. */
  eligible: number;
  /** Of those, the ones handled wrongly on the protected decode. */
  fooled: number;
  /** fooled / eligible; NaN when nothing is eligible. */
  rate: number;
}

/**
 * The attack success rate exactly as PSIC defines it: among the samples the
 * reference decode (plain backbone, or the full mode) handles correctly, the
 * share the protected decode handles wrongly. Samples the reference already
 * gets wrong do not count either way. With no sample correct on the reference
 * the rate is NaN: there is nothing an attack could have changed.
 */
export function attackSuccess(referenceCorrect: ArrayLike<boolean>, protectedCorrect: ArrayLike<boolean>): AttackSuccess {
  if (referenceCorrect.length !== protectedCorrect.length) {
    throw new RangeError(`attackSuccess: ${referenceCorrect.length} reference results but ${protectedCorrect.length} protected results`);
  }
  let eligible = 0;
  let fooled = 0;
  for (let i = 0; i < referenceCorrect.length; i++) {
    if (!referenceCorrect[i]) continue;
    eligible++;
    if (!protectedCorrect[i]) fooled++;
  }
  return { eligible, fooled, rate: eligible === 0 ? NaN : fooled / eligible };
}

/** `attackSuccess(...).rate`: the ASR as a number in [0, 1], NaN when no sample is correct on the reference. */
export function attackSuccessRate(referenceCorrect: ArrayLike<boolean>, protectedCorrect: ArrayLike<boolean>): number {
  return attackSuccess(referenceCorrect, protectedCorrect).rate;
}
