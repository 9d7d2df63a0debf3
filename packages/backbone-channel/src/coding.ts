/**
 * The channel-wise coding walk, entirely in fixed-point integers so the
 * encoder, the decoder and the evaluation forward derive the same CDF indexes
 * and means on every backend. Slice by slice:
 *
 *   support  = the first min(i, maxSupport) decoded slices
 *   mean_i   = cc_mean_i(latent means, support)      scale_i = cc_scale_i(latent scales, support)
 *   symbol   = round(y_i - mean_i)                   (coded with the scale's CDF)
 *   y-hat_i  = symbol + mean_i + 0.5 tanh(lrp_i(latent means, support, symbol + mean_i))
 *
 * Latent residual prediction changes y-hat_i, which is the next slices'
 * support, so it is part of what decides their CDFs: it runs in fixed point
 * too, tanh through a deterministic table. `code(slice, indexes, means)`
 * returns a slice's symbols (from y when encoding, from the stream when
 * decoding), HWC over the slice's channels.
 */
import {
  concatChannels,
  fixedTanh,
  fixedToFloat,
  runFixedLayers,
  runFixedPoint,
  type FixedPointNetwork,
  type FixedTensor,
} from '@psic/core';
import type { GaussianConditional } from '@psic/entropy';

/** The entropy model's networks in fixed point (built once from the float weights). */
export interface ChannelCodingNets {
  readonly hyperMeans: FixedPointNetwork;
  readonly hyperScales: FixedPointNetwork;
  readonly means: readonly FixedPointNetwork[];
  readonly scales: readonly FixedPointNetwork[];
  readonly lrp: readonly FixedPointNetwork[];
}

/** `means` are integers with `activationBits` fractional bits, [pixel][slice channel]. */
export type CodeSlice = (slice: number, indexes: Int32Array, means: Int32Array, activationBits: number) => Int32Array;

export interface ChannelWalkResult {
  /** y-hat after latent residual prediction, HWC floats: what the synthesis gets */
  yHat: Float32Array;
  /** symbol + mean (before the residual prediction): what the Gaussian codes, for the evaluation rate */
  yCoded: Float32Array;
  scales: Float32Array;
  means: Float32Array;
  h: number;
  w: number;
}

/** LRP's output is squashed to +-0.5 (the paper's 0.5 tanh). */
export const LRP_GAIN = 0.5;

export function channelWalk(
  nets: ChannelCodingNets,
  gaussian: GaussianConditional,
  zHat: Float32Array,
  zShape: { h: number; w: number; c: number },
  sizes: readonly number[],
  maxSupport: number,
  code: CodeSlice,
): ChannelWalkResult {
  const latentMeans = runFixedPoint(nets.hyperMeans, zHat, zShape.h, zShape.w, zShape.c);
  const latentScales = runFixedPoint(nets.hyperScales, zHat, zShape.h, zShape.w, zShape.c);
  const { h, w } = latentMeans;
  const M = sizes.reduce((a, b) => a + b, 0);
  const bits = nets.hyperMeans.activationBits;
  const limit = nets.hyperMeans.activationLimit;
  const one = 2 ** bits;
  const clamp = (v: number) => (v > limit ? limit : v < -limit ? -limit : v);
  const out: ChannelWalkResult = {
    yHat: new Float32Array(h * w * M),
    yCoded: new Float32Array(h * w * M),
    scales: new Float32Array(h * w * M),
    means: new Float32Array(h * w * M),
    h,
    w,
  };
  const decoded: FixedTensor[] = [];
  let offset = 0;
  sizes.forEach((size, i) => {
    const support = decoded.slice(0, maxSupport);
    const mean = runFixedLayers(nets.means[i], concatChannels([latentMeans, ...support])).data;
    const scale = fixedToFloat(runFixedLayers(nets.scales[i], concatChannels([latentScales, ...support])).data, bits);
    const symbols = code(i, gaussian.buildIndexes(scale), mean, bits);
    if (symbols.length !== h * w * size) throw new Error(`slice ${i} gave ${symbols.length} symbols for ${h}x${w}x${size}`);
    const coded = new Int32Array(symbols.length);
    for (let k = 0; k < coded.length; k++) coded[k] = clamp(symbols[k] * one + mean[k]); // exact in float64 for any int32 symbol
    const codedTensor = { data: coded, h, w, c: size };
    const residual = fixedTanh(runFixedLayers(nets.lrp[i], concatChannels([latentMeans, ...support, codedTensor])).data, bits, LRP_GAIN);
    const final = new Int32Array(coded.length);
    for (let p = 0; p < h * w; p++) {
      for (let ch = 0; ch < size; ch++) {
        const k = p * size + ch;
        const at = p * M + offset + ch;
        final[k] = clamp(coded[k] + residual[k]);
        out.yHat[at] = symbols[k] + (mean[k] + residual[k]) / one;
        out.yCoded[at] = symbols[k] + mean[k] / one;
        out.scales[at] = scale[k];
        out.means[at] = mean[k] / one;
      }
    }
    decoded.push({ data: final, h, w, c: size });
    offset += size;
  });
  return out;
}
