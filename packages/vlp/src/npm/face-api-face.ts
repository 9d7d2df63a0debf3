/**
 * Face attributes from @vladmandic/face-api's `ageGenderNet` and
 * `faceExpressionNet` weight files (face-api-nets.ts has the networks).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { FaceAttributeLogits, FaceAttributeModel } from './face-attributes.js';
import { FACE_API_INPUT_SIZE, FaceApiAgeGenderNet, FaceApiExpressionNet } from './face-api-nets.js';
import { loadWeightManifest, packageFile } from './package-files.js';
import { resizeSquare } from './preprocess.js';

export const FACE_API_PACKAGE = '@vladmandic/face-api';

/**
 * face-api predicts age as a number; "young" is a soft threshold on it:
 * log-odds (youngBelow - age) / AGE_SOFTNESS, i.e. P(young) moves from 0.27
 * to 0.73 over +-4 years around the threshold.
 */
const AGE_SOFTNESS = 4;

export class FaceApiFaceModel implements FaceAttributeModel {
  readonly name = 'face-api';

  constructor(readonly ageGender: FaceApiAgeGenderNet, readonly expression: FaceApiExpressionNet) {}

  static async load(): Promise<FaceApiFaceModel> {
    const [ageGender, expression] = await Promise.all([
      loadWeightManifest(packageFile(FACE_API_PACKAGE, 'model/age_gender_model-weights_manifest.json')),
      loadWeightManifest(packageFile(FACE_API_PACKAGE, 'model/face_expression_model-weights_manifest.json')),
    ]);
    return new FaceApiFaceModel(new FaceApiAgeGenderNet(ageGender), new FaceApiExpressionNet(expression));
  }

  predict(faces: tf.Tensor4D, youngBelow: number): FaceAttributeLogits {
    return tf.tidy(() => {
      const input = resizeSquare(faces, FACE_API_INPUT_SIZE);
      const { age, genderLogits } = this.ageGender.forward(input);
      const [male, female] = tf.unstack(genderLogits, 1) as tf.Tensor1D[];
      return {
        maleLogit: tf.sub(male, female) as tf.Tensor1D,
        age,
        youngLogit: tf.div(tf.sub(youngBelow, age), AGE_SOFTNESS) as tf.Tensor1D,
        expressionLogits: this.expression.forward(input),
      };
    });
  }

  dispose(): void {
    this.ageGender.dispose();
    this.expression.dispose();
  }
}
