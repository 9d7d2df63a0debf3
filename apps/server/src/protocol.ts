/**
 * Messages between the event-loop thread and the inference threads. Plain
 * data only (structured clone); image and stream bytes travel as transferred
 * buffers, never copied twice.
 */

/** The modes of the papers (DESIGN.md "Condition"); a conditional model may name others ([a-z][a-z0-9_-]{0,31}). */
export const DECODE_MODES = ['protected', 'full', 'human', 'machine'] as const;
export const MODE_PATTERN = '^[a-z][a-z0-9_-]{0,31}$';

/** A decoding mode of a conditional model: one is the default, keyed ones need the owner's key. */
export interface ModeInfo {
  name: string;
  default?: boolean;
  keyed?: boolean;
}

export interface ModelSummary {
  name: string;
  /** backbone registry name, as written in every stream */
  backbone: string;
  /** hex of the 8-byte weight fingerprint every stream carries */
  fingerprint: string;
  config: Record<string, unknown>;
  /** decode modes the model's conditional decoder offers; [] for a plain model */
  modes: ModeInfo[];
  /** figures the sidecar records (lambda, steps, validation) */
  sidecar: Record<string, unknown>;
}

export interface LabelInfo {
  target: string;
  candidates: string[];
}

export interface InferenceWorkerOptions {
  backend?: string;
  modelsDir?: string;
  imports: string[];
  labelTarget?: string;
  labelTargetOptions?: Record<string, unknown>;
  labelCandidates?: string[];
  limits: { maxDimension: number; maxPixels: number };
  /** ask to be replaced after a task that left the tensor heap larger than this */
  maxHeapBytes: number;
}

export type Task =
  | { kind: 'encode'; image: Uint8Array; model: string }
  | { kind: 'decode'; stream: Uint8Array; model: string; mode?: string; key?: string }
  | { kind: 'labels'; image: Uint8Array }
  /** batch jobs: read a file, write <output> atomically */
  | { kind: 'encode-file'; input: string; output: string; model: string };

export interface EncodeResult {
  stream: Uint8Array;
  width: number;
  height: number;
  model: string;
}
export interface DecodeResult {
  png: Uint8Array;
  width: number;
  height: number;
  /** the mode produced: the model's, or 'plain' for a model without a conditional decoder */
  mode: string;
  model: string;
}
export interface LabelsResult {
  target: string;
  labels: { label: string; score: number }[];
}
export interface EncodeFileResult {
  output: string;
  bytes: number;
  width: number;
  height: number;
  model: string;
}

export type TaskResult = EncodeResult | DecodeResult | LabelsResult | EncodeFileResult;

export type WorkerMessage =
  | { type: 'ready'; backend: string; runtime: string; models: ModelSummary[]; skipped: { name: string; reason: string }[]; labels: LabelInfo | null }
  | { type: 'fatal'; error: { code: string; message: string } }
  | { type: 'result'; id: number; result: TaskResult; recycle?: boolean }
  | { type: 'error'; id: number; error: { code: string; message: string }; recycle?: boolean };
