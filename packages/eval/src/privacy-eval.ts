/**
 * PSIC's privacy evaluation (paper section 4.1): for one bitstream per image,
 * the plain backbone's decode, the FULL decode (owner's key) and the
 * PROTECTED decode (no key) are shown to a semantic target; per decode:
 * bpp, PSNR, and the target's task figures (target-tasks.ts); per protected
 * decode: the attack success rate (ASR) against a reference decode — among
 * the samples the reference handles correctly, the share the protected
 * decode handles wrongly.
 *
 * Robustness: a transform (JPEG re-encoding, resize) adds `protected+<t>`
 * and `full+<t>` decodes; ASR is reported for `protected+<t>` against the
 * full decode, the plain one and `full+<t>` (so what the transform costs by
 * itself is told apart from the protection), and for `full+<t>` against the
 * full decode.
 */
import type { CodecModel, SemanticTarget } from '@psic/core';
import type { ConditionalSynthesis } from '@psic/cltg';
import { PsicError } from '@psic/entropy';
import type { DatasetLayout, EvalDataset } from './datasets.js';
import { conditionalVariants, forEachDecoded, type ImageTransform, type Variant, type VariantFigures } from './mode-decodes.js';
import {
  embedPicture,
  prepareTargetTasks,
  setPrototypes,
  targetTaskHits,
  taskAsr,
  taskScores,
  type ClassifyMethod,
  type TargetTask,
  type TaskAsr,
  type TaskHits,
  type TaskScores,
} from './target-tasks.js';

export interface PrivacyVariantsOptions {
  /** the conditional model's codec (its bitstream is the plain backbone's) */
  codec: CodecModel;
  adapter: ConditionalSynthesis;
  /** the owner's key: adds the keyed (full) decode */
  key?: string | Uint8Array;
  /** a separate plain codec to compare with (its own bitstream); default: `codec` decoded without the adapter */
  plain?: CodecModel;
  /** post-processing applied to the full and protected decodes, as extra variants */
  transforms?: ImageTransform[];
}

export interface PrivacyPlan {
  variants: Variant[];
  /** [variant, reference] pairs whose ASR is reported */
  asrPairs: [string, string][];
  /** names of the keyed and default modes (PSIC: full, protected) */
  full?: string;
  protected: string;
}

export function privacyVariants(opts: PrivacyVariantsOptions): PrivacyPlan {
  const { adapter, codec } = opts;
  const keyed = adapter.modes.find((m) => m.keyed);
  const prot = adapter.defaultMode.name;
  if (opts.key !== undefined && !keyed) throw new PsicError('USAGE', `model has no keyed mode (modes: ${adapter.modes.map((m) => m.name).join(', ')}); drop the key`);
  const full = opts.key !== undefined ? keyed!.name : undefined;
  const variants: Variant[] = [
    { kind: 'original', name: 'original' },
    { kind: 'decode', name: 'plain', codec: opts.plain ?? codec },
    ...conditionalVariants(codec, adapter, [...(full ? [{ name: full, condition: { mode: full, key: opts.key } }] : []), { name: prot, condition: { mode: prot } }]),
  ];
  const asrPairs: [string, string][] = [];
  const refs = [...(full ? [full] : []), 'plain'];
  for (const r of refs) asrPairs.push([prot, r]);
  for (const t of opts.transforms ?? []) {
    const tp = `${prot}+${t.name}`;
    if (full) variants.push({ kind: 'transform', name: `${full}+${t.name}`, source: full, transform: t });
    variants.push({ kind: 'transform', name: tp, source: prot, transform: t });
    for (const r of refs) asrPairs.push([tp, r]);
    if (full) asrPairs.push([tp, `${full}+${t.name}`], [`${full}+${t.name}`, full]);
  }
  return { variants, asrPairs, full, protected: prot };
}

export interface PrivacyEvalOptions {
  dataset: EvalDataset;
  plan: PrivacyPlan;
  target: SemanticTarget;
  /** prompt templates ({} = class name) for zero-shot and retrieval captions */
  templates: string[];
  tasks?: readonly TargetTask[];
  onProgress?: (done: number, total: number, name: string) => void;
}

export type PrivacyRow = VariantFigures & TaskScores;
export type AsrRow = { variant: string; reference: string } & TaskAsr;

export interface PrivacyReport {
  target: string;
  data: string;
  layout: DatasetLayout;
  images: number;
  classify?: ClassifyMethod;
  templates: number;
  rows: PrivacyRow[];
  asr: AsrRow[];
  notes: string[];
}

export async function evaluatePrivacy(opts: PrivacyEvalOptions): Promise<PrivacyReport> {
  const { dataset, plan, target } = opts;
  const prepared = prepareTargetTasks(target, dataset, { templates: opts.templates, tasks: opts.tasks });
  const embeddings = new Map<string, Float32Array[]>(plan.variants.map((v) => [v.name, []]));
  const figures = await forEachDecoded(
    dataset.samples,
    plan.variants,
    (_, decoded) => {
      for (const d of decoded.values()) embeddings.get(d.variant)!.push(embedPicture(target, d.image));
    },
    opts.onProgress,
  );
  setPrototypes(prepared, dataset, embeddings.get('original')!);
  const hits = new Map<string, TaskHits>([...embeddings].map(([v, e]) => [v, targetTaskHits(prepared, dataset, e)]));
  const rows = figures.map((f) => ({ ...f, ...taskScores(hits.get(f.variant)!) }));
  const asr = plan.asrPairs.map(([variant, reference]) => ({ variant, reference, ...taskAsr(hits.get(reference)!, hits.get(variant)!) }));
  const notes = [...prepared.notes];
  if (dataset.samples.length < 2 && prepared.retrieval) notes.push('retrieval over a single image is trivial');
  return {
    target: target.name,
    data: dataset.source,
    layout: dataset.layout,
    images: dataset.samples.length,
    classify: prepared.classify?.method,
    templates: opts.templates.length,
    rows,
    asr,
    notes,
  };
}
