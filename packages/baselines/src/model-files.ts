/**
 * A BAvAFT model on disk is two weight files side by side:
 *
 *   model.safetensors + model.json      the fine-tuned codec, a normal model:
 *                                       @psic/zoo's loadModel (and `psic
 *                                       encode/decode --model`) read it as any
 *                                       codec; the sidecar adds `bavaft` figures
 *                                       and names the trigger file
 *   trigger.safetensors + trigger.json  the trigger network (architecture
 *                                       "bavaft-trigger", its config, and the
 *                                       fingerprint of the codec it was
 *                                       trained with)
 *
 * Separate files keep the codec's fingerprint (what every .psic stream
 * carries) independent of the trigger, and let the victim's view of the
 * model — the codec alone — be exactly what is shipped to it.
 */
import { mkdir } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { fingerprintHex, loadModuleWeights, readSidecar, saveModuleWeights, sidecarPath, type HasNamedVariables, type SavedWeights } from '@psic/core';
import { PsicError } from '@psic/entropy';
import { DEFAULT_TRIGGER_CONFIG, TriggerNet, type TriggerNetConfig } from './trigger-net.js';

export const TRIGGER_ARCHITECTURE = 'bavaft-trigger';
export const CODEC_FILE = 'model.safetensors';
export const TRIGGER_FILE = 'trigger.safetensors';

export interface SaveBavaftOptions {
  codec: HasNamedVariables;
  trigger: TriggerNet;
  /** the codec's registry name and config (what loadModel needs) */
  architecture: string;
  config: Record<string, unknown>;
  /** model name (default: the folder's name) */
  name?: string;
  /** training figures etc., written into both sidecars */
  sidecar?: Record<string, unknown>;
}

export interface SavedBavaft {
  codec: SavedWeights;
  trigger: SavedWeights;
}

/** Write `dir/model.safetensors` (codec) and `dir/trigger.safetensors` (trigger network), each with its sidecar, atomically. */
export async function saveBavaftModel(dir: string, opts: SaveBavaftOptions): Promise<SavedBavaft> {
  const name = opts.name ?? basename(dir);
  const extra = opts.sidecar ?? {};
  await mkdir(dir, { recursive: true });
  // the codec first: the trigger's sidecar records which codec it goes with
  const codec = await saveModuleWeights(join(dir, CODEC_FILE), opts.codec, {
    ...extra,
    name,
    architecture: opts.architecture,
    config: opts.config,
    baseline: 'bavaft',
    trigger: TRIGGER_FILE,
  });
  const trigger = await saveModuleWeights(join(dir, TRIGGER_FILE), opts.trigger, {
    ...extra,
    name: `${name}-trigger`,
    architecture: TRIGGER_ARCHITECTURE,
    config: opts.trigger.config,
    codec: { weights: CODEC_FILE, fingerprint: fingerprintHex(codec.fingerprint) },
  });
  return { codec, trigger };
}

/** The trigger file that goes with a codec file: `trigger.safetensors` in the same folder. */
export function triggerPathFor(codecPath: string): string {
  return join(dirname(codecPath), TRIGGER_FILE);
}

/**
 * Load a trigger network from its weight file (the sidecar is required: it
 * holds the config). `codecFingerprint` (hex), when given, must be the one
 * the trigger was trained with.
 */
export async function loadTriggerNet(path: string, opts: { codecFingerprint?: string } = {}): Promise<{ trigger: TriggerNet; sidecar: Record<string, unknown> }> {
  const sidecar = await readSidecar(sidecarPath(path));
  if (sidecar.architecture !== TRIGGER_ARCHITECTURE) {
    throw new PsicError('BAD_WEIGHTS', `${path} is not a BAvAFT trigger network (architecture ${JSON.stringify(sidecar.architecture)}, expected "${TRIGGER_ARCHITECTURE}")`);
  }
  const config = sidecar.config;
  if (typeof config !== 'object' || config === null || Array.isArray(config)) throw new PsicError('BAD_WEIGHTS', `sidecar of ${path} has no "config" object`);
  // every field explicit: a default filled in silently could build a different network than the one saved
  const missing = Object.keys(DEFAULT_TRIGGER_CONFIG).filter((k) => !(k in config));
  if (missing.length > 0) throw new PsicError('BAD_WEIGHTS', `sidecar of ${path}: trigger config lacks ${missing.join(', ')}`);
  const trigger = new TriggerNet(config as TriggerNetConfig);
  try {
    await loadModuleWeights(path, trigger, { requireSidecar: true });
  } catch (err) {
    trigger.dispose();
    throw err;
  }
  const paired = (sidecar.codec as { fingerprint?: unknown } | undefined)?.fingerprint;
  if (opts.codecFingerprint !== undefined && typeof paired === 'string' && paired !== opts.codecFingerprint) {
    trigger.dispose();
    throw new PsicError('BAD_WEIGHTS', `${path} was trained with the codec ${paired}, not ${opts.codecFingerprint}`);
  }
  return { trigger, sidecar };
}
