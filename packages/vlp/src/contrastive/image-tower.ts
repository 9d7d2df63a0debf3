/**
 * The image tower: a small ResNet (torchvision's BasicBlock layout with a
 * stride-2 3x3 stem instead of the 7x7 + max-pool one, which is too coarse
 * for 64 pixels), global average pooling and a linear projection into the
 * shared embedding space. Works on NHWC batches already at `inputSize`.
 */
import * as tf from '@tensorflow/tfjs-core';
import { Conv2d, joinName } from '@psic/core';
import type { ImageTowerConfig } from './config.js';
import { BatchNorm2d, Linear, type SeedSequence } from './layers.js';

class BasicBlock {
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly conv2: Conv2d;
  readonly bn2: BatchNorm2d;
  readonly downsample?: { conv: Conv2d; bn: BatchNorm2d };

  constructor(cin: number, cout: number, stride: number, seeds: SeedSequence) {
    this.conv1 = new Conv2d(cin, cout, 3, stride, { seed: seeds.take() });
    seeds.take();
    this.bn1 = new BatchNorm2d(cout);
    this.conv2 = new Conv2d(cout, cout, 3, 1, { seed: seeds.take() });
    seeds.take();
    // Zero-initialised last scale: every block starts as the identity, which trains faster (Goyal et al. 2017).
    this.bn2 = new BatchNorm2d(cout, 0.1, true);
    if (stride !== 1 || cin !== cout) {
      this.downsample = { conv: new Conv2d(cin, cout, 1, stride, { seed: seeds.take() }), bn: new BatchNorm2d(cout) };
      seeds.take();
    }
  }

  apply(x: tf.Tensor4D, training: boolean): tf.Tensor4D {
    return tf.tidy(() => {
      let h = tf.relu(this.bn1.apply(this.conv1.apply(x), training));
      h = this.bn2.apply(this.conv2.apply(h), training);
      const shortcut = this.downsample ? this.downsample.bn.apply(this.downsample.conv.apply(x), training) : x;
      return tf.relu(tf.add(h, shortcut)) as tf.Tensor4D;
    });
  }

  namedVariables(prefix: string): Record<string, tf.Variable> {
    return {
      ...this.conv1.namedVariables(joinName(prefix, 'conv1')),
      ...this.bn1.namedVariables(joinName(prefix, 'bn1')),
      ...this.conv2.namedVariables(joinName(prefix, 'conv2')),
      ...this.bn2.namedVariables(joinName(prefix, 'bn2')),
      ...(this.downsample
        ? {
            ...this.downsample.conv.namedVariables(joinName(prefix, 'downsample.0')),
            ...this.downsample.bn.namedVariables(joinName(prefix, 'downsample.1')),
          }
        : {}),
    };
  }
}

export class ImageTower {
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly stages: BasicBlock[][];
  readonly proj: Linear;
  private readonly mean: tf.Tensor1D;
  private readonly invStd: tf.Tensor1D;

  constructor(
    readonly config: ImageTowerConfig,
    embedDim: number,
    seeds: SeedSequence,
  ) {
    this.conv1 = new Conv2d(3, config.stemChannels, 3, 2, { seed: seeds.take() });
    seeds.take();
    this.bn1 = new BatchNorm2d(config.stemChannels);
    let cin = config.stemChannels;
    this.stages = config.widths.map((width, s) => {
      const blocks: BasicBlock[] = [];
      for (let b = 0; b < config.blocksPerStage; b++) {
        blocks.push(new BasicBlock(cin, width, b === 0 && s > 0 ? 2 : 1, seeds));
        cin = width;
      }
      return blocks;
    });
    this.proj = new Linear(cin, embedDim, seeds);
    this.mean = tf.tensor1d(config.mean);
    this.invStd = tf.tensor1d(config.std.map((s) => 1 / s));
  }

  /** x [n, inputSize, inputSize, 3] in [0, 1] -> unnormalised embeddings [n, embedDim]. */
  apply(x: tf.Tensor4D, training: boolean): tf.Tensor2D {
    return tf.tidy(() => {
      const normalised = tf.mul(tf.sub(x, this.mean), this.invStd) as tf.Tensor4D;
      let h = tf.relu(this.bn1.apply(this.conv1.apply(normalised), training));
      for (const stage of this.stages) for (const block of stage) h = block.apply(h, training);
      return this.proj.apply(tf.mean(h, [1, 2]) as tf.Tensor2D);
    });
  }

  namedVariables(prefix: string): Record<string, tf.Variable> {
    let out: Record<string, tf.Variable> = {
      ...this.conv1.namedVariables(joinName(prefix, 'conv1')),
      ...this.bn1.namedVariables(joinName(prefix, 'bn1')),
    };
    this.stages.forEach((stage, s) =>
      stage.forEach((block, b) => {
        out = { ...out, ...block.namedVariables(joinName(prefix, `layer${s + 1}.${b}`)) };
      }),
    );
    return { ...out, ...this.proj.namedVariables(joinName(prefix, 'proj')) };
  }

  dispose(): void {
    for (const v of Object.values(this.namedVariables(''))) v.dispose();
    this.mean.dispose();
    this.invStd.dispose();
  }
}
