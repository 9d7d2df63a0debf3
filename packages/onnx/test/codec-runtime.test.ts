/**
 * The codec on onnxruntime: encodeImage / decodeImage with `withOnnxRuntime`
 * run the backbone's own compress on onnxruntime's g_a / h_a (through the
 * stand-in) and g_s on onnxruntime; results agree with the tfjs path, state
 * written during compress lands on the real backbone, and sessions are cached
 * per weights fingerprint.
 */
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeImage, decodeLatent, encodeImage, selectBackend, type CodecModel } from '@psic/core';
import { OnnxRunner, withOnnxRuntime } from '../src/index.js';
import { TinyBackbone, maxAbsDiff, picture } from './helpers.js';

let backbone: TinyBackbone;

let plain: CodecModel;
const runner = new OnnxRunner({ threads: 1 });

beforeAll(async () => {
  await selectBackend('cpu', { log: () => {} });
  backbone = new TinyBackbone();
  plain = { backbone, fingerprint: Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]) };
});

afterAll(async () => {
  await runner.dispose();
  backbone.dispose();
});

const img = { height: 70, width: 90, data: picture(70, 90) };

describe('withOnnxRuntime', () => {
  it('encodes through the backbone with onnxruntime g_a / h_a and decodes to the same y-hat either way', async () => {
    const fast = withOnnxRuntime(plain, { runner });
    const calls = backbone.compressCalls;
    const a = await encodeImage(fast, img);
    const b = await encodeImage(plain, img);
    expect(backbone.compressCalls).toBe(calls + 2); // the stand-in's write reached the backbone
    // Toy coder: y rounded as int8. Rounding may differ only where tfjs and ORT straddle a .5.
    const ya = await decodeLatent(plain, a);
    const yb = await decodeLatent(plain, b);
    const da = ya.yHat.dataSync();
    const db = yb.yHat.dataSync();
    let differing = 0;
    for (let i = 0; i < da.length; i++) if (da[i] !== db[i]) differing++;
    expect(differing).toBeLessThanOrEqual(da.length * 0.001);
    expect(Math.max(...da.map(Math.abs))).toBeGreaterThan(2); // y spans several bins
    tf.dispose([ya.yHat, yb.yHat]);

    const fromFast = await decodeImage(fast, a);
    const fromTfjs = await decodeImage(plain, a);
    expect([fromFast.height, fromFast.width]).toEqual([70, 90]);
    expect(maxAbsDiff(fromFast.data, fromTfjs.data)).toBeLessThan(1e-4);
    expect(fromFast.data.every((v) => v >= 0 && v <= 1)).toBe(true);
  });

  it('runs a decode hook between the onnxruntime blocks like the tfjs synthesis does', async () => {
    const fast = withOnnxRuntime(plain, { runner });
    const bytes = await encodeImage(plain, img);
    const hook = (i: number, f: tf.Tensor4D): tf.Tensor4D => (i === 1 ? tf.add(f, 0.25) : f);
    const a = await decodeImage(fast, bytes, { hook });
    const b = await decodeImage(plain, bytes, { hook });
    const none = await decodeImage(plain, bytes);
    expect(maxAbsDiff(a.data, b.data)).toBeLessThan(1e-4);
    expect(maxAbsDiff(a.data, none.data)).toBeGreaterThan(1e-3);
  });

  it('caches one session per graph and weights fingerprint, with or without the memory arena', async () => {
    const own = new OnnxRunner({ threads: 1 });
    const fast = withOnnxRuntime(plain, { runner: own });
    await encodeImage(fast, img);
    const key = own.sessionKeys().find((k) => k.endsWith(':0102030405060708:analysis:default'))!;
    expect(key).toBeDefined();
    expect(own.has(key)).toBe(true);
    expect(own.has(key, { arena: true })).toBe(false);
    const first = await own.session(key, () => {
      throw new Error('must not rebuild');
    });
    await encodeImage(withOnnxRuntime(plain, { runner: own }), img);
    expect(await own.session(key, () => new Uint8Array())).toBe(first);
    // a small image with arenaMaxPixels above its size: the same graph in a session with the arena
    await encodeImage(withOnnxRuntime(plain, { runner: own, arenaMaxPixels: 200 * 200 }), img);
    expect(own.has(key, { arena: true })).toBe(true);
    // another backbone object under the same fingerprint gets its own sessions
    const twin = new TinyBackbone(8, 12, 5);
    await encodeImage(withOnnxRuntime({ backbone: twin, fingerprint: plain.fingerprint }, { runner: own }), img);
    expect(own.sessionKeys().filter((k) => k.endsWith(':0102030405060708:analysis:default'))).toHaveLength(2);
    twin.dispose();
    await own.dispose();
    expect(own.has(key)).toBe(false);
  });

  it('a graph onnxruntime cannot load is a typed error, and is not cached', async () => {
    const own = new OnnxRunner({ threads: 1 });
    await expect(own.session('bad', () => new Uint8Array([1, 2, 3]))).rejects.toMatchObject({ code: 'ONNX_RUNTIME' });
    await new Promise((r) => setTimeout(r, 0));
    expect(own.has('bad')).toBe(false);
    expect(() => new OnnxRunner({ threads: 0 })).toThrow(expect.objectContaining({ code: 'USAGE' }));
  });
});
