/**
 * tfjs's Conv2DInfo -> the Int32Array(17) the addon reads (field order of
 * native/conv_geometry.h). Only NHWC with a plain per-side padding is
 * supported; anything else returns null and the caller falls back to tfjs.
 */
import { backend_util } from '@tensorflow/tfjs-core';

export function geometryFromConvInfo(info: backend_util.Conv2DInfo): Int32Array | null {
  if (info.dataFormat !== 'channelsLast') return null;
  const { top, bottom, left, right } = info.padInfo;
  if (![top, bottom, left, right].every((p) => Number.isInteger(p) && p >= 0)) return null;
  return Int32Array.from([
    info.batchSize, info.inHeight, info.inWidth, info.inChannels,
    info.filterHeight, info.filterWidth, info.outChannels,
    info.outHeight, info.outWidth,
    info.strideHeight, info.strideWidth,
    info.dilationHeight, info.dilationWidth,
    top, bottom, left, right,
  ]);
}
