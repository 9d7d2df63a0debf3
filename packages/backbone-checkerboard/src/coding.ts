/**
 * The two-pass checkerboard coding walk, entirely in fixed-point integers, so
 * the encoder, the decoder and the evaluation forward derive the same CDF
 * indexes and means on every backend:
 *
 *   hyper = h_s(z-hat)                                       [h, w, 2M]
 *   pass 1 (anchors):     params = entropy_parameters(hyper, 0)
 *   pass 2 (non-anchors): ctx = masked conv(anchors' y-hat), params = entropy_parameters(hyper, ctx)
 *   params = (scales, means); symbol = round(y - mean); y-hat = symbol + mean
 *
 * The walk does not know whether it encodes or decodes: `code(pass, indexes,
 * means)` returns the pass's symbols (from y when encoding, from the stream
 * when decoding), one row per pixel of the pass's colour in raster order.
 */
import {
  concatChannels,
  fixedToFloat,
  runFixedLayers,
  runFixedPoint,
  runParityConv,
  sliceChannels,
  type FixedPointNetwork,
  type FixedTensor,
} from '@psic/core';
import type { GaussianConditional } from '@psic/entropy';
import { ANCHOR_PARITY, NON_ANCHOR_PARITY } from './context.js';
import { colourPixels, gatherPixels, zeroRow } from './parity.js';

/** The entropy model's networks in fixed point (built once from the float weights). */
export interface CheckerboardCodingNets {
  /** h_s: z-hat -> 2M hyper parameters */
  readonly hyper: FixedPointNetwork;
  /** the masked 5x5 context conv: M -> 2M */
  readonly context: FixedPointNetwork;
  /** 1x1 convs: 4M -> (scales, means) 2M */
  readonly parameters: FixedPointNetwork;
}

/** 0: anchors, 1: non-anchors. `means` are integers with `activationBits` fractional bits, [pixel][M]. */
export type CodePass = (pass: 0 | 1, pixels: Int32Array, indexes: Int32Array, means: Int32Array, activationBits: number) => Int32Array;

export interface WalkResult {
  /** y-hat, HWC floats: symbol + mean */
  yHat: Float32Array;
  /** the scales and means each element was coded with, HWC floats (for the evaluation rate) */
  scales: Float32Array;
  means: Float32Array;
  h: number;
  w: number;
}

export function checkerboardWalk(
  nets: CheckerboardCodingNets,
  gaussian: GaussianConditional,
  zHat: Float32Array,
  zShape: { h: number; w: number; c: number },
  M: number,
  code: CodePass,
): WalkResult {
  const hyper = runFixedPoint(nets.hyper, zHat, zShape.h, zShape.w, zShape.c);
  const { h, w } = hyper;
  const bits = nets.parameters.activationBits;
  const limit = nets.parameters.activationLimit;
  const one = 2 ** bits;
  const yHat = new Float32Array(h * w * M);
  const scales = new Float32Array(h * w * M);
  const means = new Float32Array(h * w * M);
  // Anchors' y-hat in fixed point, zero elsewhere: the context conv's input.
  const anchorsFixed = new Int32Array(h * w * M);

  const runPass = (pass: 0 | 1, context: FixedTensor | undefined): void => {
    const pixels = colourPixels(h, w, pass === 0 ? ANCHOR_PARITY : NON_ANCHOR_PARITY);
    if (pixels.length === 0) return;
    const ctx = context ? gatherPixels(context, pixels) : zeroRow(pixels.length, 2 * M);
    const params = runFixedLayers(nets.parameters, concatChannels([gatherPixels(hyper, pixels), ctx]));
    const passScales = fixedToFloat(sliceChannels(params, 0, M).data, bits);
    const passMeans = sliceChannels(params, M, M).data;
    const indexes = gaussian.buildIndexes(passScales);
    const symbols = code(pass, pixels, indexes, passMeans, bits);
    if (symbols.length !== pixels.length * M) throw new Error(`pass ${pass} gave ${symbols.length} symbols for ${pixels.length}x${M}`);
    pixels.forEach((p, i) => {
      for (let ch = 0; ch < M; ch++) {
        const at = p * M + ch;
        const k = i * M + ch;
        const mean = passMeans[k];
        yHat[at] = symbols[k] + mean / one;
        scales[at] = passScales[k];
        means[at] = mean / one;
        if (pass === 0) {
          const v = symbols[k] * one + mean; // exact in float64 for any int32 symbol
          anchorsFixed[at] = v > limit ? limit : v < -limit ? -limit : v;
        }
      }
    });
  };

  runPass(0, undefined);
  const context = runParityConv(nets.context, nets.context.layers[0], { data: anchorsFixed, h, w, c: M }, NON_ANCHOR_PARITY);
  runPass(1, context);
  return { yHat, scales, means, h, w };
}
