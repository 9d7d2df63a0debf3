/**
 * Zero-copy access to tensor memory for the two backends we override.
 * wasm: views onto the wasm heap. Allocating an output may grow the heap
 * and detach earlier views, so callers allocate outputs first and take
 * input views afterwards. cpu: the backend's own Float32Arrays.
 */
import type { KernelBackend, TensorInfo } from '@tensorflow/tfjs-core';

export type SupportedBackend = 'wasm' | 'cpu';

interface WasmBackend extends KernelBackend {
  makeOutput(shape: number[], dtype: 'float32'): TensorInfo;
  typedArrayFromHeap(info: TensorInfo): Float32Array;
}

interface CpuBackend extends KernelBackend {
  data: { get(dataId: object): { values?: unknown } | undefined };
  makeTensorInfo(shape: number[], dtype: 'float32', values: Float32Array): TensorInfo;
}

export interface TensorMemory {
  /** Allocates a float32 output; its view is valid until the next allocation. */
  allocate(shape: number[]): { info: TensorInfo; view: () => Float32Array };
  /** The float32 data of an input, or null when it is not a plain Float32Array. */
  read(info: TensorInfo): Float32Array | null;
}

export function tensorMemory(backendName: SupportedBackend, backend: KernelBackend): TensorMemory {
  if (backendName === 'wasm') {
    const wasm = backend as WasmBackend;
    return {
      allocate(shape) {
        const info = wasm.makeOutput(shape, 'float32');
        return { info, view: () => wasm.typedArrayFromHeap(info) };
      },
      read: (info) => (info.dtype === 'float32' ? wasm.typedArrayFromHeap(info) : null),
    };
  }
  const cpu = backend as CpuBackend;
  return {
    allocate(shape) {
      const values = new Float32Array(shape.reduce((a, b) => a * b, 1));
      const info = cpu.makeTensorInfo(shape, 'float32', values);
      return { info, view: () => values };
    },
    read(info) {
      const values = info.dtype === 'float32' ? cpu.data.get(info.dataId)?.values : undefined;
      return values instanceof Float32Array ? values : null;
    },
  };
}
