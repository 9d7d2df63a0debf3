/**
 * Element-wise and Sum kernels in libtorch, for large float32 tensors only:
 * in a GDN network's gradient the wasm backend spends a quarter of the step
 * in these (single-threaded pow/sqrt, and a Sum that transposes first).
 * Below KernelContext.minElementwiseSize, and for other dtypes, the call
 * goes to the backend's own kernel silently: that is by design, not a failure.
 */
import { backend_util, util, type KernelFunc, type TensorInfo } from '@tensorflow/tfjs-core';
import { fallback, runTorch, type KernelContext } from './kernels.js';

// Op codes: keep in sync with UnaryOp / BinaryOp in native/elementwise.h.
const UNARY_OPS: Record<string, number> = {
  Sqrt: 0, Rsqrt: 1, Square: 2, Neg: 3, Exp: 4, Log: 5, Sigmoid: 6, Relu: 7, Abs: 8, Reciprocal: 9,
};
const COPY_OP = 10;
const BINARY_OPS: Record<string, number> = {
  Add: 0, Sub: 1, Multiply: 2, RealDiv: 3, Pow: 4, Maximum: 5, Minimum: 6, SquaredDifference: 7,
};

const sizeOf = (shape: number[]) => util.sizeFromShape(shape);

function unaryKernel(kernelName: string, op: number) {
  return (ctx: KernelContext): KernelFunc => (args) => {
    const { x } = args.inputs as { x: TensorInfo };
    if (x.dtype !== 'float32' || sizeOf(x.shape) < ctx.minElementwiseSize) return passThrough(ctx, kernelName, args);
    return runTorch(ctx, kernelName, args, null, x.shape, [x], ([xv], y) => ctx.addon.unary(op, xv!, y));
  };
}

/**
 * Identity, and Cast from float32 to float32: copies on wasm (TypedArray.set,
 * one thread). The cpu backend shares the data instead, so it keeps its own.
 */
function copyKernel(kernelName: string) {
  return (ctx: KernelContext): KernelFunc | null => ctx.backendName !== 'wasm' ? null : (args) => {
    const { x } = args.inputs as { x: TensorInfo };
    const toDtype = (args.attrs as { dtype?: string } | undefined)?.dtype ?? x.dtype;
    if (x.dtype !== 'float32' || toDtype !== 'float32' || sizeOf(x.shape) < ctx.minElementwiseSize) return passThrough(ctx, kernelName, args);
    return runTorch(ctx, kernelName, args, null, x.shape, [x], ([xv], y) => ctx.addon.unary(COPY_OP, xv!, y));
  };
}

function binaryKernel(kernelName: string, op: number) {
  return (ctx: KernelContext): KernelFunc => (args) => {
    const { a, b } = args.inputs as { a: TensorInfo; b: TensorInfo };
    if (a.dtype !== 'float32' || b.dtype !== 'float32') return passThrough(ctx, kernelName, args);
    const outShape = backend_util.assertAndGetBroadcastShape(a.shape, b.shape);
    if (sizeOf(outShape) < ctx.minElementwiseSize) return passThrough(ctx, kernelName, args);
    return runTorch(ctx, kernelName, args, null, outShape, [a, b], ([av, bv], out) =>
      ctx.addon.binary(op, av!, Int32Array.from(a.shape), bv!, Int32Array.from(b.shape), out, Int32Array.from(outShape)));
  };
}

function sumKernel(ctx: KernelContext): KernelFunc {
  return (args) => {
    const { x } = args.inputs as { x: TensorInfo };
    const { axis, keepDims } = args.attrs as { axis: number | number[]; keepDims: boolean };
    const axes = util.parseAxisParam(axis, x.shape);
    if (x.dtype !== 'float32' || axes.length === 0 || sizeOf(x.shape) < ctx.minElementwiseSize) return passThrough(ctx, 'Sum', args);
    const reduced = x.shape.filter((_, d) => !axes.includes(d));
    // keepDims only changes the shape: the values are laid out the same.
    const outShape = keepDims ? backend_util.expandShapeToKeepDim(reduced, axes) : reduced;
    return runTorch(ctx, 'Sum', args, null, outShape, [x], ([xv], out) =>
      ctx.addon.sum(xv!, Int32Array.from(x.shape), Int32Array.from(axes), out));
  };
}

/** The backend's own kernel, without the one-time fallback notice. */
function passThrough(ctx: KernelContext, kernelName: string, args: Parameters<KernelFunc>[0]): TensorInfo {
  return ctx.original ? (ctx.original(args) as TensorInfo) : fallback(ctx, kernelName, args, 'no tfjs kernel');
}

/** Kernel name -> factory; a factory returns null for a backend it doesn't apply to. */
export const ELEMENTWISE_KERNELS: Readonly<Record<string, (ctx: KernelContext) => KernelFunc | null>> = Object.freeze({
  ...Object.fromEntries(Object.entries(UNARY_OPS).map(([name, op]) => [name, unaryKernel(name, op)])),
  ...Object.fromEntries(Object.entries(BINARY_OPS).map(([name, op]) => [name, binaryKernel(name, op)])),
  Sum: sumKernel,
  Identity: copyKernel('Identity'),
  Cast: copyKernel('Cast'),
});
