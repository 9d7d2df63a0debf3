import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assignWeights, collectWeights, selectBackend, type SemanticTarget } from '@psic/core';
import { PsicError } from '@psic/entropy';
import { naiveAttack } from '@psic/objectives';
import { PairDataset, RandomTarget } from '@psic/train';
import { cachedTextEmbeddings, trainBavaft, TriggerNet, type BavaftCodec, type BavaftTrainOptions } from '../src/index.js';
import { trainedTinyCodec, syntheticImage, tinyCodec, writeClassFolders } from './helpers.js';

let dir: string;
let pairs: PairDataset;
let target: RandomTarget;
const quiet = () => {};

beforeAll(async () => {
  await selectBackend('cpu', { log: quiet });
  target = new RandomTarget({ seed: 3 });
  dir = mkdtempSync(join(tmpdir(), 'psic-bavaft-'));
  await writeClassFolders(join(dir, 'data'), ['cat', 'dog', 'ship'], 2, [72, 80]);
  // one template: the random target's caption embeddings are random per string, so one caption per class keeps the attack's direction fixed
  pairs = await PairDataset.fromClassFolders(join(dir, 'data'), ['a photo of a {}.']);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function options(codec: BavaftCodec, trigger: TriggerNet, outDir: string, over: Partial<BavaftTrainOptions> = {}): BavaftTrainOptions {
  return {
    codec, trigger, target, data: pairs, outDir,
    steps: 4, lambda: 0.0018, batchSize: 2, crop: 64,
    learningRate: 1e-3, triggerLearningRate: 1e-2,
    checkpointEvery: 2, validateEvery: 1000, seed: 9, resume: false, clipNorm: 1,
    meta: {}, log: quiet, ...over,
  };
}

/** The attack term on a fixed batch through the evaluation forward (rounded latents): what training should lower. */
function attackOnFixedBatch(codec: BavaftCodec, trigger: TriggerNet, t: SemanticTarget, x: tf.Tensor4D, captions: string[]): number {
  return tf.tidy(() => {
    const xHat = codec.forward(trigger.poison(x), { training: false }).xHat;
    const texts = cachedTextEmbeddings(t, new Map(), captions);
    return naiveAttack(t.embedImages(tf.clipByValue(xHat, 0, 1) as tf.Tensor4D), texts).dataSync()[0];
  });
}

function stepRecords(outDir: string): Record<string, number>[] {
  return readFileSync(join(outDir, 'train.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((r) => r.type === 'step');
}

describe('trainBavaft', () => {
  it('lowers the attack loss of the poisoned decode in a few steps (tiny trained codec, random target)', async () => {
    const codec = await trainedTinyCodec();
    const trigger = new TriggerNet({}, { seed: 1 });
    // the training pictures' top-left 64×64 corners (writeClassFolders seeds them 100, 101, ... class by class)
    const corner = (seed: number) => tf.slice(tf.tensor4d(syntheticImage(72, 80, seed).data, [1, 72, 80, 3]), [0, 0, 0, 0], [1, 64, 64, 3]);
    const x = tf.concat([100, 102, 104, 101].map(corner)) as tf.Tensor4D;
    const captions = ['a photo of a cat.', 'a photo of a dog.', 'a photo of a ship.', 'a photo of a cat.'];
    const before = attackOnFixedBatch(codec, trigger, target, x, captions);
    const result = await trainBavaft(options(codec, trigger, join(dir, 'attack'), { steps: 8, lambdaAttack: 10, checkpointEvery: 100 }));
    expect(result.step).toBe(8);
    const after = attackOnFixedBatch(codec, trigger, target, x, captions);
    expect(after).toBeLessThan(before - 0.05);
    const records = stepRecords(join(dir, 'attack'));
    expect(records).toHaveLength(8);
    for (const r of records) {
      expect(Number.isFinite(r.loss)).toBe(true);
      expect(r.psnrTrigger).toBeGreaterThan(35); // the default trigger's floor is 37.9 dB
    }
    codec.dispose();
    trigger.dispose();
  });

  it('resumes from a checkpoint to exactly the weights of an uninterrupted run', async () => {
    // every piece of state in play: all codec groups (so the quantiles' Adam too), the dynamic balance, a warm-up stage
    const over: Partial<BavaftTrainOptions> = { trainable: ['encoder', 'entropy', 'decoder'], balance: 'dynamic', warmupSteps: 1 };
    const start = tinyCodec();
    const initial = collectWeights(start);
    const fresh = () => {
      const codec = tinyCodec();
      assignWeights(codec, initial);
      return { codec, trigger: new TriggerNet({ hidden: 16 }, { seed: 7 }) };
    };
    const a = fresh();
    await trainBavaft(options(a.codec, a.trigger, join(dir, 'straight'), { ...over, steps: 4 }));

    const b = fresh();
    await trainBavaft(options(b.codec, b.trigger, join(dir, 'resumed'), { ...over, steps: 2 }));
    const c = fresh(); // a new process: only the checkpoint carries the state
    const resumed = await trainBavaft(options(c.codec, c.trigger, join(dir, 'resumed'), { ...over, steps: 4, resume: true }));
    expect(resumed.step).toBe(4);

    const all = (m: { codec: BavaftCodec; trigger: TriggerNet }) => ({ ...m.codec.namedVariables(), ...m.trigger.namedVariables() });
    const [va, vc] = [all(a), all(c)];
    expect(Object.keys(vc).sort()).toEqual(Object.keys(va).sort());
    for (const [name, v] of Object.entries(va)) expect(Array.from(vc[name].dataSync()), name).toEqual(Array.from(v.dataSync()));
    const straight = stepRecords(join(dir, 'straight'));
    const split = stepRecords(join(dir, 'resumed'));
    expect(split.map((r) => r.step)).toEqual([1, 2, 3, 4]);
    for (const i of [2, 3]) {
      const { seconds: _s1, ...ra } = straight[i];
      const { seconds: _s2, ...rc } = split[i];
      expect(rc).toEqual(ra);
    }
    expect(split[0].stage).toBe(1);
    expect(split[1].stage).toBe(2);
    start.dispose();
  });

  it('rejects bad options with usage errors', async () => {
    const codec = tinyCodec();
    const trigger = new TriggerNet({ hidden: 8 });
    await expect(trainBavaft(options(codec, trigger, join(dir, 'bad'), { crop: 72 }))).rejects.toThrow(PsicError);
    await expect(trainBavaft(options(codec, trigger, join(dir, 'bad'), { warmupSteps: 9 }))).rejects.toThrow(/warm-up/);
    await expect(trainBavaft(options(codec, trigger, join(dir, 'bad'), { trainable: ['adapter' as 'encoder'] }))).rejects.toThrow(/codec group/);
  });
});
