/**
 * One benchmark run (one configuration, one shape) for train-step-torch.mjs.
 * Sets up the backend, optionally the torch kernels, then times
 * forward + backward + Adam steps of train-step-net.mjs.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { buildNetwork, loss, trainableVariables } from './train-step-net.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const torchPackage = join(here, '..', '..', 'packages', 'backend-torch', 'dist', 'index.js');

export async function runWorker({ config, N, M, batch, size, steps, warmup, profile }) {
  const [backendName, withTorch] = config.split('+');
  await setUp(backendName === 'wasm-cpubridge' ? 'wasm' : backendName, config === 'wasm-cpubridge' ? bridgeFilterGradToCpu : registerWasmFilterGrad);
  let torch;
  if (withTorch) {
    const { enableTorchKernels, torchKernelsStatus } = await import(torchPackage);
    // PSIC_BENCH_NCHW=1 measures NCHW copies instead of channels_last views.
    const channelsLast = process.env.PSIC_BENCH_NCHW !== '1';
    // "+torchconv": only the conv kernels; "+torch": conv + element-wise + Sum.
    const elementwise = withTorch !== 'torchconv';
    if (!enableTorchKernels({ backends: [backendName], channelsLast, elementwise })) throw new Error('torch kernels unavailable');
    torch = torchKernelsStatus();
  }

  const net = buildNetwork({ N, M });
  const variables = trainableVariables(net);
  const optimizer = tf.train.adam(1e-4);
  const x = tf.randomUniform([batch, size, size, 3], 0, 1, 'float32', 7);
  const step = () => {
    const cost = optimizer.minimize(() => loss(net, x), true, variables);
    const value = cost.dataSync()[0];
    cost.dispose();
    if (!Number.isFinite(value)) throw new Error(`loss is ${value}`);
    return value;
  };

  const times = [];
  let lastLoss;
  for (let i = 0; i < warmup + steps; i++) {
    const began = performance.now();
    lastLoss = step();
    if (i >= warmup) times.push((performance.now() - began) / 1000);
  }
  const result = {
    config, N, M, batch, size, steps, warmup,
    medianS: round(median(times), 3), minS: round(Math.min(...times), 3), timesS: times.map((t) => round(t, 3)),
    loss: round(lastLoss, 3), tensors: tf.memory().numTensors,
    torchThreads: torch?.threads, torchVersion: torch?.torchVersion,
    torchLayout: torch ? (process.env.PSIC_BENCH_NCHW === '1' ? 'nchw' : 'channels_last') : undefined,
    ompWaitPolicy: torch ? process.env.OMP_WAIT_POLICY : undefined,
  };
  if (profile) result.profileMs = profileStep(backendName, step, process.env.PSIC_BENCH_PROFILE_SHAPES === '1');
  return result;
}

async function setUp(backendName, registerFilterGrad) {
  // tfjs-core registers no gradients itself; the union package's Node bundle does.
  await import('@tensorflow/tfjs');
  if (backendName === 'wasm') {
    setWasmPaths(`${dirname(createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm'))}/`);
    registerFilterGrad();
  }
  if (!(await tf.setBackend(backendName))) throw new Error(`backend ${backendName} failed to start`);
  await tf.ready();
}

/**
 * wasm has no Conv2DBackpropFilter. This one stays on wasm kernels:
 * dW[i, j] = Σ_{b, y, x} xPadded[b, y·s + i, x·s + j, :]ᵀ · dy[b, y, x, :],
 * one strided slice and one BatchMatMul per filter tap (no im2col buffer).
 */
function registerWasmFilterGrad() {
  // Resolved once, on first use, so --profile's wrappers don't count them twice.
  const resolved = {};
  const kernel = (name) => (resolved[name] ??= tf.getKernel(name, 'wasm').kernelFunc);
  tf.registerKernel({
    kernelName: 'Conv2DBackpropFilter',
    backendName: 'wasm',
    kernelFunc: ({ inputs: { x, dy }, attrs, backend }) => {
      const { strides, pad, dataFormat, dimRoundingMode, filterShape } = attrs;
      const info = tf.backend_util.computeConv2DInfo(x.shape, filterShape, strides, 1, pad, dimRoundingMode, false,
        tf.backend_util.convertConv2DDataFormat(dataFormat));
      const { top, bottom, left, right } = info.padInfo;
      const [kh, kw, cin, cout] = filterShape;
      const { batchSize: n, outHeight: oh, outWidth: ow, strideHeight: sh, strideWidth: sw } = info;
      const padded = kernel('PadV2')({ inputs: { x }, backend, attrs: { paddings: [[0, 0], [top, bottom], [left, right], [0, 0]], constantValue: 0 } });
      const dy3 = kernel('Reshape')({ inputs: { x: dy }, backend, attrs: { shape: [1, n * oh * ow, cout] } });
      const out = backend.makeOutput(filterShape, 'float32');
      for (let i = 0; i < kh; i++) {
        for (let j = 0; j < kw; j++) {
          const tap = kernel('StridedSlice')({ inputs: { x: padded }, backend, attrs: {
            begin: [0, i, j, 0], end: [n, i + (oh - 1) * sh + 1, j + (ow - 1) * sw + 1, cin], strides: [1, sh, sw, 1],
            beginMask: 0, endMask: 0, ellipsisMask: 0, newAxisMask: 0, shrinkAxisMask: 0 } });
          const tap3 = kernel('Reshape')({ inputs: { x: tap }, backend, attrs: { shape: [1, n * oh * ow, cin] } });
          const prod = kernel('BatchMatMul')({ inputs: { a: tap3, b: dy3 }, backend, attrs: { transposeA: true, transposeB: false } });
          backend.typedArrayFromHeap(out).set(backend.typedArrayFromHeap(prod), (i * kw + j) * cin * cout);
          for (const t of [tap, tap3, prod]) backend.disposeData(t.dataId);
        }
      }
      backend.disposeData(padded.dataId);
      backend.disposeData(dy3.dataId);
      return out;
    },
  });
}

/** wasm's missing Conv2DBackpropFilter run by the cpu kernel on copies, as @psic/core's registerWasmGradientKernels does. */
function bridgeFilterGradToCpu() {
  const cpuKernel = tf.getKernel('Conv2DBackpropFilter', 'cpu');
  tf.registerKernel({
    kernelName: 'Conv2DBackpropFilter',
    backendName: 'wasm',
    kernelFunc: ({ inputs, attrs, backend }) => {
      const cpu = tf.engine().findBackend('cpu');
      const cpuInputs = {};
      for (const [name, info] of Object.entries(inputs)) {
        cpuInputs[name] = { dataId: cpu.write(backend.readSync(info.dataId), info.shape, info.dtype), shape: info.shape, dtype: info.dtype };
      }
      const out = cpuKernel.kernelFunc({ inputs: cpuInputs, attrs, backend: cpu });
      const values = cpu.readSync(out.dataId);
      cpu.disposeData(out.dataId);
      for (const info of Object.values(cpuInputs)) cpu.disposeData(info.dataId);
      const info = backend.makeOutput(out.shape, out.dtype);
      backend.typedArrayFromHeap(info).set(values);
      return info;
    },
  });
}

/**
 * Milliseconds per kernel name over one step, by wrapping every kernel of
 * the backend; `byShape` keys them by input shapes too (top 30).
 */
function profileStep(backendName, step, byShape) {
  const totals = {};
  const wrapped = [];
  for (const config of tf.getKernelsForBackend(backendName)) {
    const original = config.kernelFunc;
    const kernelFunc = (args) => {
      const began = performance.now();
      try {
        return original(args);
      } finally {
        const key = byShape ? `${config.kernelName} ${Object.values(args.inputs).map((t) => t?.shape.join('x')).join(',')}` : config.kernelName;
        totals[key] = (totals[key] ?? 0) + performance.now() - began;
      }
    };
    tf.unregisterKernel(config.kernelName, backendName);
    tf.registerKernel({ ...config, kernelFunc });
    wrapped.push(config);
  }
  const began = performance.now();
  step();
  const total = performance.now() - began;
  for (const config of wrapped) {
    tf.unregisterKernel(config.kernelName, backendName);
    tf.registerKernel(config);
  }
  const all = Object.entries(totals).sort((a, b) => b[1] - a[1]).map(([k, v]) => [k, round(v, 1)]);
  const inKernels = all.reduce((a, [, v]) => a + v, 0);
  const sorted = byShape ? all.slice(0, 30) : all;
  return { stepMs: round(total, 1), inKernelsMs: round(inKernels, 1), kernels: Object.fromEntries(sorted) };
}

function median(values) {
  const s = [...values].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

function round(v, digits) {
  return Math.round(v * 10 ** digits) / 10 ** digits;
}
