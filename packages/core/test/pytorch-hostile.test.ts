/**
 * Malicious and broken checkpoints: each must be refused with a typed
 * CheckpointError (UNSAFE_CHECKPOINT, CHECKPOINT_TOO_LARGE or BAD_CHECKPOINT)
 * before anything runs or any large allocation happens. The files are built
 * here byte by byte (pytorch-writers.ts).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { CheckpointError, readCheckpoint, readCheckpointFile, unpickle, type CheckpointLimits } from '../src/index.js';
import { buildZip, emitStateDict, f32, legacyCheckpoint, OP, PickleWriter, stateDictPickle, torchZip, type TensorSpec } from './pytorch-writers.js';

const GOLDEN = fileURLToPath(new URL('../../../../shared/fixtures/compressai-golden/bmshj2018-hyperprior/checkpoint.pth.tar', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'psic-hostile-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function refusal(bytes: Uint8Array, limits?: CheckpointLimits): Promise<CheckpointError> {
  try {
    await readCheckpoint(bytes, { limits });
  } catch (err) {
    expect(err).toBeInstanceOf(CheckpointError);
    return err as CheckpointError;
  }
  throw new Error('the checkpoint was accepted');
}

const tensor: TensorSpec = { name: 'w', storage: { type: 'FloatStorage', key: '0', numel: 4 }, shape: [4] };
const okStorages = { '0': f32([1, 2, 3, 4]) };

describe('code in the pickle is refused, never run', () => {
  // Each would create `marker` if it ran: the classic payloads of a malicious .pth.
  const marker = join(dir, 'pwned');
  const call = (module: string, name: string, arg: string) => new PickleWriter().proto(2).global(module, name).tuple((w) => w.str(arg)).op(OP.REDUCE).stop().bytes();
  const cases: [string, Uint8Array][] = [
    ['os.system', call('os', 'system', `touch ${marker}`)],
    ['posix.system', call('posix', 'system', `touch ${marker}`)],
    ['builtins.eval', call('builtins', 'eval', `__import__('os').system('touch ${marker}')`)],
    ['builtins.exec', call('builtins', 'exec', `open('${marker}', 'w')`)],
    ['__builtin__.eval (Python 2)', call('__builtin__', 'eval', `open('${marker}', 'w')`)],
    ['subprocess.Popen', call('subprocess', 'Popen', `touch ${marker}`)],
    ['torch.load', call('torch', 'load', marker)],
    ['_codecs.encode', call('_codecs', 'encode', 'x')],
    ['STACK_GLOBAL os.system', new PickleWriter().proto(4).str('os').str('system').op(OP.STACK_GLOBAL).tuple((w) => w.str(`touch ${marker}`)).op(OP.REDUCE).stop().bytes()],
    // the payload hidden inside an otherwise valid state dict, after a real tensor
    [
      'os.system inside a state dict',
      (() => {
        const w = new PickleWriter().proto(2);
        emitStateDict(w, [tensor]);
        w.str('evil').global('os', 'system').tuple((t) => t.str(`touch ${marker}`)).op(OP.REDUCE).op(OP.SETITEM);
        return w.stop().bytes();
      })(),
    ],
  ];

  it.each(cases)('%s', async (what, pickle) => {
    const err = await refusal(torchZip(pickle, okStorages));
    expect(err.code).toBe('UNSAFE_CHECKPOINT');
    expect(err.message).toMatch(/refused, nothing was run/);
    if (!what.startsWith('STACK')) expect(err.message).toContain(what.split(' ')[0]!.replace('(Python', '').trim());
    expect(existsSync(marker)).toBe(false);
  });

  it.each([
    ['INST', new PickleWriter().proto(2).mark().str(`touch x`).raw(OP.INST, ...new TextEncoder().encode('os\nsystem\n')).stop().bytes()],
    ['OBJ', new PickleWriter().proto(2).mark().global('collections', 'OrderedDict').raw(OP.OBJ).stop().bytes()],
    ['NEWOBJ', new PickleWriter().proto(2).global('collections', 'OrderedDict').op(OP.EMPTY_TUPLE).raw(OP.NEWOBJ).stop().bytes()],
    ['EXT1', new PickleWriter().proto(2).raw(OP.EXT1, 1).stop().bytes()],
    ['PERSID', new PickleWriter().proto(2).raw(OP.PERSID, ...new TextEncoder().encode('x\n')).stop().bytes()],
  ])('opcode %s', async (name, pickle) => {
    const err = await refusal(torchZip(pickle, okStorages));
    expect(err.code).toBe('UNSAFE_CHECKPOINT');
    expect(err.message).toContain(`opcode ${name}`);
  });

  it('an allowed storage type cannot be called, and BUILD only sets a dict\'s attributes', async () => {
    const callStorage = new PickleWriter().proto(2).global('torch', 'FloatStorage').tuple((w) => w.int(3)).op(OP.REDUCE).stop().bytes();
    expect((await refusal(torchZip(callStorage, {}))).code).toBe('UNSAFE_CHECKPOINT');
    const buildOnList = new PickleWriter().proto(2).op(OP.EMPTY_LIST).op(OP.EMPTY_DICT).op(OP.BUILD).stop().bytes();
    expect((await refusal(torchZip(buildOnList, {}))).code).toBe('UNSAFE_CHECKPOINT');
  });

  it('the unpickler refuses in the legacy format too', async () => {
    const evil = new PickleWriter().proto(2).global('os', 'system').tuple((w) => w.str('true')).op(OP.REDUCE).stop().bytes();
    const err = await refusal(legacyCheckpoint(evil, []));
    expect(err.code).toBe('UNSAFE_CHECKPOINT');
  });
});

describe('absurd sizes are refused before allocation', () => {
  it('a storage of 2^40 elements', async () => {
    const spec = { ...tensor, storage: { ...tensor.storage, numel: 2 ** 40 } };
    const err = await refusal(torchZip(stateDictPickle([spec]), okStorages));
    expect(err.code).toBe('CHECKPOINT_TOO_LARGE');
  });

  it('a tensor of 10^5 x 10^5 elements on a 4-element storage', async () => {
    const err = await refusal(torchZip(stateDictPickle([{ ...tensor, shape: [100000, 100000] }]), okStorages));
    expect(err.code).toBe('CHECKPOINT_TOO_LARGE');
  });

  it('views that blow a small storage up: zero strides, or one storage behind many tensors', async () => {
    const expanded = { ...tensor, shape: [4096, 4096], stride: [0, 0] }; // 64 MiB from 16 bytes
    expect((await refusal(torchZip(stateDictPickle([expanded]), okStorages))).message).toMatch(/more than 4 times over/);
    const many = Array.from({ length: 20000 }, (_, i) => ({ ...tensor, name: `t${i}`, storage: { ...tensor.storage, numel: 65536 }, shape: [65536] }));
    const err = await refusal(torchZip(stateDictPickle(many), { '0': new Uint8Array(4 * 65536) })); // 5 GiB of copies of 256 KiB
    expect(err.code).toBe('CHECKPOINT_TOO_LARGE');
  });

  it('a view that reaches past its storage (shape, stride or offset)', async () => {
    for (const spec of [{ ...tensor, shape: [5] }, { ...tensor, shape: [2, 2], stride: [3, 1] }, { ...tensor, offset: 1 }]) {
      const err = await refusal(torchZip(stateDictPickle([spec]), okStorages));
      expect(err.code).toBe('BAD_CHECKPOINT');
      expect(err.message).toMatch(/reaches element/);
    }
  });

  it('a storage entry whose size disagrees with its id', async () => {
    const err = await refusal(torchZip(stateDictPickle([tensor]), { '0': f32([1, 2, 3]) }));
    expect(err.code).toBe('BAD_CHECKPOINT');
    expect(err.message).toMatch(/is 12 bytes, its id declares 16/);
  });

  it('a legacy file whose storage count lies', async () => {
    const pickle = stateDictPickle([tensor], { legacy: true });
    expect((await refusal(legacyCheckpoint(pickle, [['0', 1e12, f32([1, 2, 3, 4])]]))).code).toBe('BAD_CHECKPOINT');
    const bytes = legacyCheckpoint(pickle, [['0', 4, f32([1, 2, 3, 4])]]);
    const err = await refusal(bytes.subarray(0, bytes.length - 3));
    expect(err.message).toMatch(/truncated/);
  });

  it('limits are the caller\'s: more tensors or elements than allowed', async () => {
    const bytes = torchZip(stateDictPickle([tensor, { ...tensor, name: 'v' }]), okStorages);
    expect((await refusal(bytes, { maxTensors: 1 })).code).toBe('CHECKPOINT_TOO_LARGE');
    expect((await refusal(bytes, { maxTensorElements: 3 })).code).toBe('CHECKPOINT_TOO_LARGE');
    expect((await refusal(bytes, { maxFileBytes: 100 })).code).toBe('CHECKPOINT_TOO_LARGE');
  });
});

describe('broken containers', () => {
  const golden = new Uint8Array(readFileSync(GOLDEN));

  it.each([1, 22, 5000, golden.length >> 1])('the golden checkpoint truncated by %i bytes', async (cut) => {
    const err = await refusal(golden.subarray(0, golden.length - cut));
    expect(err.code).toBe('BAD_CHECKPOINT');
  });

  it('a damaged storage fails its CRC; a truncated pickle inside an intact zip is refused', async () => {
    const damaged = golden.slice();
    damaged[golden.length >> 1] ^= 0xff; // inside a storage's data
    const err = await refusal(damaged);
    expect(err.code).toBe('BAD_CHECKPOINT');
    expect(err.message).toMatch(/CRC-32/);
    const pickle = stateDictPickle([tensor]);
    const err2 = await refusal(torchZip(pickle.subarray(0, pickle.length - 10), okStorages));
    expect(err2.message).toMatch(/truncated pickle/);
  });

  it('files that are no checkpoint at all', async () => {
    expect((await refusal(new TextEncoder().encode('hello, this is not a model'))).code).toBe('BAD_CHECKPOINT');
    expect((await refusal(new Uint8Array(0))).code).toBe('BAD_CHECKPOINT');
    const noPickle = buildZip([{ name: 'archive/version', data: new TextEncoder().encode('3\n') }]);
    expect((await refusal(noPickle)).message).toMatch(/data\.pkl/);
    const notADict = new PickleWriter().proto(2).int(5).stop().bytes();
    expect((await refusal(torchZip(notADict, {}))).message).toMatch(/not a state dict/);
    await expect(readCheckpointFile(join(dir, 'missing.pth'))).rejects.toMatchObject({ code: 'BAD_CHECKPOINT' });
  });

  it('malformed pickles: memo miss, stack underflow, leftovers at STOP, bad UTF-8', async () => {
    const cases = [
      new PickleWriter().proto(2).raw(OP.BINGET, 9).stop().bytes(),
      new PickleWriter().proto(2).op(OP.SETITEM).stop().bytes(),
      new PickleWriter().proto(2).int(1).int(2).stop().bytes(),
      new PickleWriter().proto(2).raw(OP.BINUNICODE, 2, 0, 0, 0, 0xff, 0xfe).stop().bytes(),
      new PickleWriter().proto(2).raw(OP.BINUNICODE, 0xff, 0xff, 0xff, 0x7f).stop().bytes(),
    ];
    for (const pickle of cases) {
      expect(() => unpickle(pickle)).toThrow(CheckpointError);
      expect((await refusal(torchZip(pickle, {}))).code).toBe('BAD_CHECKPOINT');
    }
  });
});

describe('zip bombs', () => {
  const zeros = new Uint8Array(16 * 1024 * 1024);

  it('a deflated storage that would inflate 1000x is refused before inflating', async () => {
    const bytes = buildZip([
      { name: 'archive/data.pkl', data: stateDictPickle([{ ...tensor, storage: { ...tensor.storage, numel: zeros.length / 4 }, shape: [zeros.length / 4] }]) },
      { name: 'archive/data/0', data: zeros, deflate: true },
    ]);
    expect(bytes.length).toBeLessThan(100_000);
    const err = await refusal(bytes);
    expect(err.code).toBe('CHECKPOINT_TOO_LARGE');
    expect(err.message).toMatch(/zip bomb/);
  });

  it('an entry that lies about its size (declares 16 bytes, inflates to 16 MiB) stops at the declared size', async () => {
    const bytes = buildZip([
      { name: 'archive/data.pkl', data: stateDictPickle([tensor]) },
      { name: 'archive/data/0', data: zeros, deflate: true, declaredSize: 16, crc: 0 },
    ]);
    const err = await refusal(bytes);
    expect(err.code).toBe('BAD_CHECKPOINT');
    expect(err.message).toMatch(/too many bytes|inflates past/);
  });

  it('entry and total sizes over the limits', async () => {
    const bytes = torchZip(stateDictPickle([tensor]), okStorages);
    expect((await refusal(bytes, { maxEntryBytes: 8 })).code).toBe('CHECKPOINT_TOO_LARGE');
    expect((await refusal(bytes, { maxTotalBytes: 64 })).code).toBe('CHECKPOINT_TOO_LARGE');
    expect((await refusal(bytes, { maxPickleBytes: 32 })).code).toBe('CHECKPOINT_TOO_LARGE');
    expect((await refusal(bytes, { maxZipEntries: 2 })).code).toBe('CHECKPOINT_TOO_LARGE');
  });

  it('a checkpoint file on disk goes through the same checks', async () => {
    const path = join(dir, 'bomb.pth');
    writeFileSync(path, buildZip([{ name: 'archive/data.pkl', data: zeros, deflate: true }]));
    await expect(readCheckpointFile(path)).rejects.toMatchObject({ code: 'CHECKPOINT_TOO_LARGE' });
  });
});
