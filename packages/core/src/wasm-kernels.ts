/**
 * Gradient kernels the tfjs 4.22 wasm backend lacks or gets wrong, filled in
 * with the cpu backend's implementations (measured in /work/shared/FACTS.md):
 * - both depthwise backprops are missing (Conv2DBackpropFilter is missing
 *   too; kernels/conv2d-backprop-filter.ts gives it a fast implementation);
 * - MaxPoolGrad is silently wrong when a whole window is negative.
 * Each bridged kernel copies its inputs from the wasm heap into the cpu
 * backend, runs the cpu kernel there, and copies the result back. Slower than
 * native, but exact (bit-identical to the cpu backend).
 */
import * as tf from '@tensorflow/tfjs-core';

export const CPU_BRIDGED_WASM_KERNELS: readonly string[] = Object.freeze([
  'DepthwiseConv2dNativeBackpropFilter',
  'DepthwiseConv2dNativeBackpropInput',
  'MaxPoolGrad',
]);

/** The parts of tfjs's wasm backend object the bridge uses. */
interface WasmHeapBackend extends tf.KernelBackend {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(info: tf.TensorInfo): tf.backend_util.TypedArray;
}

/**
 * Register (or replace) the wasm kernels in CPU_BRIDGED_WASM_KERNELS so they
 * run the cpu implementation. Needs both backends registered; idempotent.
 */
export function registerWasmGradientKernels(): void {
  for (const kernelName of CPU_BRIDGED_WASM_KERNELS) {
    const cpuKernel = tf.getKernel(kernelName, 'cpu');
    if (!cpuKernel) throw new Error(`the cpu backend has no ${kernelName} kernel to bridge`);
    if (tf.getKernel(kernelName, 'wasm')) tf.unregisterKernel(kernelName, 'wasm');
    tf.registerKernel({ kernelName, backendName: 'wasm', kernelFunc: bridgeToCpu(cpuKernel.kernelFunc) });
  }
}

function bridgeToCpu(cpuKernelFunc: tf.KernelFunc): tf.KernelFunc {
  return ({ inputs, attrs, backend }) => {
    const wasm = backend as WasmHeapBackend;
    const cpu = tf.engine().findBackend('cpu');
    if (!cpu) throw new Error('the cpu backend is not available to run a bridged wasm kernel');

    const cpuInputs: tf.NamedTensorInfoMap = {};
    for (const [name, info] of Object.entries(inputs)) {
      if (!info) continue;
      const values = wasm.readSync(info.dataId) as tf.backend_util.TypedArray;
      cpuInputs[name] = { dataId: cpu.write(values, info.shape, info.dtype), shape: info.shape, dtype: info.dtype };
    }
    try {
      const result = cpuKernelFunc({ inputs: cpuInputs, attrs, backend: cpu });
      const outputs = Array.isArray(result) ? result : [result];
      const copied = outputs.map((out) => {
        const values = cpu.readSync(out.dataId) as tf.backend_util.TypedArray;
        cpu.disposeData(out.dataId);
        const info = wasm.makeOutput(out.shape, out.dtype);
        wasm.typedArrayFromHeap(info).set(values);
        return info;
      });
      return Array.isArray(result) ? copied : copied[0];
    } finally {
      for (const info of Object.values(cpuInputs)) if (info) cpu.disposeData(info.dataId);
    }
  };
}
