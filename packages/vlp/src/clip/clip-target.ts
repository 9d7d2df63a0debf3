/**
 * OpenAI CLIP as a `SemanticTarget`: the model, its tokenizer and its
 * preprocessing behind the contract the attack and the supervision use.
 */
import * as tf from '@tensorflow/tfjs-core';
import { readImageRgb8, type Rgb8Image, type SemanticTarget } from '@psic/core';
import { PsicError } from '@psic/entropy';
import type { ClipConfig } from './config.js';
import { ClipModel } from './model.js';
import { preprocessRgb8, preprocessTensor } from './preprocess.js';
import { ClipTokenizer } from './tokenizer.js';
import { readClipConfig, readClipWeights } from './weights.js';

export interface ClipLoadOptions {
  /** `.safetensors` with OpenAI (or Hugging Face CLIPModel) names. */
  weights: string;
  /** config.json path or object with OpenAI's CLIP(...) names; read off the weights when absent. */
  config?: string | ClipConfig;
  /** Vocabulary `.txt.gz`; the shared OpenAI vocabulary when absent. */
  vocab?: string;
}

export class ClipTarget implements SemanticTarget {
  readonly name = 'clip';

  constructor(
    readonly model: ClipModel,
    readonly tokenizer: ClipTokenizer,
  ) {
    if (tokenizer.vocabSize !== model.config.vocab_size) {
      throw new PsicError('BAD_CONFIG', `tokenizer has ${tokenizer.vocabSize} ids but the model's vocab_size is ${model.config.vocab_size}`);
    }
  }

  static async load(options: ClipLoadOptions): Promise<ClipTarget> {
    const config = typeof options.config === 'string' ? await readClipConfig(options.config) : options.config;
    const [stateDict, tokenizer] = await Promise.all([
      readClipWeights(options.weights, config),
      options.vocab ? ClipTokenizer.fromVocabFile(options.vocab) : ClipTokenizer.default(),
    ]);
    return new ClipTarget(new ClipModel(stateDict), tokenizer);
  }

  get logitScale(): number {
    return this.model.logitScale;
  }

  get inputResolution(): number {
    return this.model.config.image_resolution;
  }

  /** Differentiable: NHWC [b, H, W, 3] in [0, 1], any size -> unnormalised embeddings [b, embed_dim]. */
  embedImages(x: tf.Tensor4D): tf.Tensor2D {
    return tf.tidy(() => this.model.encodeImage(preprocessTensor(x, this.inputResolution)));
  }

  /** Texts -> unnormalised embeddings [n, embed_dim] (clip.tokenize with truncation, then encode_text). */
  embedCandidates(items: string[]): tf.Tensor2D {
    return this.model.encodeText(this.tokenizer.tokenize(items, this.model.config.context_length));
  }

  /** 8-bit images with OpenAI's exact preprocessing (Pillow bicubic) -> embeddings [n, embed_dim]. */
  embedRgb8(images: Rgb8Image[]): tf.Tensor2D {
    const R = this.inputResolution;
    const batch = new Float32Array(images.length * R * R * 3);
    images.forEach((img, i) => batch.set(preprocessRgb8(img, R), i * R * R * 3));
    return tf.tidy(() => this.model.encodeImage(tf.tensor4d(batch, [images.length, R, R, 3])));
  }

  /** Image files (PNG, JPEG, ...) -> embeddings, preprocessed exactly as OpenAI's clip.load transform. */
  async embedImageFiles(paths: string[]): Promise<tf.Tensor2D> {
    const images = await Promise.all(paths.map((p) => readImageRgb8(p)));
    return this.embedRgb8(images);
  }

  dispose(): void {
    this.model.dispose();
  }
}
