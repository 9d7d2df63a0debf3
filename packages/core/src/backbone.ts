/**
 * The contract every learned-image-compression backbone implements, so that
 * adapters (conditional synthesis), objectives, training and the codec work
 * with any of them. Tensors are tfjs NHWC here: images [batch, height, width, 3]
 * in [0, 1], latents [batch, height / 16, width / 16, M] (DESIGN.md writes
 * the same shapes in PyTorch's NCHW order).
 */
import type { Tensor, Tensor4D, Variable } from '@tensorflow/tfjs-core';

/** Spatial size of a (padded) image. */
export interface Shape {
  height: number;
  width: number;
}

/**
 * Called by `synthesis` after each block with that block's output (NHWC);
 * whatever it returns feeds the next block. This is how an adapter biases
 * every decoder block without editing the backbone.
 */
export type BlockHook = (blockIndex: number, features: Tensor4D) => Tensor4D;

/** Variable groups a training stage can freeze or train. */
export type VariableGroup = 'encoder' | 'entropy' | 'decoder';

/**
 * A backbone's hyper-parameters, serialised in the weights' sidecar: plain
 * JSON scalars such as N, M and the architecture name. Declare a backbone's
 * own config as a `type` alias (not an `interface`) so it fits this index
 * signature.
 */
export type BackboneConfig = {
  readonly name?: string;
  readonly [param: string]: number | string | boolean | undefined;
};

export interface LicBackbone {
  /** Registry key, written in the container. */
  readonly name: string;
  /** N, M, ...; serialised in the sidecar. */
  readonly config: BackboneConfig;
  /** g_a: image [b, H, W, 3] -> latent y. */
  analysis(x: Tensor4D): Tensor4D;
  /** g_s: y-hat -> image, calling `hook` after each block. */
  synthesis(yHat: Tensor4D, hook?: BlockHook): Tensor4D;
  /** One entry per synthesis block, in hook order: what an adapter must match. */
  readonly synthesisBlocks: { channels: number }[];
  /** Training / evaluation path (noisy or straight-through quantisation when training). */
  forward(x: Tensor4D, opts: { training: boolean; hook?: BlockHook }): { xHat: Tensor4D; likelihoods: Tensor[] };
  /** One padded image -> the sections the container stores. */
  compress(x: Tensor4D): Promise<Uint8Array[]>;
  /** Sections -> y-hat for a padded image of `shape`. */
  decompress(sections: Uint8Array[], shape: Shape): Promise<Tensor4D>;
  /** Trainable variables, all or one group (for freezing). */
  variables(group?: VariableGroup): Variable[];
}
