/**
 * Registers the npm-model targets in @psic/core's `semanticTargets`, so the
 * CLI, training recipes and evaluation can ask for them by name:
 * - 'faceres'      HSE FaceRes + oarriaga emotion, from @vladmandic/human
 * - 'face-api'     ageGenderNet + faceExpressionNet, from @vladmandic/face-api
 * - 'mobilenet-v2' MobileNetV2 features, from nsfwjs
 * Options (all optional): face targets take `faceBox` (a Box, or 'celeba'
 * for aligned CelebA images) and `youngBelow`; 'mobilenet-v2' takes
 * `inputRange` ('0..1' | '-1..1').
 */
import { semanticTargets } from '@psic/core';
import { PsicError } from '@psic/entropy';
import { checkFaceTargetOptions, FaceAttributeTarget, type FaceTargetOptions } from './face-attributes.js';
import { FaceApiFaceModel } from './face-api-face.js';
import { HumanFaceModel } from './human-face.js';
import { MobileNetTarget } from './mobilenet-target.js';
import { MobileNetV2, type MobileNetInputRange } from './mobilenet-v2.js';
import { CELEBA_ALIGNED_FACE_BOX, type Box } from './preprocess.js';

export const NPM_TARGET_NAMES = ['faceres', 'face-api', 'mobilenet-v2'] as const;
export type NpmTargetName = (typeof NPM_TARGET_NAMES)[number];

/** Face target options from a registry call's loose options object. */
export function faceTargetOptions(options: Record<string, unknown> = {}): FaceTargetOptions {
  const { faceBox, youngBelow } = options;
  let box: Box | undefined;
  if (faceBox === 'celeba') box = CELEBA_ALIGNED_FACE_BOX;
  else if (faceBox !== undefined && (typeof faceBox !== 'object' || faceBox === null)) throw new PsicError('BAD_OPTION', `faceBox must be 'celeba' or { top, left, height, width }, got ${JSON.stringify(faceBox)}`);
  else box = faceBox as Box | undefined;
  if (youngBelow !== undefined && typeof youngBelow !== 'number') throw new PsicError('BAD_OPTION', `youngBelow must be a number of years, got ${JSON.stringify(youngBelow)}`);
  return { faceBox: box, youngBelow };
}

/** Load a 'faceres' target (@vladmandic/human's models). */
export async function loadFaceresTarget(options: FaceTargetOptions = {}): Promise<FaceAttributeTarget> {
  checkFaceTargetOptions('faceres', options);
  return new FaceAttributeTarget('faceres', await HumanFaceModel.load(), options);
}

/** Load a 'face-api' target (@vladmandic/face-api's models). */
export async function loadFaceApiTarget(options: FaceTargetOptions = {}): Promise<FaceAttributeTarget> {
  checkFaceTargetOptions('face-api', options);
  return new FaceAttributeTarget('face-api', await FaceApiFaceModel.load(), options);
}

/** Load a 'mobilenet-v2' target (nsfwjs' MobileNetV2); add class prototypes before calling embedCandidates. */
export async function loadMobileNetTarget(options: { inputRange?: MobileNetInputRange } = {}): Promise<MobileNetTarget> {
  return new MobileNetTarget(MobileNetV2.load(options));
}

/** Register the three targets (idempotent: names already registered are left alone). */
export function registerNpmTargets(): void {
  const factories: Record<NpmTargetName, (o?: Record<string, unknown>) => Promise<FaceAttributeTarget | MobileNetTarget>> = {
    faceres: async (o) => loadFaceresTarget(faceTargetOptions(o)),
    'face-api': async (o) => loadFaceApiTarget(faceTargetOptions(o)),
    'mobilenet-v2': async (o) => loadMobileNetTarget({ inputRange: o?.inputRange as MobileNetInputRange | undefined }),
  };
  for (const name of NPM_TARGET_NAMES) if (!semanticTargets.has(name)) semanticTargets.register(name, factories[name]);
}

registerNpmTargets();
