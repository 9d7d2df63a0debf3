/**
 * Training checkpoints: one safetensors file holding the model weights
 * (PyTorch layout, like exported weights), both Adam states under
 * `optim.main/` and `optim.aux/`, and the loop state (step, RNG, last
 * validation) as JSON in the metadata. Written to a temporary file and
 * renamed, so a `kill -9` leaves either the old or the new checkpoint.
 */
import { readFile } from 'node:fs/promises';
import type * as tf from '@tensorflow/tfjs-core';
import { PsicError } from '@psic/entropy';
import { assignWeights, collectWeights, readSafetensors, writeFileAtomic, writeSafetensors, type SafeTensor } from '@psic/core';
import type { Adam } from './adam.js';

export interface CheckpointState {
  step: number;
  rngState: number;
  lastValidation?: { bpp: number; psnr: number; mse: number; images: number };
  bestObjective?: number;
  bestValidation?: { bpp: number; psnr: number; mse: number; images: number; step: number };
  meta: Record<string, unknown>;
  options: Record<string, unknown>;
  /** loop state of a recipe run (stage figures, last validation by mode) */
  recipe?: Record<string, unknown>;
}

const MAIN = 'optim.main/';
const AUX = 'optim.aux/';

export async function saveCheckpoint(path: string, named: Record<string, tf.Variable>, main: Adam, aux: Adam, state: CheckpointState): Promise<void> {
  const tensors = collectWeights({ namedVariables: () => named });
  for (const [prefix, adam] of [[MAIN, main], [AUX, aux]] as const) {
    for (const [key, t] of Object.entries(adam.state().tensors)) tensors.set(prefix + key, { dtype: 'F32', shape: t.shape, data: t.data });
  }
  const metadata = { format: 'psic-checkpoint/1', state: JSON.stringify({ ...state, mainStep: main.step, auxStep: aux.step }) };
  await writeFileAtomic(path, writeSafetensors(tensors, metadata));
}

export async function loadCheckpoint(path: string, named: Record<string, tf.Variable>, main: Adam, aux: Adam): Promise<CheckpointState> {
  const file = readSafetensors(new Uint8Array(await readFile(path)));
  if (file.metadata.format !== 'psic-checkpoint/1' || !file.metadata.state) {
    throw new PsicError('BAD_CHECKPOINT', `${path} is not a PSIC training checkpoint`);
  }
  let state: CheckpointState & { mainStep: number; auxStep: number };
  try {
    state = JSON.parse(file.metadata.state);
  } catch (err) {
    throw new PsicError('BAD_CHECKPOINT', `${path}: unreadable training state (${(err as Error).message})`);
  }
  const modelTensors = new Map<string, SafeTensor>();
  const slots = { main: {} as Record<string, { shape: number[]; data: Float32Array }>, aux: {} as Record<string, { shape: number[]; data: Float32Array }> };
  for (const [name, t] of file.tensors) {
    if (name.startsWith(MAIN)) slots.main[name.slice(MAIN.length)] = { shape: t.shape, data: t.data as Float32Array };
    else if (name.startsWith(AUX)) slots.aux[name.slice(AUX.length)] = { shape: t.shape, data: t.data as Float32Array };
    else modelTensors.set(name, t);
  }
  assignWeights({ namedVariables: () => named }, modelTensors);
  main.restore(state.mainStep, slots.main);
  aux.restore(state.auxStep, slots.aux);
  return state;
}
