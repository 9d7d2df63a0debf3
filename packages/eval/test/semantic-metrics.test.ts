import { describe, expect, it } from 'vitest';
import {
  attackSuccess,
  attackSuccessRate,
  attributeAccuracy,
  attributeHits,
  hitRate,
  imageToTextHits,
  recallAt1,
  textToImageHits,
  topOneHits,
  zeroShotTop1,
} from '../src/index.js';

describe('zeroShotTop1', () => {
  const scores = [
    [0.9, 0.1, 0.0], // argmax 0
    [0.2, 0.3, 0.5], // argmax 2
    [0.4, 0.4, 0.1], // tie between 0 and 1
    [0.1, 0.7, 0.2], // argmax 1
  ];
  it('counts the rows whose true class is the strict maximum', () => {
    expect(topOneHits(scores, [0, 2, 0, 0])).toEqual([true, true, false, false]);
    expect(zeroShotTop1(scores, [0, 2, 0, 0])).toBe(0.5);
    expect(zeroShotTop1(scores, [0, 2, 1, 1])).toBe(0.75);
  });
  it('counts a tie with a wrong class as a miss, so constant scores give 0', () => {
    expect(zeroShotTop1([[1, 1], [1, 1]], [0, 1])).toBe(0);
  });
  it('treats a NaN on the true class as a miss and ignores NaN elsewhere', () => {
    expect(topOneHits([[NaN, 0.2], [0.3, NaN]], [0, 0])).toEqual([false, true]);
  });
  it('is NaN with no samples', () => {
    expect(zeroShotTop1([], [])).toBeNaN();
  });
  it('rejects bad labels and shapes', () => {
    expect(() => zeroShotTop1(scores, [0, 1])).toThrow(RangeError);
    expect(() => zeroShotTop1(scores, [0, 1, 2, 3])).toThrow(/label of sample 3/);
    expect(() => zeroShotTop1([[1, 2], [1]], [0, 0])).toThrow(/row 1/);
  });
});

describe('recallAt1', () => {
  // images x texts, pairs on the diagonal
  const sim = [
    [0.9, 0.2, 0.1], // image 0 -> text 0 (hit)
    [0.8, 0.5, 0.1], // image 1 -> text 0 (miss)
    [0.3, 0.2, 0.7], // image 2 -> text 2 (hit)
  ];
  it('image -> text: best text of each row', () => {
    expect(imageToTextHits(sim)).toEqual([true, false, true]);
  });
  it('text -> image: best image of each column', () => {
    // column 0: 0.9, 0.8, 0.3 -> image 0 (hit); column 1: 0.2, 0.5, 0.2 -> image 1 (hit); column 2 -> image 2 (hit)
    expect(textToImageHits(sim)).toEqual([true, true, true]);
    expect(recallAt1(sim)).toEqual({ imageToText: 2 / 3, textToImage: 1 });
  });
  it('handles several captions per image through imageOfText', () => {
    // 2 images, 4 texts: texts 0,1 describe image 0; texts 2,3 describe image 1
    const s = [
      [0.1, 0.6, 0.5, 0.2], // best is text 1 (own) -> hit
      [0.7, 0.1, 0.6, 0.3], // best is text 0 (image 0's) -> miss
    ];
    const owner = [0, 0, 1, 1];
    expect(imageToTextHits(s, owner)).toEqual([true, false]);
    // columns: t0 -> image 1 (miss), t1 -> image 0 (hit), t2 -> image 1 (hit), t3 -> image 1 (hit)
    expect(textToImageHits(s, owner)).toEqual([false, true, true, true]);
    expect(recallAt1(s, owner)).toEqual({ imageToText: 0.5, textToImage: 0.75 });
  });
  it('counts a tie between two of the image own captions as a hit but a tie with another image caption as a miss', () => {
    expect(imageToTextHits([[0.5, 0.5, 0.1]], [0, 0, 0])).toEqual([true]);
    expect(imageToTextHits([[0.5, 0.5], [0, 1]])).toEqual([false, true]);
  });
  it('needs imageOfText for a non-square matrix and checks its entries', () => {
    expect(() => recallAt1([[1, 2, 3]])).toThrow(/imageOfText/);
    expect(() => recallAt1([[1, 2]], [0, 1])).toThrow(/imageOfText\[1\]/);
  });
  it('is NaN for an empty matrix', () => {
    const r = recallAt1([]);
    expect(r.imageToText).toBeNaN();
    expect(r.textToImage).toBeNaN();
  });
});

describe('attributeAccuracy', () => {
  it('thresholds scores at 0.5 by default', () => {
    expect(attributeHits([0.9, 0.2, 0.5, 0.7], [1, 0, 1, false])).toEqual([true, true, false, false]);
    expect(attributeAccuracy([0.9, 0.2, 0.5, 0.7], [true, false, true, false])).toBe(0.5);
  });
  it('takes another threshold, e.g. 0 for logits', () => {
    expect(attributeAccuracy([-2, 3, 0.1], [0, 1, 0], 0)).toBeCloseTo(2 / 3, 12);
  });
  it('counts NaN scores as misses, is NaN when empty and rejects non-binary labels', () => {
    expect(attributeHits([NaN, NaN], [0, 1])).toEqual([false, false]);
    expect(attributeAccuracy([], [])).toBeNaN();
    expect(() => attributeAccuracy([0.5], [2])).toThrow(/label 0/);
    expect(() => attributeAccuracy([0.5, 0.1], [1])).toThrow(RangeError);
  });
});

describe('attackSuccessRate (PSIC definition)', () => {
  it('counts only the samples correct on the reference decode', () => {
    const reference = [true, true, true, false, false];
    const protectedDecode = [false, true, false, false, true];
    // eligible: 0, 1, 2; fooled: 0, 2 -> 2 / 3. Samples 3 and 4 (wrong on reference) do not count.
    expect(attackSuccess(reference, protectedDecode)).toEqual({ eligible: 3, fooled: 2, rate: 2 / 3 });
    expect(attackSuccessRate(reference, protectedDecode)).toBeCloseTo(2 / 3, 12);
  });
  it('is 0 when the protected decode is right everywhere the reference is, 1 when wrong everywhere', () => {
    expect(attackSuccessRate([true, false, true], [true, false, true])).toBe(0);
    expect(attackSuccessRate([true, false, true], [false, true, false])).toBe(1);
  });
  it('is NaN when no sample is correct on the reference (empty input included)', () => {
    expect(attackSuccessRate([false, false], [false, true])).toBeNaN();
    expect(attackSuccess([], [])).toEqual({ eligible: 0, fooled: 0, rate: NaN });
  });
  it('rejects lists of different lengths', () => {
    expect(() => attackSuccessRate([true], [true, false])).toThrow(RangeError);
  });
  it('composes with the per-sample hit functions', () => {
    const labels = [0, 1, 1];
    const reference = topOneHits([[2, 1], [0, 3], [4, 1]], labels); // [true, true, false]
    const protectedDecode = topOneHits([[1, 2], [0, 3], [0, 5]], labels); // [false, true, true]
    expect(attackSuccessRate(reference, protectedDecode)).toBe(0.5);
  });
});

describe('hitRate', () => {
  it('is the share of true values', () => {
    expect(hitRate([true, false, false, true])).toBe(0.5);
    expect(hitRate([])).toBeNaN();
  });
});
