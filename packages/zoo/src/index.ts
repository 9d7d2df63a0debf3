/**
 * The model zoo: weights shipped inside this package (models/<name>.safetensors
 * with a <name>.json sidecar holding the architecture, config and training
 * figures), and loading of users' own weight files the same way.
 */
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { backbones, fingerprintHex, installStoredCodingTables, loadModuleWeights, readSafetensors, readSidecar, type CodecModel, type ImportableBackbone, type LicBackbone } from '@psic/core';
import { PsicError } from '@psic/entropy';
import '@psic/backbone-hyperprior';
import '@psic/backbone-checkerboard';
import '@psic/backbone-channel';

/** The model `psic encode` uses when none is named. */
export const DEFAULT_MODEL = 'hyperprior-q2';

/** Shipped rate points of the default backbone, smallest files first (--quality 1, 2, ...). */
export const QUALITY_MODELS = ['hyperprior-q1', 'hyperprior-q2'];

export interface ModelInfo {
  name: string;
  architecture: string;
  config: Record<string, number | string | boolean>;
  fingerprint: string;
  weightsPath: string;
  /** everything else the sidecar records: lambda, data, steps, validation figures */
  sidecar: Record<string, unknown>;
}

export interface LoadedModel extends CodecModel {
  name: string;
  info: ModelInfo;
  backbone: LicBackbone & { namedVariables(): Record<string, import('@tensorflow/tfjs-core').Variable>; dispose?(): void };
}

/** Folder of the shipped models: <package>/models, both from src/ (tests) and dist/ (installed). */
export function modelsDir(): string {
  return join(dirname(fileURLToPath(import.meta.url)), '..', 'models');
}

/** The public owner key of the shipped PSIC demo models (README: "The demo key"); never protection for real photos. */
export function demoKeyPath(): string {
  return join(dirname(fileURLToPath(import.meta.url)), '..', 'keys', 'demo.key');
}

export function modelForQuality(quality: number): string {
  const name = QUALITY_MODELS[quality - 1];
  if (!name) throw new PsicError('USAGE', `--quality must be 1..${QUALITY_MODELS.length}`);
  return name;
}

export async function listModels(dir = modelsDir()): Promise<ModelInfo[]> {
  if (!existsSync(dir)) return [];
  const files = (await readdir(dir)).filter((f) => f.endsWith('.safetensors')).sort();
  return Promise.all(files.map((f) => modelInfo(join(dir, f))));
}

async function modelInfo(weightsPath: string): Promise<ModelInfo> {
  const sidecarPath = weightsPath.replace(/\.safetensors$/, '.json');
  if (!existsSync(sidecarPath)) throw new PsicError('BAD_WEIGHTS', `${weightsPath} has no sidecar ${sidecarPath} naming its architecture`);
  const sidecar = await readSidecar(sidecarPath);
  const architecture = sidecar.architecture;
  const config = sidecar.config;
  if (typeof architecture !== 'string' || typeof config !== 'object' || config === null) {
    throw new PsicError('BAD_WEIGHTS', `sidecar ${sidecarPath} must give "architecture" (string) and "config" (object)`);
  }
  return {
    name: typeof sidecar.name === 'string' ? sidecar.name : basename(weightsPath, '.safetensors'),
    architecture,
    config: config as ModelInfo['config'],
    fingerprint: String(sidecar.fingerprint ?? ''),
    weightsPath,
    sidecar,
  };
}

/** A shipped model by name, or a .safetensors path with its sidecar. */
export async function loadModel(nameOrPath: string): Promise<LoadedModel> {
  const path = nameOrPath.endsWith('.safetensors') ? nameOrPath : join(modelsDir(), `${nameOrPath}.safetensors`);
  if (!existsSync(path)) {
    const known = (await listModels()).map((m) => m.name);
    throw new PsicError('UNKNOWN_MODEL', `no model "${nameOrPath}"; shipped models: ${known.length ? known.join(', ') : '(none)'}`);
  }
  const info = await modelInfo(path);
  const backbone = backbones.get(info.architecture)(info.config) as LoadedModel['backbone'];
  const { fingerprint } = await loadModuleWeights(path, backbone, { requireSidecar: true });
  // imported CompressAI models carry CompressAI's CDF tables: code with them (DESIGN.md, Interop)
  if (info.sidecar.codingTables === 'stored') installStoredCodingTables(backbone as ImportableBackbone, readSafetensors(new Uint8Array(await readFile(path))).tensors);
  info.fingerprint = fingerprintHex(fingerprint);
  return { name: info.name, info, backbone, fingerprint };
}
