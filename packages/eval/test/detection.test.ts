import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readImage, selectBackend } from '@psic/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// @psic/vlp's detector, from its source (the eval package scores any ObjectDetector)
import { CenterNetDetector, COCO_LABELS, suppressOverlaps } from '../../vlp/src/detect/index.js';
import { averagePrecision, boxIou, confidentDetections, meanAveragePrecision, type Detection } from '../src/index.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const photos = resolve(repoRoot, '..', 'shared', 'data', 'photos');

const box = (x1: number, y1: number, x2: number, y2: number, label = 0, score = 1): Detection => ({ x1, y1, x2, y2, label, score });

describe('boxIou', () => {
  it('is 1 for the same box, 0 apart, and intersection / union in between', () => {
    expect(boxIou(box(0, 0, 0.5, 0.5), box(0, 0, 0.5, 0.5))).toBe(1);
    expect(boxIou(box(0, 0, 0.2, 0.2), box(0.2, 0, 0.4, 0.2))).toBe(0); // touching edges
    // [0,2]x[0,2] and [1,3]x[0,2]: intersection 2, union 6
    expect(boxIou(box(0, 0, 0.2, 0.2), box(0.1, 0, 0.3, 0.2))).toBeCloseTo(1 / 3, 12);
    // one inside the other: inner area / outer area
    expect(boxIou(box(0, 0, 1, 1), box(0.25, 0.25, 0.75, 0.75))).toBeCloseTo(0.25, 12);
    expect(boxIou(box(0.5, 0.5, 0.5, 0.5), box(0.5, 0.5, 0.5, 0.5))).toBe(0); // empty boxes
  });
});

describe('averagePrecision', () => {
  it('integrates the monotone precision envelope over recall (hand-computed)', () => {
    // hits T F T against 2 boxes: precision 1, 1/2, 2/3 at recall 1/2, 1/2, 1 -> envelope 1, 2/3, 2/3
    expect(averagePrecision([true, false, true], 2)).toBeCloseTo(0.5 * 1 + 0.5 * (2 / 3), 12);
    // F T: precision 1/2 at recall 1
    expect(averagePrecision([false, true], 1)).toBeCloseTo(0.5, 12);
    expect(averagePrecision([true, true], 4)).toBeCloseTo(0.5, 12); // half the boxes never found
    expect(averagePrecision([false], 1)).toBe(0);
    expect(averagePrecision([], 0)).toBeNaN();
  });
});

describe('meanAveragePrecision', () => {
  const truth = [[box(0, 0, 0.5, 0.5, 1), box(0.5, 0.5, 1, 1, 2)], [box(0.1, 0.1, 0.4, 0.4, 1)]];

  it('is 1 for the ground truth itself and 0 for the right boxes with wrong classes', () => {
    expect(meanAveragePrecision(truth, truth).map).toBe(1);
    const swapped = truth.map((img) => img.map((d) => ({ ...d, label: d.label === 1 ? 2 : 1 })));
    expect(meanAveragePrecision(truth, swapped).map).toBe(0);
  });

  it('needs IoU >= 0.5, counts duplicates as false positives, averages classes', () => {
    const preds = [
      // class 1: a good box (IoU 0.64), then a duplicate of it; class 2: a box with IoU 0.25
      [box(0, 0, 0.4, 0.4, 1, 0.9), box(0, 0, 0.4, 0.4, 1, 0.8), box(0.75, 0.75, 1, 1, 2, 0.7)],
      [box(0.1, 0.1, 0.4, 0.4, 1, 0.85)],
    ];
    const r = meanAveragePrecision(truth, preds);
    // class 1 in score order: T (0.9), T (0.85, image 1), F (0.8 duplicate) -> AP 1; class 2: AP 0
    expect(r.perClass).toEqual([
      { label: 1, ap: 1, groundTruth: 2, predictions: 3 },
      { label: 2, ap: 0, groundTruth: 1, predictions: 1 },
    ]);
    expect(r.map).toBe(0.5);
    // a lower-scored true positive after a false one costs precision
    const late = [[box(0.6, 0.6, 0.9, 0.9, 1, 0.9), box(0, 0, 0.5, 0.5, 1, 0.5)], []];
    expect(meanAveragePrecision([[truth[0][0]], []], late).map).toBeCloseTo(0.5, 12);
  });

  it('is NaN without ground truth and checks the image counts', () => {
    expect(meanAveragePrecision([[], []], [[box(0, 0, 1, 1)], []]).map).toBeNaN();
    expect(() => meanAveragePrecision([[]], [])).toThrow(RangeError);
  });

  it('keeps confident detections as pseudo ground truth', () => {
    expect(confidentDetections([box(0, 0, 1, 1, 0, 0.1), box(0, 0, 1, 1, 0, 0.3)], 0.2).map((d) => d.score)).toEqual([0.3]);
  });
});

describe('CenterNet from @vladmandic/human', () => {
  let detector: CenterNetDetector;
  beforeAll(async () => {
    await selectBackend('wasm', { log: () => {} });
    detector = await CenterNetDetector.load();
  });
  afterAll(() => detector?.dispose());

  it('finds the two macaws of kodim23 as birds, boxes as fractions of the picture', async () => {
    const img = await readImage(join(photos, 'kodim23.png'));
    const found = await detector.detect(img);
    const birds = found.filter((d) => COCO_LABELS[d.label] === 'bird' && d.score >= 0.3);
    expect(birds.length).toBe(2);
    for (const d of found) {
      expect(d.x1).toBeGreaterThanOrEqual(0);
      expect(d.x2).toBeLessThanOrEqual(1);
      expect(d.x2).toBeGreaterThan(d.x1);
      expect(d.y2).toBeGreaterThan(d.y1);
    }
    // one bird on each half of the picture
    const centres = birds.map((d) => (d.x1 + d.x2) / 2).sort();
    expect(centres[0]).toBeLessThan(0.5);
    expect(centres[1]).toBeGreaterThan(0.5);
    // scores come best first, and the detections score 1 against themselves
    expect(found.map((d) => d.score)).toEqual([...found.map((d) => d.score)].sort((a, b) => b - a));
    expect(meanAveragePrecision([confidentDetections(found, 0.2)], [found]).map).toBe(1);
  });

  it('thins overlapping boxes of any class (non-maximum suppression)', () => {
    const kept = suppressOverlaps([box(0, 0, 0.5, 0.5, 3, 0.5), box(0, 0, 0.5, 0.45, 7, 0.9), box(0.6, 0.6, 1, 1, 3, 0.2)], 0.4);
    expect(kept.map((d) => d.score)).toEqual([0.9, 0.2]);
  });
});
