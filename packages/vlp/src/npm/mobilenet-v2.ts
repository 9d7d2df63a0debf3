/**
 * MobileNetV2 (Keras, alpha 1.0, 224x224) from the nsfwjs package. Its
 * backbone up to block 10 keeps the ImageNet weights frozen; blocks 11-16
 * and the 1280-channel Conv_1 were fine-tuned with nsfwjs' 5-class head, so
 * the 1280-d `flatten_1` features are ImageNet-initialised, not pure
 * ImageNet. nsfwjs feeds RGB in [0, 1] (not Keras' [-1, 1]); we do the same
 * by default, since that is what the fine-tuned layers saw.
 *
 * The weights are base64 strings inside UMD scripts
 * (dist/models/mobilenet_v2/*.min.js); they are loaded with Node's require
 * from the installed package: data only, no network.
 */
import { createRequire } from 'node:module';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { PsicError } from '@psic/entropy';
import { registerFastGradientKernels } from './gradient-kernels.js';
import { KerasGraph } from './keras-graph.js';
import { decodeWeightData, packageRoot } from './package-files.js';
import { centreSquare, checkImages, resizeSquare } from './preprocess.js';

export const NSFWJS_PACKAGE = 'nsfwjs';
export const MOBILENET_INPUT_SIZE = 224;
/** The feature layer: global 7x7 average pool of Conv_1, flattened. */
export const MOBILENET_FEATURE_LAYER = 'flatten_1';
export const MOBILENET_FEATURE_DIM = 1280;
/** nsfwjs' own head: softmax over these classes. */
export const NSFW_CLASSES = ['drawing', 'hentai', 'neutral', 'porn', 'sexy'] as const;

export type MobileNetInputRange = '0..1' | '-1..1';

export interface MobileNetOptions {
  /** Pixel range fed to the network: '0..1' (nsfwjs, default) or '-1..1' (Keras' ImageNet preprocessing). */
  inputRange?: MobileNetInputRange;
}

/** Read one of nsfwjs' UMD model scripts (they export a plain object or string). */
function requireModelScript(file: string): unknown {
  const require = createRequire(import.meta.url);
  try {
    return require(file);
  } catch (cause) {
    throw new PsicError('MODEL_FILE_MISSING', `cannot read ${file}: ${(cause as Error).message}`, { cause });
  }
}

/** modelTopology and decoded weights of nsfwjs' MobileNetV2. */
export function readNsfwjsMobileNet(): { topology: unknown; weights: tf.NamedTensorMap } {
  const folder = join(packageRoot(NSFWJS_PACKAGE), 'dist', 'models', 'mobilenet_v2');
  const model = requireModelScript(join(folder, 'model.min.js')) as { modelTopology?: unknown; weightsManifest?: tf.io.WeightsManifestConfig };
  if (!model?.modelTopology || !Array.isArray(model.weightsManifest)) throw new PsicError('BAD_MODEL_FILE', `${folder}/model.min.js holds no modelTopology / weightsManifest`);
  const specs: tf.io.WeightsManifestEntry[] = [];
  const parts: Buffer[] = [];
  for (const group of model.weightsManifest) {
    for (const path of group.paths) {
      if (!/^[\w.-]+$/.test(path)) throw new PsicError('BAD_MODEL_FILE', `nsfwjs weight path "${path}" is not a plain file name`);
      const base64 = requireModelScript(join(folder, `${path}.min.js`));
      if (typeof base64 !== 'string') throw new PsicError('BAD_MODEL_FILE', `${folder}/${path}.min.js does not hold a base64 string`);
      parts.push(Buffer.from(base64, 'base64'));
    }
    specs.push(...group.weights);
  }
  const data = Buffer.concat(parts);
  const weights = decodeWeightData(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) as ArrayBuffer, specs, folder);
  return { topology: model.modelTopology, weights };
}

function checkInputRange(range: unknown): MobileNetInputRange {
  if (range === undefined) return '0..1';
  if (range !== '0..1' && range !== '-1..1') throw new PsicError('BAD_OPTION', `mobilenet-v2: inputRange must be '0..1' or '-1..1', got ${JSON.stringify(range)}`);
  return range;
}

/** nsfwjs' MobileNetV2 as a feature extractor (and, for checks, its NSFW head). */
export class MobileNetV2 {
  readonly inputRange: MobileNetInputRange;

  constructor(private readonly graph: KerasGraph, options: MobileNetOptions = {}) {
    this.inputRange = checkInputRange(options.inputRange);
  }

  static load(options: MobileNetOptions = {}): MobileNetV2 {
    checkInputRange(options.inputRange); // before the weights are read
    const { topology, weights } = readNsfwjsMobileNet();
    try {
      return new MobileNetV2(new KerasGraph(topology, weights), options);
    } catch (err) {
      tf.dispose(Object.values(weights));
      throw err;
    }
  }

  /** NHWC RGB in [0, 1], any size -> the 224x224 network input (centre square crop, bilinear resize, range). */
  prepare(x: tf.Tensor4D): tf.Tensor4D {
    checkImages(x, 'mobilenet-v2');
    return tf.tidy(() => {
      const square = resizeSquare(centreSquare(x), MOBILENET_INPUT_SIZE);
      return this.inputRange === '0..1' ? square : tf.sub(tf.mul(square, 2), 1);
    });
  }

  /** The output of any layer (e.g. 'block_10_project_BN') for images in [0, 1]. */
  layer(x: tf.Tensor4D, name: string): tf.Tensor {
    registerFastGradientKernels(); // cheap when already in place; a later selectBackend may have replaced it
    return tf.tidy(() => this.graph.execute(this.prepare(x), name));
  }

  /** [b, 1280] features (`flatten_1`). Differentiable. */
  features(x: tf.Tensor4D): tf.Tensor2D {
    return this.layer(x, MOBILENET_FEATURE_LAYER) as tf.Tensor2D;
  }

  /** [b, 5] nsfwjs class probabilities (NSFW_CLASSES order): the package's own head, to check the weights load right. */
  nsfwProbabilities(x: tf.Tensor4D): tf.Tensor2D {
    return this.layer(x, 'dense_3') as tf.Tensor2D;
  }

  layerNames(): string[] {
    return this.graph.layerNames();
  }

  dispose(): void {
    this.graph.dispose();
  }
}
