/**
 * The in-house contrastive image-text model as a SemanticTarget: the image
 * tower behind a differentiable resize (any input size), the text tower
 * behind CLIP's tokenizer and the compact vocabulary, and a learned
 * temperature. Variable names follow OpenAI CLIP's state dict (text tower
 * at the root, image tower under `visual.`, `logit_scale` in log space).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { SemanticTarget } from '@psic/core';
import { PsicError } from '@psic/entropy';
import type { ClipTokenizer } from '../clip/tokenizer.js';
import type { InhouseConfig } from './config.js';
import { ImageTower } from './image-tower.js';
import { SeedSequence } from './layers.js';
import { resizeToSquare } from './resize.js';
import { TextTower, TokenVocabulary, type EncodedTexts } from './text-tower.js';

export const INHOUSE_TARGET_NAME = 'inhouse-cifar';
/** CLIP's cap on the learned temperature's inverse. */
export const MAX_LOGIT_SCALE = 100;

export interface InhouseClipOptions {
  /** Seed of the initial weights; default 1. */
  seed?: number;
  /** Registry / report name; default 'inhouse-cifar'. */
  name?: string;
  /** The compact vocabulary (training builds it from its captions; loading reads it from the weights). */
  vocabulary?: TokenVocabulary;
}

export class InhouseClip implements SemanticTarget {
  readonly name: string;
  readonly visual: ImageTower;
  readonly text: TextTower;
  /** log of the logit scale, CLIP's `logit_scale` parameter (initialised to log(1/0.07)). */
  readonly logitScaleLog: tf.Variable;
  private vocab: TokenVocabulary;
  private disposed = false;

  constructor(
    readonly config: InhouseConfig,
    readonly tokenizer: ClipTokenizer,
    opts: InhouseClipOptions = {},
  ) {
    this.name = opts.name ?? INHOUSE_TARGET_NAME;
    const seeds = new SeedSequence(opts.seed ?? 1);
    this.visual = new ImageTower(config.image, config.embedDim, seeds);
    this.text = new TextTower(config.text, config.embedDim, seeds);
    this.logitScaleLog = tf.variable(tf.scalar(Math.log(1 / 0.07)));
    this.vocab = opts.vocabulary ?? new TokenVocabulary([]);
    if (opts.vocabulary) this.text.setVocabulary(opts.vocabulary);
  }

  get inputSize(): number {
    return this.config.image.inputSize;
  }

  get logitScale(): number {
    this.check();
    return Math.min(MAX_LOGIT_SCALE, Math.exp(this.logitScaleLog.dataSync()[0]!));
  }

  get vocabulary(): TokenVocabulary {
    return this.vocab;
  }

  /** Re-read the vocabulary from the `token_ids` weights (after loading a weight file). */
  refreshVocabulary(): void {
    this.vocab = this.text.vocabulary();
  }

  /**
   * Differentiable: NHWC [n, H, W, 3] in [0, 1], any size -> unnormalised embeddings [n, embedDim]
   * (inference statistics). The centre square is brought to config.image.resolution, then to inputSize.
   */
  embedImages(x: tf.Tensor4D): tf.Tensor2D {
    return this.forwardImages(x, false);
  }

  /** As embedImages; `training` uses batch statistics and updates the running ones. */
  forwardImages(x: tf.Tensor4D, training: boolean): tf.Tensor2D {
    this.check();
    if (x.rank !== 4 || x.shape[3] !== 3) throw new PsicError('BAD_IMAGE', `expected an NHWC RGB batch, got shape [${x.shape}]`);
    return tf.tidy(() => this.visual.apply(resizeToSquare(x, this.inputSize, this.config.image.resolution), training));
  }

  /** Texts -> unnormalised embeddings [n, embedDim]. */
  embedCandidates(items: string[]): tf.Tensor2D {
    return this.embedEncoded(this.encodeTexts(items));
  }

  /** Tokenize (CLIP BPE, truncated to the context) and map to the compact rows. */
  encodeTexts(items: string[]): EncodedTexts {
    const L = this.config.text.contextLength;
    return this.vocab.encode(this.tokenizer.tokenize(items, L), this.tokenizer.endTokenId, L);
  }

  embedEncoded(texts: EncodedTexts): tf.Tensor2D {
    this.check();
    return this.text.apply(texts);
  }

  namedVariables(): Record<string, tf.Variable> {
    this.check();
    return { ...this.text.namedVariables(''), ...this.visual.namedVariables('visual'), logit_scale: this.logitScaleLog };
  }

  /** What an optimiser updates: everything but the running statistics and the vocabulary. */
  trainableVariables(): Record<string, tf.Variable> {
    return Object.fromEntries(Object.entries(this.namedVariables()).filter(([, v]) => v.trainable));
  }

  parameterCount(): number {
    return Object.values(this.trainableVariables()).reduce((sum, v) => sum + v.size, 0);
  }

  dispose(): void {
    if (this.disposed) return;
    this.visual.dispose();
    this.text.dispose();
    this.logitScaleLog.dispose();
    this.disposed = true;
  }

  private check(): void {
    if (this.disposed) throw new PsicError('DISPOSED', `${this.name} has been disposed`);
  }
}
