/**
 * The models an inference thread serves: a zoo model, plus, when its sidecar
 * names an adapter, the conditional decoder built around its backbone. This
 * is the one place that decides whether a model decodes "plain" or by mode
 * (protected / full / human / machine).
 *
 * - `"adapter": "<registry name>"` (a string): @psic/core's `adapters`
 *   registry builds it (modules that register adapters are loaded with
 *   `workerImports`).
 * - a @psic/cltg sidecar (PSIC / UG-ICM): its ConditionalSynthesis decodes
 *   by mode. Any other adapter description is skipped and reported, never
 *   served plain (its plain synthesis could reveal what the adapter protects).
 */
import { attachConditional, decodeWithCondition, isConditionalSidecar } from '@psic/cltg';
import { adapters, type CodecModel, type RgbImage } from '@psic/core';
import { PsicError, type ContainerLimits } from '@psic/entropy';
import { listModels, loadModel, type LoadedModel, type ModelInfo } from '@psic/zoo';
import type { ModeInfo, ModelSummary } from './protocol.js';

/** What a decode is asked for (as @psic/cltg's Condition): a mode, and the key for a keyed mode. */
export interface Condition {
  mode: string;
  key?: string;
}

/**
 * What the server needs from a conditional model (e.g. @psic/cltg's
 * ConditionalSynthesis through its decodeWithCondition): its modes (one has
 * `default`; `keyed` ones need the owner's key) and a decode of a whole
 * stream under a condition.
 */
export interface ConditionalDecoder {
  readonly modes: readonly ModeInfo[];
  decode(bytes: Uint8Array, condition: Condition, limits?: ContainerLimits): Promise<RgbImage>;
  /** Optional: models that can tell a wrong key say so (403 WRONG_KEY); others decode it as they were trained to. */
  checkKey?(key: string): boolean;
}

export interface ServedModel extends CodecModel {
  name: string;
  info: ModelInfo;
  backbone: LoadedModel['backbone'];
  conditional?: ConditionalDecoder;
}

const MODE_NAME = /^[a-z][a-z0-9_-]{0,31}$/;

export function isConditionalDecoder(x: unknown): x is ConditionalDecoder {
  const c = x as ConditionalDecoder | null;
  return (
    typeof c === 'object' &&
    c !== null &&
    typeof c.decode === 'function' &&
    Array.isArray(c.modes) &&
    c.modes.length > 0 &&
    c.modes.every((m) => typeof m === 'object' && m !== null && MODE_NAME.test(m.name)) &&
    c.modes.filter((m) => m.default).length <= 1
  );
}

/** The served model, or the reason it is not served. */
export async function loadServedModel(info: ModelInfo): Promise<ServedModel | { skipped: string }> {
  if (isConditionalSidecar(info.sidecar)) {
    const model = await loadModel(info.weightsPath);
    const synthesis = await attachConditional(model.backbone, info.weightsPath, info.sidecar);
    const conditional: ConditionalDecoder = {
      modes: synthesis.modes.map((m) => ({ name: m.name, default: m.default === true, keyed: m.keyed === true })),
      decode: (bytes, condition, limits) => decodeWithCondition(model, synthesis, bytes, condition, limits),
    };
    return { ...model, conditional };
  }
  const adapter = info.sidecar.adapter;
  if (adapter !== undefined && typeof adapter !== 'string') {
    return { skipped: `its sidecar describes an adapter (${JSON.stringify((adapter as { name?: unknown })?.name ?? adapter)}) this server does not wire yet` };
  }
  const model = await loadModel(info.weightsPath);
  if (adapter === undefined) return model;
  const made = await adapters.get(adapter)(model.backbone, { sidecar: info.sidecar, weightsPath: info.weightsPath, codec: model });
  if (!isConditionalDecoder(made)) {
    throw new PsicError('BAD_WEIGHTS', `adapter "${adapter}" of ${info.name} did not build a conditional decoder ({ modes, decode(bytes, condition, limits) })`);
  }
  return { ...model, conditional: made };
}

/** Every model in the folder (default: the ones shipped in @psic/zoo), loaded; and the ones skipped, with why. */
export async function loadServedModels(modelsDir?: string): Promise<{ models: Map<string, ServedModel>; skipped: { name: string; reason: string }[] }> {
  const infos = await listModels(modelsDir);
  const models = new Map<string, ServedModel>();
  const skipped: { name: string; reason: string }[] = [];
  for (const info of infos) {
    const loaded = await loadServedModel(info);
    if ('skipped' in loaded) skipped.push({ name: info.name, reason: loaded.skipped });
    else models.set(info.name, loaded);
  }
  if (models.size === 0) throw new PsicError('BAD_CONFIG', `no servable models (.safetensors + .json sidecar) in ${modelsDir ?? 'the @psic/zoo package'}${skipped.length ? `; skipped: ${skipped.map((s) => `${s.name} (${s.reason})`).join(', ')}` : ''}`);
  return { models, skipped };
}

/** The mode a decode without `mode` gets. */
export function defaultModeOf(decoder: ConditionalDecoder): ModeInfo {
  return decoder.modes.find((m) => m.default) ?? decoder.modes[0];
}

export function summarise(model: ServedModel): ModelSummary {
  const { architecture: _a, config: _c, fingerprint: _f, weights: _w, name: _n, adapter: _ad, ...figures } = model.info.sidecar as Record<string, unknown>;
  return {
    name: model.name,
    backbone: model.backbone.name,
    fingerprint: Buffer.from(model.fingerprint).toString('hex'),
    config: { ...model.info.config },
    modes: model.conditional ? model.conditional.modes.map((m) => ({ name: m.name, ...(m.default ? { default: true } : {}), ...(m.keyed ? { keyed: true } : {}) })) : [],
    sidecar: JSON.parse(JSON.stringify(figures)) as Record<string, unknown>,
  };
}
