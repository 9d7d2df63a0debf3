/**
 * Configuration of the in-house contrastive model: a small ResNet image
 * tower and a small causal transformer text tower meeting in a shared
 * embedding space. The config travels in the weights' sidecar, so a loader
 * can rebuild the exact module before assigning the weights.
 */
import { PsicError } from '@psic/entropy';

export interface ImageTowerConfig {
  /** Square side the network takes; embedImages resizes any input to it. */
  inputSize: number;
  /**
   * Square side of the detail the model reads (<= inputSize): every image is
   * first brought to resolution x resolution (antialiased), then upsampled
   * to inputSize, which is exactly how the training images (32-pixel CIFAR)
   * were made. Absent in a sidecar: inputSize (no low-pass step).
   */
  resolution: number;
  /** Channels of the stride-2 stem convolution. */
  stemChannels: number;
  /** Channels per stage; every stage after the first halves the resolution. */
  widths: number[];
  /** Residual blocks per stage. */
  blocksPerStage: number;
  /** Per-channel mean / std applied to [0, 1] RGB before the stem. */
  mean: [number, number, number];
  std: [number, number, number];
}

export interface TextTowerConfig {
  /** Token rows handed to the transformer (CLIP's tokenizer pads / cuts to this). */
  contextLength: number;
  width: number;
  layers: number;
  heads: number;
  /** Hidden width of each MLP, as a multiple of `width`. */
  mlpRatio: number;
  /** Rows of the compact token table: 4 specials + the CLIP ids seen in training. */
  vocabSize: number;
}

export interface InhouseConfig {
  image: ImageTowerConfig;
  text: TextTowerConfig;
  /** Dimension of the shared embedding space. */
  embedDim: number;
}

/** CIFAR-10 training-set channel statistics (on [0, 1] RGB). */
export const CIFAR_MEAN: [number, number, number] = [0.4914, 0.4822, 0.4465];
export const CIFAR_STD: [number, number, number] = [0.247, 0.2435, 0.2616];

/**
 * The shipped architecture: a 64-pixel network input (stride-2 stem) that
 * reads 32-pixel detail. Real photos shrunk straight to 64 carry detail no
 * upsampled CIFAR image has, and the model misreads them (measured: 27% vs
 * 54% on ImageNet photos of CIFAR classes), so every input goes through
 * 32x32 first. See models/README.md, "Input size".
 */
export function defaultInhouseConfig(vocabSize: number): InhouseConfig {
  return {
    image: {
      inputSize: 64,
      resolution: 32,
      stemChannels: 32,
      widths: [32, 64, 128],
      blocksPerStage: 1,
      mean: [...CIFAR_MEAN],
      std: [...CIFAR_STD],
    },
    text: { contextLength: 32, width: 128, layers: 2, heads: 4, mlpRatio: 4, vocabSize },
    embedDim: 128,
  };
}

/** Validate a config read from a sidecar; PsicError('BAD_CONFIG') naming the first bad field. */
export function parseInhouseConfig(value: unknown): InhouseConfig {
  const obj = record(value, 'config');
  const image = record(obj.image, 'config.image');
  const text = record(obj.text, 'config.text');
  const widths = image.widths;
  if (!Array.isArray(widths) || widths.length < 1 || widths.length > 6) bad('config.image.widths must be 1-6 positive integers');
  const inputSize = int(image.inputSize, 'config.image.inputSize', 8, 512);
  const config: InhouseConfig = {
    image: {
      inputSize,
      resolution: image.resolution === undefined ? inputSize : int(image.resolution, 'config.image.resolution', 4, inputSize),
      stemChannels: int(image.stemChannels, 'config.image.stemChannels', 1, 1024),
      widths: (widths as unknown[]).map((w, i) => int(w, `config.image.widths[${i}]`, 1, 1024)),
      blocksPerStage: int(image.blocksPerStage, 'config.image.blocksPerStage', 1, 16),
      mean: triple(image.mean, 'config.image.mean'),
      std: triple(image.std, 'config.image.std'),
    },
    text: {
      contextLength: int(text.contextLength, 'config.text.contextLength', 4, 77),
      width: int(text.width, 'config.text.width', 4, 2048),
      layers: int(text.layers, 'config.text.layers', 1, 24),
      heads: int(text.heads, 'config.text.heads', 1, 64),
      mlpRatio: int(text.mlpRatio, 'config.text.mlpRatio', 1, 8),
      vocabSize: int(text.vocabSize, 'config.text.vocabSize', 5, 49412),
    },
    embedDim: int(obj.embedDim, 'config.embedDim', 2, 4096),
  };
  if (config.text.width % config.text.heads !== 0) bad('config.text.width must be a multiple of config.text.heads');
  if (config.image.std.some((s) => s <= 0)) bad('config.image.std must be positive');
  return config;
}

function record(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) bad(`${what} must be an object`);
  return value as Record<string, unknown>;
}

function int(value: unknown, what: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) bad(`${what} must be an integer in [${min}, ${max}], got ${JSON.stringify(value)}`);
  return value as number;
}

function triple(value: unknown, what: string): [number, number, number] {
  if (!Array.isArray(value) || value.length !== 3 || !value.every((v) => typeof v === 'number' && Number.isFinite(v))) {
    bad(`${what} must be three finite numbers`);
  }
  return [...(value as number[])] as [number, number, number];
}

function bad(message: string): never {
  throw new PsicError('BAD_CONFIG', message);
}
