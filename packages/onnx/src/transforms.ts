/**
 * Which layer stacks of a backbone are its float transforms, found without
 * importing any backbone package: a describer registered by backbone name,
 * else the CompressAI naming every backbone here follows (`g_a`, `h_a`,
 * `h_s`, and `g_s` split into `g_sBlocks`). A new backbone exports by keeping
 * that naming or registering its own describer.
 *
 * `property` fields name where the module lives on the backbone: while the
 * backbone's own `compress` runs, the ONNX runtime puts stand-ins there that
 * return what onnxruntime computed (see codec-runtime.ts).
 */
import type { LicBackbone, Module } from '@psic/core';
import { PsicError } from '@psic/entropy';

export interface TransformStage {
  module: Module;
  /** the backbone property holding `module` */
  property: string;
}

export interface BackboneTransforms {
  /** g_a: image -> y */
  analysis: TransformStage;
  /** h_a: y (or |y|) -> z */
  hyperAnalysis?: TransformStage & { input: 'y' | 'abs' };
  /** float h_s; exported for other tools, the codec itself runs a fixed-point copy */
  hyperSynthesis?: TransformStage;
  /** g_s blocks in hook order, with their output channels */
  synthesisBlocks: { module: Module; channels: number }[];
  /** total down-sampling of the analysis (16 for four stride-2 convs) */
  downsampling: number;
}

export type TransformDescriber = (backbone: LicBackbone) => BackboneTransforms;

const describers = new Map<string, TransformDescriber>();

/** Describe a backbone's float transforms for the exporter (by its registry name). */
export function registerTransforms(backboneName: string, describer: TransformDescriber): void {
  describers.set(backboneName, describer);
}

export function describeTransforms(backbone: LicBackbone): BackboneTransforms {
  const describer = describers.get(backbone.name) ?? compressAiNaming;
  return describer(backbone);
}

function isModule(v: unknown): v is Module {
  return typeof v === 'object' && v !== null && typeof (v as Module).apply === 'function' && typeof (v as Module).namedVariables === 'function';
}

/**
 * The default: `g_a`, optional `h_a` (its input |y| when the backbone says
 * `hyperInput: 'abs'`), optional `h_s`, and `g_sBlocks` (or one `g_s`).
 */
export function compressAiNaming(backbone: LicBackbone, hyperInput: 'y' | 'abs' = 'y'): BackboneTransforms {
  const b = backbone as unknown as Record<string, unknown>;
  if (!isModule(b.g_a)) throw new PsicError('UNSUPPORTED_BACKBONE', `backbone ${backbone.name} has no g_a module to export; register a describer with registerTransforms`);
  let blocks: Module[];
  if (Array.isArray(b.g_sBlocks) && b.g_sBlocks.every(isModule)) blocks = b.g_sBlocks;
  else if (isModule(b.g_s)) blocks = [b.g_s];
  else throw new PsicError('UNSUPPORTED_BACKBONE', `backbone ${backbone.name} has no g_s / g_sBlocks to export; register a describer with registerTransforms`);
  const channels = backbone.synthesisBlocks.map((s) => s.channels);
  if (channels.length !== blocks.length) {
    throw new PsicError('UNSUPPORTED_BACKBONE', `backbone ${backbone.name}: ${blocks.length} synthesis modules but ${channels.length} synthesisBlocks`);
  }
  return {
    analysis: { module: b.g_a, property: 'g_a' },
    hyperAnalysis: isModule(b.h_a) ? { module: b.h_a, property: 'h_a', input: hyperInput } : undefined,
    hyperSynthesis: isModule(b.h_s) ? { module: b.h_s, property: 'h_s' } : undefined,
    synthesisBlocks: blocks.map((module, i) => ({ module, channels: channels[i] })),
    downsampling: 16,
  };
}

// The scale hyperprior looks at |y|; the mean-scale one at y itself.
registerTransforms('bmshj2018-hyperprior', (b) => compressAiNaming(b, 'abs'));
registerTransforms('mbt2018-mean', (b) => compressAiNaming(b, 'y'));
