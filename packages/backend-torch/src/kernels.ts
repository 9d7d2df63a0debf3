/**
 * tfjs kernel functions that run the convolutions in libtorch. Each one
 * works out the same Conv2DInfo the built-in kernel would, and falls back to
 * the kernel it replaced when it can't take the call (NCHW, non-float32,
 * activations other than linear/relu, a torch error), so registering them
 * never makes a model fail that worked before.
 */
import {
  backend_util,
  type Conv2DAttrs,
  type Conv2DBackpropFilterAttrs,
  type Conv2DBackpropInputAttrs,
  type FusedConv2DAttrs,
  type KernelBackend,
  type KernelFunc,
  type TensorInfo,
} from '@tensorflow/tfjs-core';
import type { TorchAddon } from './addon.js';
import { geometryFromConvInfo } from './geometry.js';
import { tensorMemory, type SupportedBackend } from './tensor-data.js';

export interface KernelContext {
  addon: TorchAddon;
  backendName: SupportedBackend;
  /** Element-wise ops and sums smaller than this stay on tfjs (a native call costs more than it saves). */
  minElementwiseSize: number;
  /** The kernel this one replaces, if the backend had one. */
  original?: KernelFunc;
  /** Called once per kernel and reason when a call goes back to `original`. */
  onFallback(kernelName: string, reason: string): void;
}

export type KernelArgs = Parameters<KernelFunc>[0];
type Shape4 = [number, number, number, number];

const UNSUPPORTED_CONV = 'unsupported data format or padding';
const UNSUPPORTED_FUSED = 'unsupported data format, padding, activation or bias shape';

/**
 * Runs `compute` into a freshly allocated float32 output, or hands the call
 * to the original kernel when `unsupported` names a reason or anything throws.
 */
export function runTorch(
  ctx: KernelContext,
  kernelName: string,
  args: KernelArgs,
  unsupported: string | null,
  outShape: number[],
  inputs: (TensorInfo | undefined)[],
  compute: (views: (Float32Array | null)[], out: Float32Array) => void,
): TensorInfo {
  if (unsupported) return fallback(ctx, kernelName, args, unsupported);
  const backend = args.backend as KernelBackend;
  const memory = tensorMemory(ctx.backendName, backend);
  const out = memory.allocate(outShape);
  try {
    // Views are taken after the allocation (it may have moved the wasm heap).
    const views = inputs.map((info) => {
      if (!info) return null;
      const view = memory.read(info);
      if (!view) throw new TypeError(`input of dtype ${info.dtype} is not float32`);
      return view;
    });
    compute(views, out.view());
    return out.info;
  } catch (error) {
    backend.disposeData(out.info.dataId);
    return fallback(ctx, kernelName, args, error instanceof Error ? error.message : String(error));
  }
}

export function fallback(ctx: KernelContext, kernelName: string, args: KernelArgs, reason: string): TensorInfo {
  if (!ctx.original) throw new Error(`${kernelName} on ${ctx.backendName}: torch kernel can't run this call (${reason}) and the backend has no kernel of its own`);
  ctx.onFallback(kernelName, reason);
  return ctx.original(args) as TensorInfo;
}

export function conv2dKernel(ctx: KernelContext): KernelFunc {
  return (args) => {
    const { x, filter } = args.inputs as { x: TensorInfo; filter: TensorInfo };
    const { strides, pad, dataFormat, dilations, dimRoundingMode } = args.attrs as unknown as Conv2DAttrs;
    const info = backend_util.computeConv2DInfo(x.shape as Shape4, filter.shape as Shape4, strides, dilations, pad,
      dimRoundingMode, false, backend_util.convertConv2DDataFormat(dataFormat));
    const geometry = geometryFromConvInfo(info);
    return runTorch(ctx, 'Conv2D', args, geometry ? null : UNSUPPORTED_CONV, info.outShape, [x, filter], ([xv, fv], y) =>
      ctx.addon.conv2d(geometry!, xv!, fv!, null, 0, y));
  };
}

const FUSED_ACTIVATIONS: Record<string, number> = { linear: 0, relu: 1 };

export function fusedConv2dKernel(ctx: KernelContext): KernelFunc {
  return (args) => {
    const { x, filter, bias, preluActivationWeights } = args.inputs as Record<string, TensorInfo | undefined>;
    const attrs = args.attrs as unknown as FusedConv2DAttrs;
    const info = backend_util.computeConv2DInfo(x!.shape as Shape4, filter!.shape as Shape4, attrs.strides, attrs.dilations,
      attrs.pad, attrs.dimRoundingMode, false, backend_util.convertConv2DDataFormat(attrs.dataFormat));
    const activation = FUSED_ACTIVATIONS[attrs.activation ?? 'linear'];
    // Only a per-channel bias maps onto torch's; broadcast shapes go to tfjs.
    const biasFits = !bias || bias.shape.reduce((a, b) => a * b, 1) === info.outChannels;
    const supported = activation !== undefined && biasFits && !preluActivationWeights;
    const geometry = supported ? geometryFromConvInfo(info) : null;
    return runTorch(ctx, 'FusedConv2D', args, geometry ? null : UNSUPPORTED_FUSED, info.outShape, [x, filter, bias], ([xv, fv, bv], y) =>
      ctx.addon.conv2d(geometry!, xv!, fv!, bv, activation!, y));
  };
}

export function conv2dBackpropInputKernel(ctx: KernelContext): KernelFunc {
  return (args) => {
    const { dy, filter } = args.inputs as { dy: TensorInfo; filter: TensorInfo };
    const { strides, pad, dataFormat, dimRoundingMode, inputShape } = args.attrs as unknown as Conv2DBackpropInputAttrs;
    const info = backend_util.computeConv2DInfo(inputShape, filter.shape as Shape4, strides, 1, pad, dimRoundingMode,
      false, backend_util.convertConv2DDataFormat(dataFormat));
    const geometry = geometryFromConvInfo(info);
    return runTorch(ctx, 'Conv2DBackpropInput', args, geometry ? null : UNSUPPORTED_CONV, info.inShape, [dy, filter], ([dyv, fv], dx) =>
      ctx.addon.conv2dBackpropInput(geometry!, dyv!, fv!, dx));
  };
}

export function conv2dBackpropFilterKernel(ctx: KernelContext): KernelFunc {
  return (args) => {
    const { x, dy } = args.inputs as { x: TensorInfo; dy: TensorInfo };
    const { strides, pad, dataFormat, dimRoundingMode, filterShape } = args.attrs as unknown as Conv2DBackpropFilterAttrs;
    const info = backend_util.computeConv2DInfo(x.shape as Shape4, filterShape, strides, 1, pad, dimRoundingMode,
      false, backend_util.convertConv2DDataFormat(dataFormat));
    const geometry = geometryFromConvInfo(info);
    return runTorch(ctx, 'Conv2DBackpropFilter', args, geometry ? null : UNSUPPORTED_CONV, filterShape, [x, dy], ([xv, dyv], dw) =>
      ctx.addon.conv2dBackpropFilter(geometry!, xv!, dyv!, dw));
  };
}

/** Kernel name -> factory, in the order they are registered. */
export const CONV_KERNELS: Readonly<Record<string, (ctx: KernelContext) => KernelFunc>> = Object.freeze({
  Conv2D: conv2dKernel,
  FusedConv2D: fusedConv2dKernel,
  Conv2DBackpropInput: conv2dBackpropInputKernel,
  Conv2DBackpropFilter: conv2dBackpropFilterKernel,
});
