/**
 * UG-ICM's machine evaluation: one bitstream per image, decoded plainly and
 * in each mode of a conditional model (human, machine), and each decode
 * handed to real pretrained models that took no part in training:
 *
 * - detection: mAP@0.5 of a detector's boxes on the decode against its own
 *   boxes on the uncompressed picture (pseudo ground truth: the detections
 *   scoring at least `pseudoTruthScore`, default 0.2, the detector package's
 *   own display threshold). Measures how much of what the detector sees
 *   survives coding, not the detector's own accuracy.
 * - face attributes: each face model's Male / Young / Smiling against the
 *   CelebA labels (target-tasks.ts' attribute prompts; for the npm face
 *   targets, their own posteriors).
 * - classification: nearest-class-mean on a feature extractor's embeddings
 *   (MobileNet), prototypes from the uncompressed pictures.
 * - the supervising target's own zero-shot top-1.
 *
 * Each task runs on the sets it applies to (faces need CelebA attributes,
 * classification needs class labels); the others are left out with a note.
 */
import { PsicError } from '@psic/entropy';
import type { CodecModel, SemanticTarget } from '@psic/core';
import type { ConditionalSynthesis } from '@psic/cltg';
import type { DatasetLayout, EvalDataset } from './datasets.js';
import { confidentDetections, meanAveragePrecision, type Detection, type ObjectDetector } from './detection.js';
import { conditionalVariants, forEachDecoded, type Variant, type VariantFigures } from './mode-decodes.js';
import { embedPicture, prepareTargetTasks, setPrototypes, targetTaskHits, taskScores, type PreparedTasks } from './target-tasks.js';

/** Default score a detection on the uncompressed picture needs to count as pseudo ground truth. */
export const PSEUDO_TRUTH_SCORE = 0.2;

export interface MachineEvalOptions {
  dataset: EvalDataset;
  variants: Variant[];
  /** the target that supervised training: zero-shot top-1 */
  target?: SemanticTarget;
  /** prompt templates for the target's zero-shot classifier */
  templates?: string[];
  detector?: ObjectDetector;
  pseudoTruthScore?: number;
  /** face-attribute models, scored against CelebA labels */
  faceTargets?: SemanticTarget[];
  /** feature extractor for nearest-class classification */
  classifier?: SemanticTarget;
  onProgress?: (done: number, total: number, name: string) => void;
}

export interface FaceScores {
  /** accuracy over every (image, attribute) pair */
  attr: number;
  attributes: Record<string, number>;
}

export interface MachineRow extends VariantFigures {
  /** mAP@0.5 against the pseudo ground truth (absent for the original, which is the ground truth) */
  detection?: number;
  /** per face model */
  faces?: Record<string, FaceScores>;
  /** nearest-class top-1 of the classifier */
  classify?: number;
  /** zero-shot top-1 of the supervising target */
  zeroShot?: number;
}

export interface MachineReport {
  data: string;
  layout: DatasetLayout;
  images: number;
  target?: string;
  detector?: string;
  /** pseudo ground truth: the threshold and the boxes kept over all images */
  pseudoTruth?: { minScore: number; boxes: number; images: number };
  faceModels: string[];
  classifier?: string;
  rows: MachineRow[];
  notes: string[];
}

interface Probe {
  key: string;
  prepared: PreparedTasks;
  embeddings: Map<string, Float32Array[]>;
}

function unknownCandidate(err: unknown): boolean {
  return err instanceof PsicError && err.code === 'UNKNOWN_CANDIDATE';
}

export async function evaluateMachine(opts: MachineEvalOptions): Promise<MachineReport> {
  const { dataset, variants } = opts;
  const notes: string[] = [];
  const names = variants.map((v) => v.name);
  const newStore = () => new Map<string, Float32Array[]>(names.map((n) => [n, []]));
  const probes: Probe[] = [];

  if (opts.target) {
    if (!dataset.classes) notes.push(`zero-shot: ${dataset.source} has no class labels`);
    else {
      try {
        probes.push({ key: 'zeroShot', prepared: prepareTargetTasks(opts.target, dataset, { templates: opts.templates ?? [], tasks: ['classify'], classify: 'zero-shot' }), embeddings: newStore() });
      } catch (err) {
        if (!unknownCandidate(err)) throw err;
        notes.push(`zero-shot: ${opts.target.name} embeds no class captions`);
      }
    }
  }
  if (opts.classifier) {
    if (!dataset.classes) notes.push(`classification: ${dataset.source} has no class labels`);
    else probes.push({ key: 'classify', prepared: prepareTargetTasks(opts.classifier, dataset, { templates: ['{}'], tasks: ['classify'], classify: 'nearest-class' }), embeddings: newStore() });
  }
  for (const face of opts.faceTargets ?? []) {
    const prepared = prepareTargetTasks(face, dataset, { templates: ['{}'], tasks: ['attributes'] });
    if (prepared.attributes) probes.push({ key: `face:${face.name}`, prepared, embeddings: newStore() });
    else notes.push(`faces (${face.name}): ${dataset.source} has no Male / Young / Smiling labels`, ...prepared.notes);
  }

  const detections = new Map<string, Detection[][]>(opts.detector ? names.map((n) => [n, []]) : []);
  const figures = await forEachDecoded(
    dataset.samples,
    variants,
    async (_, decoded) => {
      for (const d of decoded.values()) {
        for (const p of probes) p.embeddings.get(d.variant)!.push(embedPicture(p.prepared.target, d.image));
        if (opts.detector) detections.get(d.variant)!.push(await opts.detector.detect(d.image));
      }
    },
    opts.onProgress,
  );

  const original = variants.find((v) => v.kind === 'original')?.name;
  const minScore = opts.pseudoTruthScore ?? PSEUDO_TRUTH_SCORE;
  let pseudoTruth: Detection[][] | undefined;
  if (opts.detector) {
    if (!original) throw new Error('detection needs the original variant (the pseudo ground truth)');
    pseudoTruth = detections.get(original)!.map((d) => confidentDetections(d, minScore));
    if (pseudoTruth.every((d) => d.length === 0)) notes.push(`detection: ${opts.detector.name} finds nothing scoring >= ${minScore} on the uncompressed pictures; mAP undefined`);
  }
  for (const p of probes) if (p.prepared.classify?.method === 'nearest-class' && original) setPrototypes(p.prepared, dataset, p.embeddings.get(original)!);

  const rows: MachineRow[] = figures.map((f) => {
    const row: MachineRow = { ...f };
    if (pseudoTruth && f.variant !== original) row.detection = meanAveragePrecision(pseudoTruth, detections.get(f.variant)!).map;
    for (const p of probes) {
      const scores = taskScores(targetTaskHits(p.prepared, dataset, p.embeddings.get(f.variant)!));
      if (p.key === 'zeroShot') row.zeroShot = scores.top1;
      else if (p.key === 'classify') row.classify = scores.top1;
      else (row.faces ??= {})[p.prepared.target.name] = { attr: scores.attr!, attributes: scores.attributes! };
    }
    return row;
  });
  return {
    data: dataset.source,
    layout: dataset.layout,
    images: dataset.samples.length,
    target: opts.target?.name,
    detector: opts.detector?.name,
    pseudoTruth: pseudoTruth ? { minScore, boxes: pseudoTruth.reduce((n, d) => n + d.length, 0), images: pseudoTruth.filter((d) => d.length > 0).length } : undefined,
    faceModels: probes.filter((p) => p.key.startsWith('face:')).map((p) => p.prepared.target.name),
    classifier: probes.some((p) => p.key === 'classify') ? opts.classifier!.name : undefined,
    rows,
    notes: [...notes, ...probes.flatMap((p) => p.prepared.notes)],
  };
}

export interface ModeVariantsOptions {
  codec: CodecModel;
  /** the conditional model's adapter; without one only the plain decode is made */
  adapter?: ConditionalSynthesis;
  /** modes to decode (default: every mode the model has, keyed ones only with `key`) */
  modes?: string[];
  key?: string | Uint8Array;
  /** a separate plain codec (its own bitstream); default: `codec` without the adapter */
  plain?: CodecModel;
}

/** original, plain, then one decode per mode of the same bitstream. */
export function modeVariants(opts: ModeVariantsOptions): Variant[] {
  const { adapter } = opts;
  const variants: Variant[] = [
    { kind: 'original', name: 'original' },
    { kind: 'decode', name: 'plain', codec: opts.plain ?? opts.codec },
  ];
  if (!adapter) {
    if (opts.modes?.length) throw new PsicError('USAGE', 'the model has one decoding only; --modes needs a conditional model (PSIC, UG-ICM)');
    return variants;
  }
  const wanted = opts.modes ?? adapter.modes.filter((m) => !m.keyed || opts.key !== undefined).map((m) => m.name);
  const modes = wanted.map((name) => {
    const spec = adapter.modes.find((m) => m.name === name);
    if (!spec) throw new PsicError('USAGE', `the model has no mode "${name}"; its modes: ${adapter.modes.map((m) => m.name).join(', ')}`);
    if (name === 'original' || name === 'plain') throw new PsicError('USAGE', `mode name "${name}" clashes with a reference decode`);
    if (spec.keyed && opts.key === undefined) throw new PsicError('KEY_REQUIRED', `mode "${name}" needs the owner's key: pass --key-file F`);
    return { name, condition: spec.keyed ? { mode: name, key: opts.key } : { mode: name } };
  });
  return [...variants, ...conditionalVariants(opts.codec, adapter, modes)];
}
