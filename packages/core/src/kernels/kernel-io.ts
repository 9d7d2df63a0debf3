/**
 * Helpers for kernels that are written with plain tfjs ops (running on the
 * active backend) instead of backend-specific code: taking the kernel's input
 * TensorInfos as Tensors, and handing an op result back as the kernel output.
 */
import * as tf from '@tensorflow/tfjs-core';

/** The parts of the cpu / wasm backend objects used to hand a result back to the engine. */
export interface OutputBackend extends tf.KernelBackend {
  makeTensorInfo?(shape: number[], dtype: tf.DataType, values?: tf.backend_util.BackendValues): tf.TensorInfo;
  makeOutput?(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap?(info: tf.TensorInfo): tf.backend_util.TypedArray;
  incRef(dataId: tf.DataId): void;
}

/** A Tensor view of a kernel input that owns its own backend reference, so disposing it leaves the input intact. */
export function borrow(info: tf.TensorInfo, backend: OutputBackend): tf.Tensor {
  const t = tf.engine().makeTensorFromTensorInfo(info);
  backend.incRef(info.dataId);
  return t;
}

/**
 * Turn `result` (a Tensor computed inside a kernel) into the kernel's output
 * on `backend`, and dispose `result`. When the result already lives on that
 * backend its buffer is handed over (one extra backend reference, then the
 * wrapper is disposed), which avoids copying the output out and back in;
 * otherwise the values are copied into a new output.
 */
export function handBack(result: tf.Tensor, backend: OutputBackend, kernelName: string): tf.TensorInfo {
  const { dataId, shape, dtype } = result;
  if (tf.engine().state.tensorInfo.get(dataId)?.backend === backend) {
    backend.incRef(dataId);
    result.dispose();
    return { dataId, shape, dtype };
  }
  const values = result.dataSync() as tf.backend_util.TypedArray;
  result.dispose();
  if (backend.makeOutput && backend.typedArrayFromHeap) {
    const out = backend.makeOutput(shape, dtype);
    backend.typedArrayFromHeap(out).set(values);
    return out;
  }
  if (backend.makeTensorInfo) return backend.makeTensorInfo(shape, dtype, values);
  throw new Error(`${kernelName}: unsupported backend`);
}
