/**
 * COCO object detection with the CenterNet (MobileNetV3) graph model that
 * @vladmandic/human ships in `models/centernet.json` (MIT; upstream
 * 610265158/mobilenetv3_centernet), loaded offline from the package files.
 *
 * Input 512x512 RGB in 0..255 (any picture is stretched to it, bilinear, as
 * human does). Output `tower_0/detections` [1, 100, 6]: x1, y1, x2, y2 in
 * input pixels, score, class index 0..79 (COCO_LABELS). As in human's own
 * post-processing (src/object/centernet.ts), overlapping boxes are thinned by
 * class-agnostic non-maximum suppression at IoU 0.4; boxes come back as
 * fractions of the picture, so they hold for its real size.
 *
 * Inference only: the `detections` output goes through StridedSlice, which
 * has no gradient in tfjs (FACTS.md); gradients would have to go through
 * `keypoints` / `wh`.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { GraphModel } from '@tensorflow/tfjs-converter';
import { PsicError } from '@psic/entropy';
import { HUMAN_PACKAGE, loadPackageGraphModel } from '../npm/human-face.js';
import { COCO_LABELS } from './coco-labels.js';

export const CENTERNET_INPUT = 512;
const OUTPUT = 'tower_0/detections';

/** A detected object: corners as fractions of the picture (x right, y down), COCO class index and score. */
export interface ObjectBox {
  x1: number;
  y1: number;
  x2: number;
  y2: number;
  label: number;
  score: number;
}

export interface CenterNetOptions {
  /** drop detections scoring below this (default 0.05: low enough for precision-recall curves; human's own display threshold is 0.2) */
  minScore?: number;
  /** class-agnostic NMS IoU (default 0.4, human's) */
  iouThreshold?: number;
  /** keep at most this many per picture (default 100, all the model gives) */
  maxDetections?: number;
}

function iou(a: ObjectBox, b: ObjectBox): number {
  const iw = Math.min(a.x2, b.x2) - Math.max(a.x1, b.x1);
  const ih = Math.min(a.y2, b.y2) - Math.max(a.y1, b.y1);
  if (iw <= 0 || ih <= 0) return 0;
  const inter = iw * ih;
  return inter / ((a.x2 - a.x1) * (a.y2 - a.y1) + (b.x2 - b.x1) * (b.y2 - b.y1) - inter);
}

/** Greedy NMS over boxes of every class together, best score first. */
export function suppressOverlaps(boxes: ObjectBox[], iouThreshold: number): ObjectBox[] {
  const kept: ObjectBox[] = [];
  for (const b of [...boxes].sort((p, q) => q.score - p.score)) {
    if (kept.every((k) => iou(k, b) <= iouThreshold)) kept.push(b);
  }
  return kept;
}

export class CenterNetDetector {
  readonly name = 'centernet';
  readonly labels = COCO_LABELS;
  private readonly minScore: number;
  private readonly iouThreshold: number;
  private readonly maxDetections: number;

  constructor(private readonly model: GraphModel, options: CenterNetOptions = {}) {
    this.minScore = options.minScore ?? 0.05;
    this.iouThreshold = options.iouThreshold ?? 0.4;
    this.maxDetections = options.maxDetections ?? 100;
    if (!(this.minScore >= 0 && this.minScore <= 1)) throw new PsicError('BAD_OPTION', `centernet: minScore must be in [0, 1], got ${this.minScore}`);
    if (!(this.iouThreshold > 0 && this.iouThreshold <= 1)) throw new PsicError('BAD_OPTION', `centernet: iouThreshold must be in (0, 1], got ${this.iouThreshold}`);
  }

  /** Load from the installed @vladmandic/human package (offline). */
  static async load(options: CenterNetOptions = {}): Promise<CenterNetDetector> {
    // no ReLU6 rewrite: that serves gradients, and detection never takes any
    return new CenterNetDetector(await loadPackageGraphModel(HUMAN_PACKAGE, 'models/centernet.json', { rewriteReluClips: false }), options);
  }

  /** Raw model output [1, 100, 6] for one NHWC [1, H, W, 3] picture in [0, 1]. */
  raw(x: tf.Tensor4D): tf.Tensor3D {
    if (x.rank !== 4 || x.shape[0] !== 1 || x.shape[3] !== 3) throw new PsicError('BAD_INPUT', `centernet: expected one RGB picture [1, H, W, 3], got [${x.shape.join(', ')}]`);
    return tf.tidy(() => {
      const input = tf.mul(tf.image.resizeBilinear(x, [CENTERNET_INPUT, CENTERNET_INPUT]), 255);
      return this.model.execute(input, OUTPUT) as tf.Tensor3D;
    });
  }

  /** Objects in one picture (NHWC [1, H, W, 3] in [0, 1]), best first. */
  async detectTensor(x: tf.Tensor4D): Promise<ObjectBox[]> {
    const out = this.raw(x);
    const rows = (await out.array())[0];
    out.dispose();
    const clamp = (v: number) => Math.min(1, Math.max(0, v / CENTERNET_INPUT));
    const boxes: ObjectBox[] = [];
    for (const [x1, y1, x2, y2, score, cls] of rows) {
      if (!Number.isFinite(cls) || !Number.isFinite(score) || score < this.minScore) continue;
      const label = Math.round(cls);
      if (label < 0 || label >= COCO_LABELS.length) continue;
      const box = { x1: clamp(Math.min(x1, x2)), y1: clamp(Math.min(y1, y2)), x2: clamp(Math.max(x1, x2)), y2: clamp(Math.max(y1, y2)), label, score };
      if (box.x2 > box.x1 && box.y2 > box.y1) boxes.push(box);
    }
    return suppressOverlaps(boxes, this.iouThreshold).slice(0, this.maxDetections);
  }

  /** Objects in a picture given as interleaved RGB floats in [0, 1]. */
  async detect(img: { height: number; width: number; data: Float32Array }): Promise<ObjectBox[]> {
    const x = tf.tensor4d(img.data, [1, img.height, img.width, 3]);
    try {
      return await this.detectTensor(x);
    } finally {
      x.dispose();
    }
  }

  dispose(): void {
    this.model.dispose();
  }
}
