/**
 * Face-attribute models (gender, age, expression) as semantic targets.
 *
 * A model gives, per face, the log-odds of "male", an age in years, the
 * log-odds of "young" (age below a threshold) and expression logits. The
 * target turns them into an embedding whose similarity with a candidate
 * label is that label's log-probability:
 *
 *   embedding = normalise([eps * log p(attribute_k), ..., 1])     (12 values)
 *   candidate "female" = one-hot on the "female" dimension
 *   logitScale * (embedding . candidate) ~= log p(female)         (logitScale = 1 / eps)
 *
 * The constant last dimension keeps the norm close to 1, so the relation holds
 * (within ~1% for confident faces) both for a plain dot product and for the
 * cosine similarity CLIP-style objectives use, and softmax(logitScale * sim)
 * over one attribute's candidates ("male", "female") reproduces the model's
 * own probabilities.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { SemanticTarget } from '@psic/core';
import { PsicError } from '@psic/entropy';
import { registerFastGradientKernels } from './gradient-kernels.js';
import { checkBox, checkImages, cropBox, type Box } from './preprocess.js';

/** Expression order used everywhere in this package (face-api's order). */
export const EXPRESSIONS = ['neutral', 'happy', 'sad', 'angry', 'fearful', 'disgusted', 'surprised'] as const;
export type Expression = (typeof EXPRESSIONS)[number];

/** Candidate labels a face target understands, in embedding order. */
export const FACE_ATTRIBUTE_LABELS = ['male', 'female', 'young', 'old', ...EXPRESSIONS] as const;
export type FaceAttributeLabel = (typeof FACE_ATTRIBUTE_LABELS)[number];

/** Other words accepted for the labels (lower case). */
const ALIASES: Record<string, FaceAttributeLabel> = {
  man: 'male', men: 'male', boy: 'male', masculine: 'male',
  woman: 'female', women: 'female', girl: 'female', feminine: 'female',
  younger: 'young', youth: 'young',
  older: 'old', elderly: 'old', aged: 'old',
  smiling: 'happy', smile: 'happy', smiles: 'happy', happiness: 'happy',
  calm: 'neutral', sadness: 'sad', anger: 'angry', fear: 'fearful', afraid: 'fearful',
  disgust: 'disgusted', surprise: 'surprised',
};

/** Default age threshold for "young", in years, for CelebA's `Young` attribute (fit measured in README.md here). */
export const DEFAULT_YOUNG_BELOW = 36;

/** A face model's raw outputs for a batch of b faces. */
export type FaceAttributeLogits = {
  /** [b] log-odds that the face is male. */
  maleLogit: tf.Tensor1D;
  /** [b] estimated age in years. */
  age: tf.Tensor1D;
  /** [b] log-odds that the age is below the threshold given to `predict`. */
  youngLogit: tf.Tensor1D;
  /** [b, 7] unnormalised log-probabilities in EXPRESSIONS order. */
  expressionLogits: tf.Tensor2D;
};

/** What a face-attribute model provides; `faces` are NHWC in [0, 1], already cropped to the face, any size. */
export interface FaceAttributeModel {
  readonly name: string;
  predict(faces: tf.Tensor4D, youngBelow: number): FaceAttributeLogits;
  dispose(): void;
}

/** The task-level answer, all differentiable. */
export type FaceAttributes = {
  /** [b] probability that the face is male. */
  gender: tf.Tensor1D;
  /** [b] age in years. */
  age: tf.Tensor1D;
  /** [b] probability that the face is younger than the target's `youngBelow`. */
  young: tf.Tensor1D;
  /** [b, 7] expression probabilities in EXPRESSIONS order. */
  expression: tf.Tensor2D;
};

export interface FaceTargetOptions {
  /** Where the face is in the images given to the target (fractions); default: the whole image. */
  faceBox?: Box;
  /** "young" means an estimated age below this many years; default DEFAULT_YOUNG_BELOW. */
  youngBelow?: number;
}

/** Scale of the log-probabilities in the embedding; logitScale is its inverse. */
const EMBED_EPS = 0.01;

/** The label a candidate text names: a label or alias, alone or as the one attribute word in a prompt. */
export function faceLabelOf(item: string): FaceAttributeLabel {
  const words = item.toLowerCase().match(/[a-z]+/g) ?? [];
  const found = new Set<FaceAttributeLabel>();
  for (const w of words) {
    if ((FACE_ATTRIBUTE_LABELS as readonly string[]).includes(w)) found.add(w as FaceAttributeLabel);
    else if (w in ALIASES) found.add(ALIASES[w]);
  }
  if (found.size !== 1) {
    const why = found.size === 0 ? 'names no face attribute' : `names several (${[...found].join(', ')})`;
    throw new PsicError('UNKNOWN_CANDIDATE', `candidate ${JSON.stringify(item)} ${why}; use one of ${FACE_ATTRIBUTE_LABELS.join(', ')}`);
  }
  return [...found][0];
}

/** PsicError 'BAD_OPTION' for a face box outside the image or an impossible age threshold (checked before loading a model). */
export function checkFaceTargetOptions(name: string, options: FaceTargetOptions): void {
  const { youngBelow, faceBox } = options;
  if (youngBelow !== undefined && !(youngBelow > 0 && youngBelow < 100)) throw new PsicError('BAD_OPTION', `${name}: youngBelow must be an age in (0, 100), got ${youngBelow}`);
  if (faceBox) checkBox(faceBox, name);
}

/** A FaceAttributeModel wrapped as a SemanticTarget plus the plain `faceAttributes` task API. */
export class FaceAttributeTarget implements SemanticTarget {
  readonly logitScale = 1 / EMBED_EPS;
  readonly youngBelow: number;
  private readonly faceBox?: Box;

  constructor(readonly name: string, readonly model: FaceAttributeModel, options: FaceTargetOptions = {}) {
    checkFaceTargetOptions(name, options);
    this.youngBelow = options.youngBelow ?? DEFAULT_YOUNG_BELOW;
    this.faceBox = options.faceBox;
  }

  /** Raw model outputs for images x (NHWC, [0, 1]); the face box is applied first. */
  logits(x: tf.Tensor4D): FaceAttributeLogits {
    checkImages(x, this.name);
    registerFastGradientKernels(); // cheap when already in place; a later selectBackend may have replaced it
    return tf.tidy(() => this.model.predict(this.faceBox ? cropBox(x, this.faceBox) : x, this.youngBelow));
  }

  /** P(male), age, P(young), expression probabilities of each image. Differentiable. */
  faceAttributes(x: tf.Tensor4D): FaceAttributes {
    return tf.tidy(() => {
      const l = this.logits(x);
      return {
        gender: tf.sigmoid(l.maleLogit),
        age: l.age,
        young: tf.sigmoid(l.youngLogit),
        expression: tf.softmax(l.expressionLogits),
      };
    });
  }

  /** [b, 11] log-probabilities in FACE_ATTRIBUTE_LABELS order. */
  logProbabilities(x: tf.Tensor4D): tf.Tensor2D {
    return tf.tidy(() => {
      const l = this.logits(x);
      // log sigmoid(z) = -softplus(-z). Not tf.logSigmoid: its custom gradient reads its input after an enclosing tidy freed it.
      const logSigmoidPair = (z: tf.Tensor1D) => tf.neg(tf.stack([tf.softplus(tf.neg(z)), tf.softplus(z)], 1));
      return tf.concat([logSigmoidPair(l.maleLogit), logSigmoidPair(l.youngLogit), tf.logSoftmax(l.expressionLogits)], 1) as tf.Tensor2D;
    });
  }

  /** [b, 12]: see the file comment. Differentiable. */
  embedImages(x: tf.Tensor4D): tf.Tensor2D {
    return tf.tidy(() => {
      const scaled = tf.mul(this.logProbabilities(x), EMBED_EPS);
      const e = tf.concat([scaled, tf.onesLike(tf.slice(scaled, [0, 0], [-1, 1]))], 1);
      return tf.div(e, tf.norm(e, 'euclidean', 1, true)) as tf.Tensor2D;
    });
  }

  /** One-hot rows selecting each candidate's dimension; PsicError 'UNKNOWN_CANDIDATE' for a text naming no (or several) attributes. */
  embedCandidates(items: string[]): tf.Tensor2D {
    const dims = FACE_ATTRIBUTE_LABELS.length + 1;
    const rows = new Float32Array(items.length * dims);
    items.forEach((item, i) => {
      rows[i * dims + FACE_ATTRIBUTE_LABELS.indexOf(faceLabelOf(item))] = 1;
    });
    return tf.tensor2d(rows, [items.length, dims]);
  }

  dispose(): void {
    this.model.dispose();
  }
}
