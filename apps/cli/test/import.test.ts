/**
 * `psic import --from compressai` end to end with the built binary: CompressAI's
 * golden checkpoints (../shared/fixtures/compressai-golden) become model files
 * that `psic encode / decode / info` take with --model, decoding to what the
 * imported backbone decodes in process; broken, mismatched or malicious
 * checkpoints are refused with a typed one-line error and leave no files.
 *
 * An imported model is then wrapped like any other: a few PSIC fine-tune
 * steps from it (--init), and the one stream decodes to the protected image
 * without the key and to the full image with it.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { crc32, PsicError, readContainerHeader } from '@psic/entropy';
import { decodeImage, encodeImage, fingerprintWeights, readImage, readSafetensors, selectBackend } from '@psic/core';
import { importCompressaiCheckpoint } from '@psic/backbone-hyperprior';
import { importCommand } from '../src/commands/import.js';
import { demoImage } from '../src/demo-image.js';
import { runCli } from './run-cli.js';

const FIXTURES = fileURLToPath(new URL('../../../../shared/fixtures/compressai-golden/', import.meta.url));
let dir: string;
let photo: string;

const psic = (...args: string[]) => runCli(args);

/** A one-entry-per-file zip with stored entries, enough for torch's container. */
function storedZip(entries: [string, Uint8Array][]): Buffer {
  const parts: Buffer[] = [];
  const directory: Buffer[] = [];
  let offset = 0;
  for (const [name, data] of entries) {
    const n = Buffer.from(name);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt32LE(crc32(data), 14);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(n.length, 26);
    parts.push(local, n, Buffer.from(data));
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt32LE(crc32(data), 16);
    central.writeUInt32LE(data.length, 20);
    central.writeUInt32LE(data.length, 24);
    central.writeUInt16LE(n.length, 28);
    central.writeUInt32LE(offset, 42);
    directory.push(central, n);
    offset += 30 + n.length + data.length;
  }
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(directory.reduce((s, b) => s + b.length, 0), 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...parts, ...directory, end]);
}

beforeAll(async () => {
  await selectBackend('cpu', { log: () => {} });
  dir = mkdtempSync(join(tmpdir(), 'psic-import-'));
  const img = demoImage(96, 80);
  photo = join(dir, 'photo.png');
  await sharp(Buffer.from(img.data.map((v) => Math.round(v * 255))), { raw: { width: 96, height: 80, channels: 3 } }).png().toFile(photo);
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('psic import --from compressai', () => {
  it('imports a training checkpoint (architecture and N/M from the keys) into a model encode and decode take', async () => {
    const checkpoint = `${FIXTURES}bmshj2018-hyperprior/checkpoint.pth.tar`;
    const out = join(dir, 'hp');
    const r = await psic('import', '--from', 'compressai', checkpoint, out, '--json');
    expect(r.code, r.stderr).toBe(0);
    const result = JSON.parse(r.stdout);
    expect(result).toMatchObject({ container: 'torch-zip', architecture: 'bmshj2018-hyperprior', N: 16, M: 24, tensors: 91, codingTables: 'stored' });

    const weights = `${out}.safetensors`;
    const sidecar = JSON.parse(readFileSync(`${out}.json`, 'utf8'));
    expect(sidecar).toMatchObject({ name: 'hp', architecture: 'bmshj2018-hyperprior', config: { N: 16, M: 24 }, codingTables: 'stored', weights: 'hp.safetensors' });
    expect(sidecar.importedFrom).toMatchObject({ format: 'compressai', architecture: 'bmshj2018-hyperprior', stateDictKey: 'state_dict' });
    const bytes = new Uint8Array(readFileSync(weights));
    expect(sidecar.fingerprint).toBe(Buffer.from(fingerprintWeights(bytes)).toString('hex'));
    // the checkpoint's own CDF tables travel in the model file
    expect(readSafetensors(bytes).tensors.get('entropy_bottleneck._quantized_cdf')!.shape).toEqual([16, 462]);

    const psicFile = join(dir, 'photo.psic');
    const enc = await psic('encode', photo, psicFile, '--model', weights, '--json');
    expect(enc.code, enc.stderr).toBe(0);
    const header = readContainerHeader(new Uint8Array(readFileSync(psicFile)));
    expect(header).toMatchObject({ backbone: 'bmshj2018-hyperprior', width: 96, height: 80 });
    expect(Buffer.from(header.fingerprint).toString('hex')).toBe(sidecar.fingerprint);
    const png = join(dir, 'photo.decoded.png');
    const dec = await psic('decode', psicFile, png, '--model', weights);
    expect(dec.code, dec.stderr).toBe(0);

    // the same image through the checkpoint imported in process decodes to the same pixels
    const imported = await importCompressaiCheckpoint(checkpoint);
    const model = { backbone: imported.backbone, fingerprint: fingerprintWeights(bytes) };
    const reference = await decodeImage(model, await encodeImage(model, await readImage(photo)));
    const decoded = await readImage(png);
    let worst = 0;
    for (let i = 0; i < decoded.data.length; i++) worst = Math.max(worst, Math.abs(decoded.data[i]! - Math.round(reference.data[i]! * 255) / 255));
    expect(worst).toBeLessThanOrEqual(1 / 255 + 1e-6);
    imported.backbone.dispose?.();
  });

  it('fine-tunes an imported model into a PSIC model whose stream decodes protected, and full with the key', async () => {
    const checkpoint = `${FIXTURES}bmshj2018-hyperprior/checkpoint.pth.tar`;
    const base = join(dir, 'imported');
    expect((await psic('import', '--from', 'compressai', checkpoint, base)).code).toBe(0);
    const pairs = fileURLToPath(new URL('../../../packages/cltg/test/fixtures/pairs', import.meta.url));
    const run = join(dir, 'psic-run');
    const key = join(dir, 'owner.key');
    const train = await psic('train', '--recipe', 'psic', '--target', 'random', '--data', pairs, '--out', run, '--key-file', key,
      '--init', `${base}.safetensors`, '--crop', '64', '--batch', '2', '--steps', '4', '--stage-steps', '3,1', '--condition-dim', '4', '--hidden', '16');
    expect(train.code, train.stderr).toBe(0);
    const model = join(run, 'model.safetensors');
    expect(JSON.parse(readFileSync(join(run, 'model.json'), 'utf8'))).toMatchObject({ architecture: 'bmshj2018-hyperprior', config: { N: 16, M: 24 } });

    const stream = join(dir, 'psic.psic');
    expect((await psic('encode', photo, stream, '--model', model)).code).toBe(0);
    const [protectedPng, fullPng] = [join(dir, 'protected.png'), join(dir, 'full.png')];
    const plain = await psic('decode', stream, protectedPng, '--model', model, '--json');
    expect(plain.code, plain.stderr).toBe(0);
    expect(JSON.parse(plain.stdout).mode).toBe('protected');
    const keyed = await psic('decode', stream, fullPng, '--model', model, '--key-file', key, '--json');
    expect(keyed.code, keyed.stderr).toBe(0);
    expect(JSON.parse(keyed.stdout).mode).toBe('full');
    const [a, b] = [await readImage(protectedPng), await readImage(fullPng)];
    expect(a.width).toBe(96);
    // the two modes are different decodings of one stream (the adapter's biases differ per condition)
    expect(a.data.some((v, i) => v !== b.data[i])).toBe(true);
  }, 180_000);

  it('takes --arch, an OUT_MODEL ending in .safetensors, --name, and the bare zoo-named state dict', async () => {
    // in process: the same command code the binary runs
    await importCommand(['--from', 'compressai', '--arch', 'mbt2018-mean', `${FIXTURES}mbt2018-mean/checkpoint.pth.tar`, join(dir, 'mbt.safetensors'), '--backend', 'cpu', '--json']);
    expect(JSON.parse(readFileSync(join(dir, 'mbt.json'), 'utf8'))).toMatchObject({ architecture: 'mbt2018-mean', config: { N: 16, M: 24 }, weights: 'mbt.safetensors' });
    await importCommand(['--from', 'compressai', `${FIXTURES}bmshj2018-hyperprior/checkpoint_zoo_keys.pth.tar`, join(dir, 'zoo'), '--name', 'zoo-q1', '--backend', 'cpu', '--json']);
    expect(JSON.parse(readFileSync(join(dir, 'zoo.json'), 'utf8'))).toMatchObject({ name: 'zoo-q1', importedFrom: { stateDictKey: '' } });
    // the same weights as the wrapped checkpoint, so the same weight file
    expect(readFileSync(join(dir, 'zoo.safetensors')).equals(readFileSync(join(dir, 'hp.safetensors')))).toBe(true);
  });

  it('refuses usage errors, the wrong architecture, broken and malicious checkpoints, leaving no files', async () => {
    const golden = `${FIXTURES}mbt2018-mean/checkpoint.pth.tar`;
    const marker = join(dir, 'pwned');
    // pickle: os.system('touch <marker>') -- what a malicious .pth does on torch.load
    const cmd = Buffer.from(`touch ${marker}`);
    const pickle = Buffer.concat([
      Buffer.from([0x80, 0x02]),
      Buffer.from('cos\nsystem\n'),
      Buffer.from([0x28, 0x58]),
      Buffer.from(Uint32Array.of(cmd.length).buffer),
      cmd,
      Buffer.from([0x74, 0x52, 0x2e]),
    ]);
    const evil = join(dir, 'evil.pth');
    writeFileSync(evil, storedZip([['archive/data.pkl', pickle], ['archive/version', Buffer.from('3\n')]]));
    const truncated = join(dir, 'cut.pth.tar');
    const bytes = readFileSync(golden);
    writeFileSync(truncated, bytes.subarray(0, bytes.length >> 1));

    // through the binary: a one-line typed error, exit status 1, nothing run, nothing written
    const out = join(dir, 'refused');
    const r = await psic('import', '--from', 'compressai', evil, out);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^psic: UNSAFE_CHECKPOINT: .*"os\.system".*nothing was run/m);
    expect(r.stderr).not.toMatch(/\n\s+at /);

    // the other refusals in process (the binary's error printing is the same for every PsicError)
    const cases: [string[], string, RegExp][] = [
      [[golden], 'USAGE', /--from is required/],
      [['--from', 'tensorflow', golden], 'USAGE', /not supported/],
      [['--from', 'compressai', '--arch', 'bmshj2018-hyperprior', golden], 'BAD_CHECKPOINT', /^not a bmshj2018-hyperprior .*h_s\.0\.weight/],
      [['--from', 'compressai', `${FIXTURES}cheng2020-anchor/checkpoint.pth.tar`], 'BAD_CHECKPOINT', /^the state dict is none of the supported/],
      [['--from', 'compressai', truncated], 'BAD_CHECKPOINT', /truncated/],
      [['--from', 'compressai', join(dir, 'missing.pth')], 'BAD_CHECKPOINT', /^cannot read checkpoint/],
    ];
    for (const [args, code, message] of cases) {
      const err = await importCommand([...args, out, '--backend', 'cpu']).then(
        () => undefined,
        (e: unknown) => e as PsicError,
      );
      expect(err, args.join(' ')).toBeInstanceOf(PsicError);
      expect(err!.code, args.join(' ')).toBe(code);
      expect(err!.message).toMatch(message);
    }
    expect(existsSync(`${out}.safetensors`) || existsSync(`${out}.json`)).toBe(false);
    expect(existsSync(marker)).toBe(false);
  });
});
