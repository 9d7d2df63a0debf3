/**
 * Conditional model files: ONE safetensors file holding the backbone's
 * variables under their own names and the adapter's under `cltg.*`, and a
 * sidecar recording the backbone (`architecture`, `config` — so a plain
 * loader such as @psic/zoo still encodes with it), the adapter (`adapter`:
 * modes, sizes, salt, KDF parameters) and whatever the trainer adds (target,
 * recipe, training figures). Never the key. The weights' fingerprint covers
 * backbone and adapter together, so a stream names the exact model.
 */
import { readFile } from 'node:fs/promises';
import type * as tf from '@tensorflow/tfjs-core';
import { PsicError } from '@psic/entropy';
import {
  assignWeights,
  backbones,
  loadModuleWeights,
  readSafetensors,
  readSidecar,
  saveModuleWeights,
  sidecarPath,
  type BackboneConfig,
  type LicBackbone,
  type SavedWeights,
} from '@psic/core';
import { ADAPTER_NAME, ConditionalSynthesis, type AdapterDescription, type ConditionalSynthesisOptions } from './conditional-synthesis.js';
import { SALT_BYTES, validateKdf } from './condition.js';
import { validateModes } from './modes.js';

/** Sidecar fields a caller may not set: the loader derives them from the model itself. */
const RESERVED = ['architecture', 'config', 'adapter', 'weights', 'fingerprint'];
/** Fields that would give away a key. */
const FORBIDDEN = ['key', 'keyFile', 'secret'];

export async function saveConditionalModel(path: string, model: ConditionalSynthesis, sidecar: Record<string, unknown> = {}): Promise<SavedWeights> {
  for (const field of Object.keys(sidecar)) {
    if (RESERVED.includes(field)) throw new Error(`sidecar field "${field}" is written by saveConditionalModel itself`);
    if (FORBIDDEN.includes(field)) throw new Error(`sidecar field "${field}" must never be stored with a model`);
  }
  return saveModuleWeights(path, model, {
    ...sidecar,
    architecture: model.backbone.name,
    config: model.backbone.config,
    adapter: model.describe(),
  });
}

export function isConditionalSidecar(sidecar: Record<string, unknown> | undefined): boolean {
  const a = sidecar?.adapter as { name?: unknown } | undefined;
  return typeof a === 'object' && a !== null && a.name === ADAPTER_NAME;
}

/** The adapter's construction options from a sidecar, validated (a sidecar is outside input). */
export function adapterOptionsFromSidecar(sidecar: Record<string, unknown>, where = 'sidecar'): ConditionalSynthesisOptions {
  if (!isConditionalSidecar(sidecar)) throw new PsicError('NOT_CONDITIONAL', `${where} describes no ${ADAPTER_NAME} adapter: the model has one decoding only`);
  const a = sidecar.adapter as Partial<AdapterDescription>;
  if (a.version !== 1) throw new PsicError('BAD_WEIGHTS', `${where}: adapter version ${JSON.stringify(a.version)} is not supported (this reader knows 1)`);
  const salt = typeof a.salt === 'string' && /^[0-9a-f]+$/.test(a.salt) && a.salt.length === 2 * SALT_BYTES ? new Uint8Array(Buffer.from(a.salt, 'hex')) : undefined;
  if (!salt) throw new PsicError('BAD_WEIGHTS', `${where}: adapter salt must be ${SALT_BYTES} bytes of hex`);
  const ints = { conditionDim: a.conditionDim, hidden: a.hidden, frequencies: a.frequencies };
  for (const [k, v] of Object.entries(ints)) if (!Number.isInteger(v)) throw new PsicError('BAD_WEIGHTS', `${where}: adapter ${k} must be an integer`);
  let modes;
  try {
    modes = validateModes(a.modes);
  } catch (err) {
    throw new PsicError('BAD_WEIGHTS', `${where}: ${(err as Error).message}`);
  }
  return { modes, conditionDim: a.conditionDim, hidden: a.hidden, frequencies: a.frequencies, salt, kdf: validateKdf(a.kdf) };
}

export interface LoadedConditionalModel {
  model: ConditionalSynthesis;
  fingerprint: Uint8Array;
  sidecar: Record<string, unknown>;
}

/** Load a conditional model file: the backbone is built from the registry by the sidecar's architecture. */
export async function loadConditionalModel(path: string): Promise<LoadedConditionalModel> {
  const sidecar = await readSidecar(sidecarPath(path));
  const options = adapterOptionsFromSidecar(sidecar, sidecarPath(path));
  const { architecture, config } = sidecar;
  if (typeof architecture !== 'string' || typeof config !== 'object' || config === null) {
    throw new PsicError('BAD_WEIGHTS', `sidecar ${sidecarPath(path)} must give "architecture" (string) and "config" (object)`);
  }
  const backbone = backbones.get(architecture)(config as BackboneConfig);
  const model = construct(backbone, options);
  const loaded = await loadModuleWeights(path, model, { requireSidecar: true });
  return { model, fingerprint: loaded.fingerprint, sidecar };
}

/**
 * Put the adapter stored in `path` on a backbone whose weights were already
 * loaded from the same file (e.g. by @psic/zoo's loadModel, which reads the
 * backbone's tensors and leaves the `cltg.*` ones unused).
 */
export async function attachConditional(backbone: LicBackbone, path: string, sidecar: Record<string, unknown>): Promise<ConditionalSynthesis> {
  const model = construct(backbone, adapterOptionsFromSidecar(sidecar, sidecarPath(path)));
  const file = readSafetensors(new Uint8Array(await readFile(path)));
  assignWeights({ namedVariables: (): Record<string, tf.Variable> => model.adapterVariables() }, file.tensors);
  return model;
}

function construct(backbone: LicBackbone, options: ConditionalSynthesisOptions): ConditionalSynthesis {
  try {
    return new ConditionalSynthesis(backbone, options);
  } catch (err) {
    if (err instanceof PsicError) throw new PsicError('BAD_WEIGHTS', err.message, { cause: err });
    throw err;
  }
}
