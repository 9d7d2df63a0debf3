/**
 * The PyTorch checkpoint reader on real and hand-built files: CompressAI's
 * golden checkpoints (torch 1.13 zip container) must give exactly the tensors
 * of their safetensors copies; hand-built zip and legacy files exercise the
 * element types, strided and offset views, shared storages, parameters,
 * wrapper dicts and deflated entries a real checkpoint may hold.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { readCheckpoint, readCheckpointFile, writeSafetensors, type Checkpoint } from '../src/index.js';
import { f16, f32, f64, i32, i64, legacyCheckpoint, stateDictPickle, torchZip, type TensorSpec } from './pytorch-writers.js';

const FIXTURES = fileURLToPath(new URL('../../../../shared/fixtures/compressai-golden/', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'psic-pytorch-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const bytesOf = (t: { data: ArrayBufferView }) => Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
const values = (c: Checkpoint, name: string) => Array.from(c.tensors.get(name)!.data as ArrayLike<number | bigint>);

describe('CompressAI golden checkpoints', () => {
  it.each([
    ['bmshj2018-hyperprior', 'checkpoint.pth.tar', 'state_dict', 91],
    ['mbt2018-mean', 'checkpoint.pth.tar', 'state_dict', 91],
    ['cheng2020-anchor', 'checkpoint.pth.tar', 'state_dict', 160],
    ['bmshj2018-hyperprior', 'checkpoint_zoo_keys.pth.tar', '', 91],
  ])('%s/%s: every tensor equals the safetensors copy, bit for bit', async (model, file, wrapper, count) => {
    const checkpoint = await readCheckpointFile(`${FIXTURES}${model}/${file}`);
    const reference = await readCheckpointFile(`${FIXTURES}${model}/state_dict.safetensors`);
    expect(checkpoint.format).toBe('torch-zip');
    expect(reference.format).toBe('safetensors');
    expect(checkpoint.stateDictKey).toBe(wrapper);
    expect(checkpoint.skippedKeys).toEqual([]);
    expect(checkpoint.tensors.size).toBe(count);
    // the zoo-key file names the bottleneck's lists as in CompressAI 2020; the safetensors copy as today
    const current = (k: string) => k.replace(/entropy_bottleneck\._(matrices|biases|factors)\./, 'entropy_bottleneck.$1.').replace('.downsample.', '.skip.');
    for (const [name, t] of checkpoint.tensors) {
      const r = reference.tensors.get(current(name));
      expect(r, name).toBeDefined();
      expect(t.shape, name).toEqual(r!.shape);
      expect(t.dtype, name).toBe(r!.dtype);
      expect(bytesOf(t).equals(bytesOf(r!)), name).toBe(true);
    }
    // the CDF buffers stay int32, as in the state dict
    expect(checkpoint.tensors.get('gaussian_conditional._quantized_cdf')!.data).toBeInstanceOf(Int32Array);
  });
});

describe('hand-built checkpoints', () => {
  // A 2x3 float32 storage viewed three ways, float16 / float64 / int64 tensors, a parameter and an empty tensor.
  const specs: TensorSpec[] = [
    { name: 'w', storage: { type: 'FloatStorage', key: '0', numel: 6 }, shape: [2, 3], parameter: true },
    { name: 'w_t', storage: { type: 'FloatStorage', key: '0', numel: 6 }, shape: [3, 2], stride: [1, 3] },
    { name: 'row1', storage: { type: 'FloatStorage', key: '0', numel: 6 }, shape: [3], offset: 3 },
    { name: 'col2', storage: { type: 'FloatStorage', key: '0', numel: 6 }, shape: [2, 1], stride: [3, 1], offset: 2 },
    { name: 'half', storage: { type: 'HalfStorage', key: '1', numel: 3 }, shape: [3] },
    { name: 'double', storage: { type: 'DoubleStorage', key: '2', numel: 2 }, shape: [2] },
    { name: 'steps', storage: { type: 'LongStorage', key: '3', numel: 1 }, shape: [] },
    { name: 'cdf', storage: { type: 'IntStorage', key: '4', numel: 4 }, shape: [2, 2] },
    { name: 'empty', storage: { type: 'FloatStorage', key: '5', numel: 0 }, shape: [0, 4] },
  ];
  const storages: Record<string, Uint8Array> = {
    '0': f32([1, 2, 3, 4, 5, 6]),
    '1': f16([0x3c00, 0xc000, 0x3800]), // 1, -2, 0.5
    '2': f64([0.1, -1e300]),
    '3': i64([123456789]),
    '4': i32([0, 65536, -7, 3]),
    '5': new Uint8Array(0),
  };
  const expectContent = (c: Checkpoint) => {
    expect([...c.tensors.keys()]).toEqual(specs.map((s) => s.name));
    expect(values(c, 'w')).toEqual([1, 2, 3, 4, 5, 6]);
    expect(values(c, 'w_t')).toEqual([1, 4, 2, 5, 3, 6]);
    expect(c.tensors.get('w_t')!.shape).toEqual([3, 2]);
    expect(values(c, 'row1')).toEqual([4, 5, 6]);
    expect(values(c, 'col2')).toEqual([3, 6]);
    expect(c.tensors.get('half')).toMatchObject({ dtype: 'F32', sourceDtype: 'F16' });
    expect(values(c, 'half')).toEqual([1, -2, 0.5]);
    expect(c.tensors.get('double')).toMatchObject({ dtype: 'F32', sourceDtype: 'F64' });
    expect(values(c, 'double')).toEqual([Math.fround(0.1), -Infinity]);
    expect(c.tensors.get('steps')).toMatchObject({ dtype: 'I64', shape: [] });
    expect(values(c, 'steps')).toEqual([123456789n]);
    expect(values(c, 'cdf')).toEqual([0, 65536, -7, 3]);
    expect(c.tensors.get('empty')!.shape).toEqual([0, 4]);
    expect(c.tensors.get('empty')!.data.length).toBe(0);
  };

  it('zip container: dtypes converted, strides and offsets honoured, shared storage read once', async () => {
    const c = await readCheckpoint(torchZip(stateDictPickle(specs), storages));
    expect(c.format).toBe('torch-zip');
    expectContent(c);
  });

  it('deflated entries and a training checkpoint wrapper {epoch, loss, state_dict, optimizer}', async () => {
    const c = await readCheckpoint(torchZip(stateDictPickle(specs, { wrapper: 'state_dict' }), storages, { deflate: true, archive: 'ckpt' }));
    expect(c.stateDictKey).toBe('state_dict');
    expectContent(c);
  });

  it.each(['network', 'model_state_dict'])('finds the state dict under "%s"; an explicit key overrides the guess', async (wrapper) => {
    const bytes = torchZip(stateDictPickle(specs, { wrapper }), storages);
    expect((await readCheckpoint(bytes)).stateDictKey).toBe(wrapper);
    await expect(readCheckpoint(bytes, { stateDictKey: 'optimizer' })).rejects.toMatchObject({ code: 'BAD_CHECKPOINT' });
    await expect(readCheckpoint(bytes, { stateDictKey: 'nope' })).rejects.toThrow(/no dict under "nope"/);
  });

  it('legacy (pre-1.6) format, including a storage view', async () => {
    const legacySpecs: TensorSpec[] = [
      ...specs.filter((s) => s.name !== 'col2'),
      // a view of storage '0' starting at element 2 with 3 elements, as old torch pickled shared storages
      { name: 'view', storage: { type: 'FloatStorage', key: '0', numel: 6 }, view: ['0v', 2, 3], shape: [3] },
    ];
    const pickle = stateDictPickle(legacySpecs, { legacy: true });
    const c = await readCheckpoint(
      legacyCheckpoint(pickle, [
        ['0', 6, storages['0']!],
        ['1', 3, storages['1']!],
        ['2', 2, storages['2']!],
        ['3', 1, storages['3']!],
        ['4', 4, storages['4']!],
        ['5', 0, storages['5']!],
      ]),
    );
    expect(c.format).toBe('torch-legacy');
    expect(values(c, 'w_t')).toEqual([1, 4, 2, 5, 3, 6]);
    expect(values(c, 'half')).toEqual([1, -2, 0.5]);
    expect(values(c, 'view')).toEqual([3, 4, 5]);
  });

  it('safetensors: float64 and float16 come out as float32, ints unchanged', async () => {
    const path = join(dir, 'x.safetensors');
    writeFileSync(
      path,
      writeSafetensors({
        a: { dtype: 'F64', shape: [2], data: Float64Array.of(0.1, 2) },
        b: { dtype: 'F16', shape: [1], data: Float32Array.of(0.5) },
        c: { dtype: 'I32', shape: [1], data: Int32Array.of(-3) },
      }),
    );
    const c = await readCheckpointFile(path);
    expect(c.format).toBe('safetensors');
    expect(c.tensors.get('a')).toMatchObject({ dtype: 'F32', sourceDtype: 'F64' });
    expect(values(c, 'a')).toEqual([Math.fround(0.1), 2]);
    expect(c.tensors.get('b')).toMatchObject({ dtype: 'F32', sourceDtype: 'F16' });
    expect(values(c, 'c')).toEqual([-3]);
  });
});
