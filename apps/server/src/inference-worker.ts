/**
 * Entry of one inference thread (worker_threads): picks the tensor backend,
 * imports the configured plug-in modules, loads every served model once, then
 * runs one task at a time for the pool. All tensor work and image coding
 * happens here, off the server's event loop.
 */
import { readFile } from 'node:fs/promises';
import { parentPort, workerData } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import { encodeImage, encodePng, readImage, selectBackend, writeFileAtomic } from '@psic/core';
import { PsicError } from '@psic/entropy';
import { decodeStream } from './decode-stream.js';
import { createLabeler, type Labeler } from './labels.js';
import type { InferenceWorkerOptions, Task, TaskResult, WorkerMessage } from './protocol.js';
import { loadServedModels, summarise, type ServedModel } from './served-model.js';

const port = parentPort;
if (!port) throw new Error('inference-worker.ts runs as a worker thread of the server');
const options = workerData as InferenceWorkerOptions;

function post(message: WorkerMessage, transfer: ArrayBuffer[] = []): void {
  port!.postMessage(message, transfer);
}

function errorOf(err: unknown): { code: string; message: string } {
  if (err instanceof PsicError) return { code: err.code, message: err.message };
  // a missing input file of a batch job is the job's fault, not the server's
  const sys = err as NodeJS.ErrnoException;
  if (sys && typeof sys.code === 'string' && typeof sys.syscall === 'string') return { code: 'BAD_INPUT', message: sys.message };
  return { code: 'INTERNAL', message: (err as Error)?.stack ?? String(err) };
}

async function start(): Promise<{ models: Map<string, ServedModel>; labeler: Labeler | null }> {
  const backend = await selectBackend(options.backend ?? 'auto', { log: () => {} });
  for (const spec of options.imports) await import(spec);
  const { models, skipped } = await loadServedModels(options.modelsDir);
  await warmUp(models.values().next().value!);
  const labeler = options.labelTarget
    ? await createLabeler(options.labelTarget, { candidates: options.labelCandidates, targetOptions: options.labelTargetOptions })
    : null;
  post({
    type: 'ready',
    backend,
    // where the float transforms run (tfjs today; an ONNX runtime would say 'onnx')
    runtime: 'tfjs',
    models: [...models.values()].map(summarise),
    skipped,
    labels: labeler ? { target: labeler.target, candidates: [...labeler.candidates] } : null,
  });
  return { models, labeler };
}

/** One small encode + decode so the first real request doesn't pay for kernel compilation and weight upload. */
async function warmUp(model: ServedModel): Promise<void> {
  const size = 64;
  const data = new Float32Array(size * size * 3);
  for (let i = 0; i < data.length; i++) data[i] = ((i * 37) % 255) / 255;
  const stream = await encodeImage(model, { height: size, width: size, data });
  const mode = model.conditional?.modes.find((m) => !m.keyed); // a keyed mode would need a key
  if (!model.conditional || mode) await decodeStream(stream, { model, mode: mode?.name });
}

/** The wasm backend's memory only grows; past the budget the pool replaces this thread to give it back. */
function heapTooLarge(): boolean {
  const wasm = (tf.backend() as { wasm?: { HEAPU8?: Uint8Array } }).wasm;
  return (wasm?.HEAPU8?.byteLength ?? 0) > options.maxHeapBytes;
}

function modelNamed(models: Map<string, ServedModel>, name: string): ServedModel {
  const model = models.get(name);
  if (!model) throw new PsicError('UNKNOWN_MODEL', `no model "${name}"; served: ${[...models.keys()].join(', ')}`);
  return model;
}

async function run(task: Task, models: Map<string, ServedModel>, labeler: Labeler | null): Promise<{ result: TaskResult; transfer: ArrayBuffer[] }> {
  const limits = options.limits;
  switch (task.kind) {
    case 'encode': {
      const model = modelNamed(models, task.model);
      const img = await readImage(task.image, limits);
      const stream = await encodeImage(model, img, limits);
      return { result: { stream, width: img.width, height: img.height, model: model.name }, transfer: [stream.buffer as ArrayBuffer] };
    }
    case 'decode': {
      const model = modelNamed(models, task.model);
      const { image, mode } = await decodeStream(task.stream, { model, mode: task.mode, key: task.key, limits });
      const png = new Uint8Array(await encodePng(image));
      return { result: { png, width: image.width, height: image.height, mode, model: model.name }, transfer: [png.buffer as ArrayBuffer] };
    }
    case 'labels': {
      if (!labeler) throw new PsicError('LABELS_UNAVAILABLE', 'no semantic target is configured on this server');
      const img = await readImage(task.image, limits);
      return { result: { target: labeler.target, labels: labeler.top(img, 3) }, transfer: [] };
    }
    case 'encode-file': {
      const model = modelNamed(models, task.model);
      const img = await readImage(new Uint8Array(await readFile(task.input)), limits);
      const stream = await encodeImage(model, img, limits);
      await writeFileAtomic(task.output, stream);
      return { result: { output: task.output, bytes: stream.length, width: img.width, height: img.height, model: model.name }, transfer: [] };
    }
  }
}

start().then(
  ({ models, labeler }) => {
    port.on('message', (msg: { id: number; task: Task }) => {
      run(msg.task, models, labeler).then(
        ({ result, transfer }) => post({ type: 'result', id: msg.id, result, recycle: heapTooLarge() }, transfer),
        (err: unknown) => post({ type: 'error', id: msg.id, error: errorOf(err), recycle: heapTooLarge() }),
      );
    });
  },
  (err: unknown) => post({ type: 'fatal', error: errorOf(err) }),
);
