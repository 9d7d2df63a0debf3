/**
 * CompressAI state dicts -> registered backbones, by data: each backbone
 * package registers one `CompressaiArchitecture` per CompressAI model it can
 * host (its name, the backbone it maps to, where N / M are read from, any
 * key renames); everything else here is shared:
 *
 * - key names across CompressAI versions: a DataParallel `module.` prefix,
 *   and the entropy bottleneck's `matrices.i` (>= 1.2.6), `_matrices.i`
 *   (the 2020 zoo files) and `_matrix{i}` (1.0 - 1.2.5, and ours);
 * - the architecture, when not named, is the one registered architecture
 *   whose every variable finds a tensor of the right shape and which leaves
 *   no key unexplained;
 * - CompressAI's constant buffers (GDN pedestals and bounds, likelihood and
 *   scale bounds, the bottleneck's target, the scale table) must equal what
 *   our layers assume, so the import is exact or refused;
 * - the stored CDF tables are handed to the backbone (`installCodingTables`)
 *   so it codes with them rather than rebuilding its own.
 */
import { EntropyBottleneck, GaussianConditional, PsicError, type CdfTableSet } from '@psic/entropy';
import type { Variable } from '@tensorflow/tfjs-core';
import type { BackboneConfig, LicBackbone } from '../backbone.js';
import { GDN } from '../layers/gdn.js';
import { joinName } from '../layers/module.js';
import { PEDESTAL } from '../layers/non-negative.js';
import { Sequential } from '../layers/sequential.js';
import { torchLayoutOf, torchShapeOf } from '../layers/torch-layout.js';
import { backbones, Registry } from '../registry.js';
import type { SafeTensor } from '../safetensors-format.js';
import { assignWeights, collectWeights } from '../weights-file.js';
import { cdfTablesFromTensors, cdfTablesToTensors, CDF_BUFFERS } from './compressai-tables.js';
import { badCheckpoint } from './errors.js';

/** One CompressAI model a backbone can host. Registering one is all it takes to import it. */
export interface CompressaiArchitecture {
  /** CompressAI's name (compressai.zoo, `--arch`) */
  readonly name: string;
  /** CompressAI's class, for messages */
  readonly className: string;
  /** registry name of the backbone the weights load into */
  readonly backbone: string;
  /** each config field from a checkpoint tensor's dimension, e.g. N: ['g_a.0.weight', 0] */
  readonly config: Readonly<Record<string, readonly [key: string, dim: number]>>;
  /** renames of this architecture's keys, CompressAI -> ours, applied after the common ones */
  readonly renames?: readonly (readonly [RegExp, string])[];
  /** buffers the backbone rebuilds itself and the importer may skip (e.g. a mask) */
  readonly skippedBuffers?: readonly RegExp[];
}

export const compressaiArchitectures = new Registry<CompressaiArchitecture>('CompressAI architecture');

/** CompressAI's module names for the two entropy models (the same in every model it has). */
export const ENTROPY_BOTTLENECK = 'entropy_bottleneck';
export const GAUSSIAN_CONDITIONAL = 'gaussian_conditional';

/** Stored coding tables, as a backbone's `installCodingTables` takes them. */
export interface CodingTables {
  entropyBottleneck: CdfTableSet;
  gaussianConditional: CdfTableSet;
}

export type ImportableBackbone = LicBackbone & {
  namedVariables(): Record<string, Variable>;
  installCodingTables?(tables: CodingTables): void;
  dispose?(): void;
};

export interface CompressaiImport {
  architecture: CompressaiArchitecture;
  config: BackboneConfig;
  /** the backbone with the checkpoint's weights (and stored tables, when it takes them) */
  backbone: ImportableBackbone;
  /** the checkpoint's CDF tables; undefined when it was saved before CompressAI's update() */
  storedTables?: CodingTables;
  /** whether the backbone now codes with the stored tables */
  tablesInstalled: boolean;
  /** checkpoint keys that were renamed, [theirs, ours] */
  renamed: [string, string][];
  /** constant buffers checked equal to ours */
  checkedBuffers: string[];
}

const COMMON_RENAMES: readonly (readonly [RegExp, string])[] = [
  [/^entropy_bottleneck\.(?:_?matrices\.|_matrix)(\d+)$/, 'entropy_bottleneck._matrix$1'],
  [/^entropy_bottleneck\.(?:_?biases\.|_bias)(\d+)$/, 'entropy_bottleneck._bias$1'],
  [/^entropy_bottleneck\.(?:_?factors\.|_factor)(\d+)$/, 'entropy_bottleneck._factor$1'],
];

/** Relative difference under which a stored float32 constant equals ours (float32 has ~6e-8). */
const CONSTANT_TOLERANCE = 1e-6;

/**
 * Load a CompressAI state dict into the matching backbone. `architecture`
 * names it (see `compressaiArchitectures`); without it the architecture is
 * recognised from the keys and shapes. Throws PsicError('BAD_CHECKPOINT')
 * naming the first key that does not fit.
 */
export function importCompressai(tensors: ReadonlyMap<string, SafeTensor>, opts: { architecture?: string } = {}): CompressaiImport {
  const { map: common, renamed } = renameKeys(tensors, COMMON_RENAMES, true);
  let architecture: CompressaiArchitecture;
  if (opts.architecture !== undefined) {
    if (!compressaiArchitectures.has(opts.architecture)) {
      throw new PsicError('BAD_CHECKPOINT', `unknown CompressAI architecture "${opts.architecture}"; supported: ${compressaiArchitectures.list().join(', ')}`);
    }
    architecture = compressaiArchitectures.get(opts.architecture);
  } else {
    architecture = detectArchitecture(common);
  }
  const own = renameKeys(common, architecture.renames ?? [], false);
  const mapped = own.map;
  const config = configFrom(architecture, mapped);
  const backbone = backbones.get(architecture.backbone)(config) as ImportableBackbone;
  try {
    const problem = fitProblem(backbone, mapped, architecture);
    if (problem) badCheckpoint(`not a ${architecture.name} (${architecture.className}) state dict: ${problem}`);
    const { unusedKeys } = assignWeights(backbone, mapped);
    const checkedBuffers = checkConstants(backbone, mapped, unusedKeys, architecture);
    const storedTables = readStoredTables(backbone, mapped);
    const tablesInstalled = storedTables !== undefined && typeof backbone.installCodingTables === 'function';
    if (storedTables && tablesInstalled) backbone.installCodingTables!(storedTables);
    return { architecture, config, backbone, storedTables, tablesInstalled, renamed: [...renamed, ...own.renamed], checkedBuffers };
  } catch (err) {
    backbone.dispose?.();
    throw err;
  }
}

/**
 * Install the CDF tables an imported model file carries (the same buffer
 * names as in the checkpoint) into a backbone loaded from it. Returns
 * whether there were tables to install.
 */
export function installStoredCodingTables(backbone: ImportableBackbone, tensors: ReadonlyMap<string, SafeTensor>): boolean {
  const tables = readStoredTables(backbone, tensors);
  if (!tables) return false;
  if (typeof backbone.installCodingTables !== 'function') throw new PsicError('BAD_WEIGHTS', `backbone ${backbone.name} cannot take stored CDF tables`);
  backbone.installCodingTables(tables);
  return true;
}

// ---------------------------------------------------------------- architecture

function renameKeys(
  tensors: ReadonlyMap<string, SafeTensor>,
  rules: readonly (readonly [RegExp, string])[],
  stripDataParallel: boolean,
): { map: Map<string, SafeTensor>; renamed: [string, string][] } {
  const map = new Map<string, SafeTensor>();
  const renamed: [string, string][] = [];
  for (const [key, t] of tensors) {
    let name = stripDataParallel && key.startsWith('module.') ? key.slice('module.'.length) : key;
    for (const [pattern, replacement] of rules) name = name.replace(pattern, replacement);
    if (map.has(name)) badCheckpoint(`keys "${key}" and another both map to "${name}"`);
    if (name !== key) renamed.push([key, name]);
    map.set(name, t);
  }
  return { map, renamed };
}

function configFrom(architecture: CompressaiArchitecture, tensors: ReadonlyMap<string, SafeTensor>): BackboneConfig {
  const config: Record<string, number> = {};
  for (const [field, [key, dim]] of Object.entries(architecture.config)) {
    const size = tensors.get(key)?.shape[dim];
    if (size === undefined) badCheckpoint(`not a ${architecture.name} state dict: no "${key}" to read ${field} from`);
    config[field] = size;
  }
  return config;
}

function detectArchitecture(tensors: ReadonlyMap<string, SafeTensor>): CompressaiArchitecture {
  const reasons: string[] = [];
  const fits: CompressaiArchitecture[] = [];
  for (const name of compressaiArchitectures.list()) {
    const architecture = compressaiArchitectures.get(name);
    const mapped = renameKeys(tensors, architecture.renames ?? [], false).map;
    let backbone: ImportableBackbone | undefined;
    try {
      backbone = backbones.get(architecture.backbone)(configFrom(architecture, mapped)) as ImportableBackbone;
      const problem = fitProblem(backbone, mapped, architecture);
      if (problem) reasons.push(`${name}: ${problem}`);
      else fits.push(architecture);
    } catch (err) {
      reasons.push(`${name}: ${(err as Error).message}`);
    } finally {
      backbone?.dispose?.();
    }
  }
  if (fits.length === 1) return fits[0]!;
  if (fits.length > 1) badCheckpoint(`the state dict fits ${fits.map((a) => a.name).join(' and ')}; name one with --arch`);
  return badCheckpoint(`the state dict is none of the supported CompressAI architectures:\n  ${reasons.join('\n  ')}`);
}

/** Why the tensors do not load into this backbone exactly, or undefined when they do. */
function fitProblem(backbone: ImportableBackbone, tensors: ReadonlyMap<string, SafeTensor>, architecture: CompressaiArchitecture): string | undefined {
  const variables = backbone.namedVariables();
  for (const [name, v] of Object.entries(variables)) {
    const t = tensors.get(name);
    if (!t) return `missing "${name}"`;
    const expected = torchShapeOf(v.shape, torchLayoutOf(v));
    if (t.shape.length !== expected.length || t.shape.some((d, i) => d !== expected[i])) return `"${name}" has shape [${t.shape}], expected [${expected}]`;
  }
  const known = new Set([...Object.keys(variables), ...expectedConstants(backbone).keys(), ...tableKeys()]);
  for (const key of tensors.keys()) {
    if (!known.has(key) && !architecture.skippedBuffers?.some((p) => p.test(key))) return `unexpected key "${key}"`;
  }
  return undefined;
}

// ---------------------------------------------------------------- buffers

function tableKeys(): string[] {
  return [ENTROPY_BOTTLENECK, GAUSSIAN_CONDITIONAL].flatMap((prefix) => CDF_BUFFERS.map((b) => `${prefix}.${b}`));
}

/** The constant buffers CompressAI stores for our backbone's layers, with the values our layers use. */
function expectedConstants(backbone: ImportableBackbone): Map<string, number | ArrayLike<number>> {
  const out = new Map<string, number | ArrayLike<number>>();
  const visit = (value: unknown, prefix: string): void => {
    if (value instanceof Sequential) {
      value.layers.forEach((layer, i) => visit(layer, joinName(prefix, value.name, String(value.firstIndex + i))));
    } else if (Array.isArray(value)) {
      for (const item of value) visit(item, prefix);
    } else if (value instanceof GDN) {
      const p = joinName(prefix, value.name);
      for (const [param, reparam] of [['beta', value.betaReparam], ['gamma', value.gammaReparam]] as const) {
        out.set(`${p}.${param}_reparam.pedestal`, PEDESTAL);
        out.set(`${p}.${param}_reparam.lower_bound.bound`, reparam.bound);
      }
    } else if (value instanceof EntropyBottleneck) {
      const t = Math.log(2 / value.tailMass - 1);
      out.set(`${ENTROPY_BOTTLENECK}.target`, [-t, 0, t]);
      out.set(`${ENTROPY_BOTTLENECK}.likelihood_lower_bound.bound`, value.likelihoodBound);
    } else if (value instanceof GaussianConditional) {
      out.set(`${GAUSSIAN_CONDITIONAL}.scale_table`, value.scaleTable);
      out.set(`${GAUSSIAN_CONDITIONAL}.scale_bound`, value.scaleBound);
      out.set(`${GAUSSIAN_CONDITIONAL}.lower_bound_scale.bound`, value.scaleBound);
      out.set(`${GAUSSIAN_CONDITIONAL}.likelihood_lower_bound.bound`, value.likelihoodBound);
    }
  };
  for (const value of Object.values(backbone)) visit(value, '');
  return out;
}

/** Every leftover key is a constant equal to ours, a CDF buffer, or skippable; returns the constants checked. */
function checkConstants(backbone: ImportableBackbone, tensors: ReadonlyMap<string, SafeTensor>, unused: string[], architecture: CompressaiArchitecture): string[] {
  const expected = expectedConstants(backbone);
  const tables = new Set(tableKeys());
  const checked: string[] = [];
  for (const key of unused) {
    if (tables.has(key) || architecture.skippedBuffers?.some((p) => p.test(key))) continue;
    const want = expected.get(key);
    if (want === undefined) badCheckpoint(`unexpected key "${key}"`);
    const have = tensors.get(key)!;
    const values = typeof want === 'number' ? [want] : Array.from(want);
    if (!(have.data instanceof Float32Array) || have.data.length !== values.length) {
      badCheckpoint(`"${key}" holds ${have.data.length} ${have.dtype} values; ours is ${values.length} float(s)`);
    }
    values.forEach((v, i) => {
      const stored = (have.data as Float32Array)[i]!;
      if (!(Math.abs(stored - v) <= CONSTANT_TOLERANCE * Math.abs(v))) {
        badCheckpoint(`"${key}"[${i}] is ${stored}, but this backbone uses ${v}: the model would not be reproduced exactly`);
      }
    });
    checked.push(key);
  }
  return checked;
}

function readStoredTables(backbone: ImportableBackbone, tensors: ReadonlyMap<string, SafeTensor>): CodingTables | undefined {
  const entropyBottleneck = cdfTablesFromTensors(tensors, ENTROPY_BOTTLENECK);
  const gaussianConditional = cdfTablesFromTensors(tensors, GAUSSIAN_CONDITIONAL);
  if (!entropyBottleneck || !gaussianConditional) return undefined;
  const models = Object.values(backbone);
  const eb = models.find((m): m is EntropyBottleneck => m instanceof EntropyBottleneck);
  const gc = models.find((m): m is GaussianConditional => m instanceof GaussianConditional);
  if (eb && entropyBottleneck.size !== eb.channels) badCheckpoint(`${ENTROPY_BOTTLENECK} stores ${entropyBottleneck.size} CDF tables for ${eb.channels} channels`);
  if (gc && gaussianConditional.size !== gc.scaleTable.length) {
    badCheckpoint(`${GAUSSIAN_CONDITIONAL} stores ${gaussianConditional.size} CDF tables for ${gc.scaleTable.length} scales`);
  }
  return { entropyBottleneck, gaussianConditional };
}

/**
 * What an imported model's weight file holds: the backbone's variables
 * (PyTorch layout, our names) plus, when the checkpoint had them, its CDF
 * tables under CompressAI's buffer names, so the file carries the exact coder.
 */
export function importedModelTensors(imported: CompressaiImport): Map<string, SafeTensor> {
  const tensors = collectWeights(imported.backbone);
  if (imported.storedTables) {
    for (const [k, t] of cdfTablesToTensors(imported.storedTables.entropyBottleneck, ENTROPY_BOTTLENECK)) tensors.set(k, t);
    for (const [k, t] of cdfTablesToTensors(imported.storedTables.gaussianConditional, GAUSSIAN_CONDITIONAL)) tensors.set(k, t);
  }
  return tensors;
}
