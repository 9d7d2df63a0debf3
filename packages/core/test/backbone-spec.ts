/**
 * The shared backbone spec suite: one set of checks that every LicBackbone
 * must pass, run by each backbone package against its own models
 *
 *   import { backboneSpec } from '../../core/test/backbone-spec.js';
 *   backboneSpec({ name: 'he2021-checkerboard', create: () => codecLike(...) });
 *
 * It checks the contract (shapes, the synthesis hook once per declared block
 * with the declared channels), the codec guarantees (compress -> decompress
 * gives exactly the y-hat the evaluation forward reconstructs from; a stream
 * encoded on one tensor backend decodes bit-identically on another, odd image
 * sizes included; a stream from another model is refused with WRONG_MODEL),
 * the variable groups a training stage freezes, and that one training step
 * reaches every variable. Not a test file itself (no .test.ts), so core's own
 * run skips it; it imports @psic/core like a backbone does.
 */
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  backbones,
  decodeLatent,
  encodeImage,
  paddedSize,
  padReplicate,
  selectBackend,
  type BackboneConfig,
  type LicBackbone,
} from '@psic/core';
import { PsicError, readContainer, writeContainer } from '@psic/entropy';

/** What the suite needs beyond the LicBackbone contract (all backbones here have it: training and loading use it). */
export interface SpecBackbone extends LicBackbone {
  namedVariables(): Record<string, tf.Variable>;
  auxVariables(): tf.Variable[];
  auxLoss(): tf.Scalar;
  dispose(): void;
}

export interface BackboneSpecOptions {
  /** registry name; the suite checks that `backbones.get(name)(config)` builds a backbone of that name */
  name: string;
  /** a small config for the registry check (e.g. { N: 8, M: 12 }) */
  config: BackboneConfig;
  /**
   * A fresh backbone with tiny N / M whose weights behave like a trained
   * codec (y spans several bins, scales spread over the table), so coding is
   * not trivially all zeros.
   */
  create: () => SpecBackbone;
}

/** A smooth colour texture with some fine detail, NHWC data in [0, 1]. */
export function textureData(h: number, w: number, seed = 0): Float32Array {
  const data = new Float32Array(h * w * 3);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      for (let c = 0; c < 3; c++) {
        const v = 0.5 + 0.3 * Math.sin(0.21 * x + 0.13 * y + 2 * c + seed) * Math.cos(0.07 * y - 0.17 * x) + 0.1 * Math.sin(1.3 * x * y + seed);
        data[(y * w + x) * 3 + c] = Math.min(1, Math.max(0, v));
      }
  return data;
}

function texture(h: number, w: number, seed = 0): tf.Tensor4D {
  return tf.tensor4d(textureData(h, w, seed), [1, h, w, 3]);
}

function sameBits(a: tf.Tensor, b: tf.Tensor): boolean {
  const x = a.dataSync() as Float32Array;
  const y = b.dataSync() as Float32Array;
  return x.length === y.length && Buffer.from(x.buffer, x.byteOffset, x.byteLength).equals(Buffer.from(y.buffer, y.byteOffset, y.byteLength));
}

function errorCode(err: unknown): string | undefined {
  return err instanceof PsicError ? err.code : undefined;
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

export function backboneSpec(opts: BackboneSpecOptions): void {
  describe(`${opts.name}: backbone spec`, () => {
    beforeAll(async () => {
      await selectBackend('cpu', { log: () => {} });
      await selectBackend('wasm', { log: () => {} });
      await tf.setBackend('cpu');
    });

    it('is registered under its name and builds from a sidecar config', () => {
      const model = backbones.get(opts.name)(opts.config) as SpecBackbone;
      expect(model.name).toBe(opts.name);
      for (const [key, value] of Object.entries(opts.config)) expect(model.config[key]).toBe(value);
      model.dispose();
    });

    it('has the contract shapes, and calls the hook once per synthesis block with the declared channels', () => {
      const model = opts.create();
      const x = texture(64, 128);
      const y = model.analysis(x);
      expect(y.shape.slice(0, 3)).toEqual([1, 4, 8]);
      const M = y.shape[3];
      expect(model.synthesis(y).shape).toEqual([1, 64, 128, 3]);

      for (const training of [false, true]) {
        const seen: { block: number; shape: number[] }[] = [];
        const out = model.forward(x, {
          training,
          hook: (block, features) => {
            seen.push({ block, shape: features.shape });
            // The hook's return value must be what the next block gets: zero the last block's output.
            return block === model.synthesisBlocks.length - 1 ? tf.zerosLike(features) : features;
          },
        });
        expect(seen.map((s) => s.block)).toEqual(model.synthesisBlocks.map((_, i) => i));
        seen.forEach(({ block, shape }) => expect(shape[3], `block ${block} channels`).toBe(model.synthesisBlocks[block].channels));
        expect(out.xHat.shape).toEqual([1, 64, 128, 3]);
        expect(Math.max(...Array.from(tf.abs(out.xHat).dataSync()))).toBe(0);
        expect(out.likelihoods.length).toBeGreaterThan(0);
        for (const p of out.likelihoods) {
          const values = p.dataSync();
          expect(values.every((v) => v > 0 && v <= 1)).toBe(true);
        }
        // y's likelihoods cover every latent element
        expect(out.likelihoods.reduce((n, p) => n + p.size, 0)).toBeGreaterThanOrEqual(4 * 8 * M);
      }
      model.dispose();
    });

    it('compress -> decompress gives exactly the y-hat the evaluation forward reconstructs from', async () => {
      const model = opts.create();
      const x = texture(64, 128, 1);
      const sections = await model.compress(x);
      const yHat = await model.decompress(sections, { height: 64, width: 128 });
      const y = model.analysis(x);
      expect(yHat.shape).toEqual(y.shape);
      // the latents really use the entropy model: several distinct values
      expect(new Set(Array.from(yHat.dataSync()).map(Math.round)).size).toBeGreaterThan(3);
      // and y-hat is a quantization of y, not something else
      const err = tf.tidy(() => tf.mean(tf.abs(tf.sub(yHat, y))).dataSync()[0]);
      expect(err).toBeLessThan(1);
      const { xHat } = model.forward(x, { training: false });
      expect(sameBits(xHat, model.synthesis(yHat))).toBe(true);
      model.dispose();
    });

    it('streams encoded on wasm or cpu decode bit-identically on both, odd image sizes included', async () => {
      const model = opts.create();
      const fingerprint = new Uint8Array(8).fill(3);
      const codec = { backbone: model, fingerprint };
      for (const [h, w] of [[80, 48], [61, 97]]) {
        const img = { height: h, width: w, data: textureData(h, w, 2) };
        for (const encodeOn of ['wasm', 'cpu']) {
          await tf.setBackend(encodeOn);
          const bytes = await encodeImage(codec, img);
          const decoded: Record<string, tf.Tensor4D> = {};
          for (const decodeOn of ['cpu', 'wasm']) {
            await tf.setBackend(decodeOn);
            const out = await decodeLatent(codec, bytes);
            expect([out.height, out.width]).toEqual([h, w]);
            expect(out.yHat.shape.slice(1, 3)).toEqual([paddedSize(h) / 16, paddedSize(w) / 16]);
            decoded[decodeOn] = out.yHat;
          }
          expect(sameBits(decoded.cpu, decoded.wasm), `${h}x${w} encoded on ${encodeOn}`).toBe(true);
          // on the encoding backend, the decode is exactly the evaluation forward's y-hat
          await tf.setBackend(encodeOn);
          const ph = paddedSize(h);
          const pw = paddedSize(w);
          const x = tf.tensor4d(padReplicate(img.data, h, w, 3, ph, pw), [1, ph, pw, 3]);
          expect(sameBits(model.forward(x, { training: false }).xHat, model.synthesis(decoded[encodeOn]))).toBe(true);
        }
      }
      await tf.setBackend('cpu');
      model.dispose();
    });

    it('refuses a stream written by another model, and malformed section lists, with typed errors', async () => {
      const model = opts.create();
      const codec = { backbone: model, fingerprint: new Uint8Array(8).fill(5) };
      const bytes = await encodeImage(codec, { height: 64, width: 64, data: textureData(64, 64, 3) });
      const otherWeights = { backbone: model, fingerprint: new Uint8Array(8).fill(6) };
      expect(errorCode(await rejection(decodeLatent(otherWeights, bytes)))).toBe('WRONG_MODEL');
      const container = readContainer(bytes);
      const otherBackbone = writeContainer({ ...container, backbone: `${opts.name === 'x' ? 'y' : 'x'}-other-backbone` });
      expect(errorCode(await rejection(decodeLatent(codec, otherBackbone)))).toBe('WRONG_MODEL');
      // right model, wrong number of sections: a typed error, not a crash
      const missing = writeContainer({ ...container, sections: container.sections.slice(0, -1) });
      expect(errorCode(await rejection(decodeLatent(codec, missing)))).toBeDefined();
      // a truncated section (container checksum recomputed, so the backbone's own decoder sees it): a typed error
      for (let i = 0; i < container.sections.length; i++) {
        const sections = container.sections.map((s, j) => (j === i ? s.subarray(0, Math.floor(s.length / 2)) : s));
        const err = await rejection(model.decompress(sections, { height: 64, width: 64 }));
        expect(errorCode(err), `section ${i} truncated: ${String(err)}`).toBeDefined();
      }
      model.dispose();
    });

    it('splits its variables into disjoint encoder / entropy / decoder groups that cover all of them', () => {
      const model = opts.create();
      const groups = (['encoder', 'entropy', 'decoder'] as const).map((g) => model.variables(g));
      const all = model.variables();
      const names = (vs: tf.Variable[]) => vs.map((v) => v.name);
      const grouped = groups.flatMap(names);
      expect(new Set(grouped).size, 'groups are disjoint').toBe(grouped.length);
      expect([...grouped].sort()).toEqual(names(all).sort());
      groups.forEach((g) => expect(g.length).toBeGreaterThan(0));
      // every named variable is either trainable (in a group) or auxiliary, never both
      const aux = new Set(names(model.auxVariables()));
      const named = Object.values(model.namedVariables()).map((v) => v.name);
      expect(new Set(named).size).toBe(named.length);
      expect(named.filter((n) => !aux.has(n)).sort()).toEqual([...grouped].sort());
      expect(grouped.filter((n) => aux.has(n))).toEqual([]);
      model.dispose();
    });

    it('trains: the rate-distortion loss reaches every variable and one Adam step changes them', () => {
      const model = opts.create();
      const x = texture(64, 64, 4);
      const vars = model.variables();
      const loss = () =>
        tf.tidy(() => {
          const out = model.forward(x, { training: true });
          const bits = tf.addN(out.likelihoods.map((p) => tf.sum(tf.log(p))));
          return tf.add(tf.mul(100, tf.mean(tf.squaredDifference(out.xHat, x))), tf.div(bits, -Math.LN2 * 64 * 64)) as tf.Scalar;
        });
      const { value, grads } = tf.variableGrads(loss, vars);
      expect(Number.isFinite(value.dataSync()[0])).toBe(true);
      for (const v of vars) {
        expect(grads[v.name], v.name).toBeDefined();
        expect(tf.all(tf.isFinite(grads[v.name])).dataSync()[0], `${v.name} finite`).toBe(1);
      }
      // every variable's gradient is nonzero somewhere (nothing is disconnected)
      const dead = vars.filter((v) => tf.max(tf.abs(grads[v.name])).dataSync()[0] === 0).map((v) => v.name);
      expect(dead).toEqual([]);
      const before = vars.map((v) => v.clone());
      const optimizer = tf.train.adam(1e-3);
      optimizer.applyGradients(vars.map((v) => ({ name: v.name, tensor: grads[v.name] })));
      const changed = vars.filter((v, i) => !sameBits(v, before[i])).length;
      expect(changed).toBe(vars.length);
      const aux = tf.variableGrads(() => model.auxLoss(), model.auxVariables());
      expect(Number.isFinite(aux.value.dataSync()[0])).toBe(true);
      tf.dispose([value, ...Object.values(grads), ...before, aux.value, ...Object.values(aux.grads)]);
      optimizer.dispose();
      model.dispose();
    });
  });
}
