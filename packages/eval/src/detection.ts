/**
 * Object-detection scoring: box IoU and mean average precision at an IoU
 * threshold (mAP@0.5 by default).
 *
 * Matching (as COCO's evaluation): per class, predictions of every image are
 * taken in descending score order (ties keep image order, then list order);
 * each is a true positive when it overlaps a not-yet-matched ground-truth box
 * of its class in its image with IoU >= the threshold (the best such box is
 * used up), else a false positive. AP is the area under the precision-recall
 * curve with precision made monotone (all-point interpolation, VOC 2010+).
 * mAP is the mean over the classes that have at least one ground-truth box;
 * NaN when no class has any (nothing to find).
 */
import type { RgbImage } from '@psic/core';

/** Box corners as fractions of the image (x to the right, y down, 0..1). */
export interface Box {
  x1: number;
  y1: number;
  x2: number;
  y2: number;
}

export interface Detection extends Box {
  /** class index (detector's own numbering, e.g. COCO-80) */
  label: number;
  score: number;
}

/** Anything that finds objects in a picture. */
export interface ObjectDetector {
  readonly name: string;
  /** class names by index, for reports */
  readonly labels?: readonly string[];
  detect(img: RgbImage): Promise<Detection[]>;
}

function area(b: Box): number {
  return Math.max(0, b.x2 - b.x1) * Math.max(0, b.y2 - b.y1);
}

/** Intersection over union; 0 when the union is empty. */
export function boxIou(a: Box, b: Box): number {
  const iw = Math.min(a.x2, b.x2) - Math.max(a.x1, b.x1);
  const ih = Math.min(a.y2, b.y2) - Math.max(a.y1, b.y1);
  const inter = iw > 0 && ih > 0 ? iw * ih : 0;
  const union = area(a) + area(b) - inter;
  return union > 0 ? inter / union : 0;
}

/**
 * AP from predictions already sorted by descending score, each marked true
 * or false positive, against `groundTruth` boxes in all. 0 with predictions
 * but none correct; NaN without ground truth.
 */
export function averagePrecision(truePositive: boolean[], groundTruth: number): number {
  if (groundTruth === 0) return NaN;
  const precision: number[] = [];
  const recall: number[] = [];
  let tp = 0;
  truePositive.forEach((hit, i) => {
    if (hit) tp++;
    precision.push(tp / (i + 1));
    recall.push(tp / groundTruth);
  });
  // monotone precision envelope, then the area under it at every recall step
  for (let i = precision.length - 2; i >= 0; i--) precision[i] = Math.max(precision[i], precision[i + 1]);
  let ap = 0;
  let previousRecall = 0;
  for (let i = 0; i < recall.length; i++) {
    if (recall[i] > previousRecall) {
      ap += (recall[i] - previousRecall) * precision[i];
      previousRecall = recall[i];
    }
  }
  return ap;
}

export interface ClassAp {
  label: number;
  ap: number;
  groundTruth: number;
  predictions: number;
}

export interface MapResult {
  /** mean AP over classes with ground truth; NaN when there is none */
  map: number;
  perClass: ClassAp[];
}

/** mAP of per-image predictions against per-image ground truth (same image order). */
export function meanAveragePrecision(groundTruth: Detection[][], predictions: Detection[][], iouThreshold = 0.5): MapResult {
  if (groundTruth.length !== predictions.length) throw new RangeError(`meanAveragePrecision: ${groundTruth.length} ground-truth images but ${predictions.length} prediction images`);
  const labels = new Set<number>();
  for (const img of groundTruth) for (const d of img) labels.add(d.label);
  const perClass: ClassAp[] = [];
  for (const label of [...labels].sort((a, b) => a - b)) {
    const gt = groundTruth.map((img) => img.filter((d) => d.label === label));
    const used = gt.map((boxes) => boxes.map(() => false));
    const preds = predictions
      .flatMap((img, image) => img.filter((d) => d.label === label).map((d, order) => ({ d, image, order })))
      .sort((a, b) => b.d.score - a.d.score || a.image - b.image || a.order - b.order);
    const hits = preds.map(({ d, image }) => {
      let best = -1;
      let bestIou = iouThreshold;
      gt[image].forEach((g, k) => {
        if (used[image][k]) return;
        const iou = boxIou(d, g);
        if (iou >= bestIou) {
          bestIou = iou;
          best = k;
        }
      });
      if (best < 0) return false;
      used[image][best] = true;
      return true;
    });
    const count = gt.reduce((n, b) => n + b.length, 0);
    perClass.push({ label, ap: averagePrecision(hits, count), groundTruth: count, predictions: preds.length });
  }
  const map = perClass.length ? perClass.reduce((s, c) => s + c.ap, 0) / perClass.length : NaN;
  return { map, perClass };
}

/** The detections kept as pseudo ground truth: those scoring at least `minScore`. */
export function confidentDetections(detections: Detection[], minScore: number): Detection[] {
  return detections.filter((d) => d.score >= minScore);
}
