/**
 * The importer's rules on variations of the golden state dicts: key names of
 * every CompressAI version, architectures named or recognised, what is
 * refused (the wrong architecture, an unknown key, a constant our layers do
 * not share, a damaged CDF table), checkpoints without tables, and the
 * imported model file carrying the stored tables back into a backbone.
 */
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  importCompressai,
  importedModelTensors,
  installStoredCodingTables,
  readCheckpointFile,
  readSafetensors,
  selectBackend,
  writeSafetensors,
  assignWeights,
  type SafeTensor,
} from '@psic/core';
import { Hyperprior, HYPERPRIOR_COMPRESSAI_ARCHITECTURES } from '../src/index.js';

const FIXTURES = fileURLToPath(new URL('../../../../shared/fixtures/compressai-golden/', import.meta.url));
let bmshj: Map<string, SafeTensor>;
let mbt: Map<string, SafeTensor>;
let cheng: Map<string, SafeTensor>;

beforeAll(async () => {
  await selectBackend('cpu', { log: () => {} });
  bmshj = (await readCheckpointFile(`${FIXTURES}bmshj2018-hyperprior/state_dict.safetensors`)).tensors;
  mbt = (await readCheckpointFile(`${FIXTURES}mbt2018-mean/state_dict.safetensors`)).tensors;
  cheng = (await readCheckpointFile(`${FIXTURES}cheng2020-anchor/state_dict.safetensors`)).tensors;
});

const renamed = (tensors: Map<string, SafeTensor>, rename: (k: string) => string) => new Map([...tensors].map(([k, t]) => [rename(k), t]));
const withTensor = (tensors: Map<string, SafeTensor>, key: string, t: SafeTensor) => new Map([...tensors, [key, t]]);
const without = (tensors: Map<string, SafeTensor>, drop: (k: string) => boolean) => new Map([...tensors].filter(([k]) => !drop(k)));

function importOk(tensors: Map<string, SafeTensor>, architecture?: string) {
  const imported = importCompressai(tensors, { architecture });
  imported.backbone.dispose?.();
  return imported;
}

function refused(tensors: Map<string, SafeTensor>, architecture?: string): string {
  try {
    importOk(tensors, architecture);
  } catch (err) {
    expect((err as { code?: string }).code).toBe('BAD_CHECKPOINT');
    return (err as Error).message;
  }
  throw new Error('imported');
}

describe('architectures', () => {
  it('registers both hyperprior models as data', () => {
    expect(HYPERPRIOR_COMPRESSAI_ARCHITECTURES.map((a) => a.name)).toEqual(['bmshj2018-hyperprior', 'mbt2018-mean']);
  });

  it('recognises each from its shapes, or takes it by name', () => {
    expect(importOk(bmshj).architecture.name).toBe('bmshj2018-hyperprior');
    expect(importOk(mbt).architecture.name).toBe('mbt2018-mean');
    expect(importOk(mbt, 'mbt2018-mean').config).toEqual({ N: 16, M: 24 });
  });

  it('refuses the wrong one, an unknown name, and an architecture no backbone hosts (cheng2020-anchor)', () => {
    expect(refused(mbt, 'bmshj2018-hyperprior')).toMatch(/"h_s.0.weight" has shape \[16,24,5,5\], expected \[16,16,5,5\]/);
    expect(refused(bmshj, 'bmshj2018-factorized')).toMatch(/unknown CompressAI architecture.*supported: bmshj2018-hyperprior, mbt2018-mean/);
    expect(refused(cheng)).toMatch(/none of the supported CompressAI architectures/);
  });

  it('refuses a key it cannot account for: mbt2018 (autoregressive) is not mbt2018-mean', () => {
    const context = withTensor(mbt, 'context_prediction.weight', { dtype: 'F32', shape: [48, 24, 5, 5], data: new Float32Array(48 * 24 * 25) });
    expect(refused(context)).toMatch(/unexpected key "context_prediction.weight"/);
  });
});

describe('key names of every CompressAI version', () => {
  it.each([
    ['DataParallel module. prefix', (k: string) => `module.${k}`],
    ['_matrices.i (2020 zoo files)', (k: string) => k.replace(/entropy_bottleneck\.(matrices|biases|factors)\./, 'entropy_bottleneck._$1.')],
    ['_matrix{i} (1.0 - 1.2.5)', (k: string) => k.replace(/entropy_bottleneck\.(matric|bias|factor)(?:es|s)\.(\d)/, (_, w: string, i: string) => `entropy_bottleneck._${w === 'matric' ? 'matrix' : w}${i}`)],
  ])('%s', (_, rename) => {
    const tensors = renamed(bmshj, rename);
    expect([...tensors.keys()]).not.toEqual([...bmshj.keys()]);
    const imported = importOk(tensors);
    expect(imported.architecture.name).toBe('bmshj2018-hyperprior');
    expect(imported.tablesInstalled).toBe(true);
  });

  it('buffers older files lack are not required (target, bounds, pedestals)', () => {
    const lean = without(bmshj, (k) => /(_reparam\.|target$|bound$|scale_table$)/.test(k));
    expect(importOk(lean).checkedBuffers).toEqual([]);
  });
});

describe('exactness is checked, not assumed', () => {
  it('a GDN whose bound differs from ours (another beta_min) is refused', () => {
    const key = 'g_s.3.beta_reparam.lower_bound.bound';
    const changed = withTensor(bmshj, key, { dtype: 'F32', shape: [1], data: Float32Array.of(Math.sqrt(1e-4)) });
    expect(refused(changed)).toMatch(new RegExp(`"${key.replace(/\./g, '\\.')}"\\[0\\] is 0.0099.*would not be reproduced exactly`));
  });

  it('another tail mass (entropy bottleneck target) or scale table is refused', () => {
    const target = withTensor(bmshj, 'entropy_bottleneck.target', { dtype: 'F32', shape: [3], data: Float32Array.of(-10, 0, 10) });
    expect(refused(target)).toMatch(/entropy_bottleneck.target/);
    const table = bmshj.get('gaussian_conditional.scale_table')!;
    const scaled = withTensor(bmshj, 'gaussian_conditional.scale_table', { ...table, data: (table.data as Float32Array).map((v) => v * 1.01) });
    expect(refused(scaled)).toMatch(/gaussian_conditional.scale_table/);
  });

  it('a damaged stored CDF table is refused; a checkpoint saved before update() imports and rebuilds its tables', () => {
    const cdf = bmshj.get('entropy_bottleneck._quantized_cdf')!;
    const broken = (cdf.data as Int32Array).slice();
    broken[5] = broken[4]!; // a zero frequency
    expect(refused(withTensor(bmshj, 'entropy_bottleneck._quantized_cdf', { ...cdf, data: broken }))).toMatch(/stored CDF tables are invalid/);
    expect(refused(without(bmshj, (k) => k === 'entropy_bottleneck._offset'))).toMatch(/only some of/);

    const never = without(bmshj, (k) => /_quantized_cdf|_offset|_cdf_length/.test(k));
    const imported = importCompressai(never);
    expect(imported.storedTables).toBeUndefined();
    expect(imported.tablesInstalled).toBe(false);
    imported.backbone.dispose?.();
    // CompressAI's initial buffers are empty tensors: also "no tables"
    const empty = new Map(never);
    for (const p of ['entropy_bottleneck', 'gaussian_conditional']) {
      empty.set(`${p}._quantized_cdf`, { dtype: 'I32', shape: [0], data: new Int32Array(0) });
      empty.set(`${p}._offset`, { dtype: 'I32', shape: [0], data: new Int32Array(0) });
      empty.set(`${p}._cdf_length`, { dtype: 'I32', shape: [0], data: new Int32Array(0) });
    }
    expect(importOk(empty).tablesInstalled).toBe(false);
  });
});

describe('the imported model file', () => {
  it('carries the stored tables: a backbone loaded from it codes exactly as the imported one', async () => {
    const imported = importCompressai(mbt);
    const bytes = writeSafetensors(importedModelTensors(imported), { format: 'pt' });
    const file = readSafetensors(bytes);
    expect(file.tensors.get('gaussian_conditional._quantized_cdf')!.data).toEqual(mbt.get('gaussian_conditional._quantized_cdf')!.data);
    expect(file.tensors.has('entropy_bottleneck._matrix0')).toBe(true);

    const loaded = new Hyperprior({ N: 16, M: 24, architecture: 'mbt2018-mean' });
    assignWeights(loaded, file.tensors);
    expect(installStoredCodingTables(loaded, file.tensors)).toBe(true);
    const original = imported.backbone as Hyperprior;
    expect(loaded.entropyBottleneck.tables().pack()).toEqual(original.entropyBottleneck.tables().pack());
    expect(loaded.gaussianConditional.tables().pack()).toEqual(original.gaussianConditional.tables().pack());

    const x = tf.randomUniform([1, 64, 64, 3], 0, 1, 'float32', 5) as tf.Tensor4D;
    const sections = await original.compress(x);
    expect(await loaded.compress(x)).toEqual(sections);
    const yHat = await loaded.decompress(sections, { height: 64, width: 64 });
    const yRef = await original.decompress(sections, { height: 64, width: 64 });
    expect(yHat.dataSync()).toEqual(yRef.dataSync());
    // without the stored tables the streams differ: the file's tables are what make them equal
    const rebuilt = new Hyperprior({ N: 16, M: 24, architecture: 'mbt2018-mean' });
    assignWeights(rebuilt, file.tensors);
    expect(await rebuilt.compress(x)).not.toEqual(sections);
    tf.dispose([x, yHat, yRef]);
    for (const m of [loaded, original, rebuilt]) m.dispose();
  });
});
