/**
 * Model files shipped inside installed npm packages, read strictly offline:
 * a package is found through Node's module resolution (never the network),
 * a graph model's `model.json` and its weight shards are read from disk and
 * handed to tfjs through a custom IOHandler, and weight manifests without a
 * topology (face-api) are decoded into named tensors.
 */
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve, sep } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { PsicError } from '@psic/entropy';
import { rewriteReluClips, scalarConstants } from './graph-rewrite.js';

const requireHere = createRequire(import.meta.url);

/**
 * The root folder of an installed package: the nearest folder above its
 * resolved entry point that holds a package.json naming it (some packages,
 * e.g. nsfwjs, do not export their package.json). PsicError
 * 'MODEL_PACKAGE_MISSING' when it is not installed.
 */
export function packageRoot(name: string): string {
  let entry: string;
  try {
    entry = requireHere.resolve(name);
  } catch (cause) {
    throw new PsicError('MODEL_PACKAGE_MISSING', `npm package "${name}" is not installed; it ships the model weights (npm install ${name})`, { cause });
  }
  for (let dir = dirname(entry); dir !== dirname(dir); dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && dir.endsWith(`${sep}${name.split('/').join(sep)}`)) return dir;
  }
  throw new PsicError('MODEL_PACKAGE_MISSING', `could not find the folder of npm package "${name}" (resolved to ${entry})`);
}

/** A file inside a package; PsicError 'MODEL_FILE_MISSING' when the installed version lacks it. */
export function packageFile(pkg: string, relative: string): string {
  const path = join(packageRoot(pkg), relative);
  if (!existsSync(path)) throw new PsicError('MODEL_FILE_MISSING', `npm package "${pkg}" has no ${relative} (expected at ${path}); check its version`);
  return path;
}

/** Read a file the way every loader here does: a missing or unreadable file is a PsicError. */
async function readModelFile(path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (cause) {
    throw new PsicError('MODEL_FILE_MISSING', `cannot read model file ${path}: ${(cause as Error).message}`, { cause });
  }
}

/** A shard path from a manifest, resolved inside the model's folder (no "../" escapes). */
function shardPath(folder: string, relative: unknown, source: string): string {
  if (typeof relative !== 'string' || relative.length === 0) throw new PsicError('BAD_MODEL_FILE', `${source}: a weight path is not a string`);
  const path = resolve(folder, relative);
  if (!path.startsWith(folder + sep)) throw new PsicError('BAD_MODEL_FILE', `${source}: weight path "${relative}" leaves the model folder`);
  return path;
}

/** The manifest groups of a parsed model.json / weights manifest, checked for shape. */
function manifestGroups(manifest: unknown, source: string): tf.io.WeightsManifestConfig {
  const ok = Array.isArray(manifest) && manifest.every((g) => g && Array.isArray(g.paths) && Array.isArray(g.weights));
  if (!ok) throw new PsicError('BAD_MODEL_FILE', `${source}: weightsManifest must be a list of { paths, weights } groups`);
  return manifest as tf.io.WeightsManifestConfig;
}

/** Every group's shard files, concatenated in manifest order, with the matching weight specs. */
async function readShards(folder: string, groups: tf.io.WeightsManifestConfig, source: string): Promise<{ specs: tf.io.WeightsManifestEntry[]; data: ArrayBuffer }> {
  const specs: tf.io.WeightsManifestEntry[] = [];
  const parts: Buffer[] = [];
  for (const group of groups) {
    for (const relative of group.paths) parts.push(await readModelFile(shardPath(folder, relative, source)));
    specs.push(...group.weights);
  }
  const joined = Buffer.concat(parts);
  return { specs, data: joined.buffer.slice(joined.byteOffset, joined.byteOffset + joined.byteLength) as ArrayBuffer };
}

async function readJson(path: string): Promise<unknown> {
  const text = (await readModelFile(path)).toString('utf8');
  try {
    return JSON.parse(text);
  } catch (cause) {
    throw new PsicError('BAD_MODEL_FILE', `${path} is not valid JSON: ${(cause as Error).message}`, { cause });
  }
}

export interface ModelJsonOptions {
  /** Rewrite ReLU6 clip chains of a graph model for faster gradients (graph-rewrite.ts); default false. */
  rewriteReluClips?: boolean;
}

/**
 * An IOHandler for a tfjs `model.json` on disk (graph or layers format): the
 * topology from the JSON, and the weight files its manifest lists, read from
 * the same folder and concatenated in manifest order.
 */
export function modelJsonHandler(jsonPath: string, options: ModelJsonOptions = {}): tf.io.IOHandler {
  return {
    async load(): Promise<tf.io.ModelArtifacts> {
      const json = (await readJson(jsonPath)) as Partial<tf.io.ModelJSON> | null;
      if (!json || typeof json !== 'object' || !json.modelTopology) throw new PsicError('BAD_MODEL_FILE', `${jsonPath}: no modelTopology`);
      const { specs, data } = await readShards(dirname(jsonPath), manifestGroups(json.weightsManifest, jsonPath), jsonPath);
      const nodes = (json.modelTopology as { node?: unknown }).node;
      if (options.rewriteReluClips && Array.isArray(nodes)) rewriteReluClips(nodes, scalarConstants(specs, data));
      return {
        modelTopology: json.modelTopology,
        format: json.format,
        generatedBy: json.generatedBy,
        convertedBy: json.convertedBy,
        signature: json.signature,
        userDefinedMetadata: json.userDefinedMetadata,
        modelInitializer: json.modelInitializer,
        weightSpecs: specs,
        weightData: data,
      };
    },
  };
}

/** A weights manifest on disk (face-api's `*-weights_manifest.json`), decoded into named float tensors. */
export async function loadWeightManifest(manifestPath: string): Promise<tf.NamedTensorMap> {
  const groups = manifestGroups(await readJson(manifestPath), manifestPath);
  const { specs, data } = await readShards(dirname(manifestPath), groups, manifestPath);
  return decodeWeightData(data, specs, manifestPath);
}

/** tf.io.decodeWeights with a size check first, so a truncated file is a clear error rather than a RangeError. */
export function decodeWeightData(data: ArrayBuffer, specs: tf.io.WeightsManifestEntry[], source: string): tf.NamedTensorMap {
  const needed = specs.reduce((sum, s) => {
    const count = s.shape.reduce((a, b) => a * b, 1);
    const dtype = s.quantization?.dtype ?? s.dtype;
    const bytes = dtype === 'uint8' ? 1 : dtype === 'uint16' || dtype === 'float16' ? 2 : 4;
    return sum + count * bytes;
  }, 0);
  if (data.byteLength < needed) throw new PsicError('BAD_MODEL_FILE', `${source}: weights need ${needed} bytes, the files hold ${data.byteLength}`);
  return tf.io.decodeWeights(data, specs);
}
