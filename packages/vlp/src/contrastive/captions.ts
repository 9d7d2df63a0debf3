/**
 * Training captions. A caption source turns a sample's label into a text
 * and a group id (samples of one group are each other's positives in the
 * loss). CIFAR-10 uses class captions from CLIP's templates; a face set
 * would plug in a source that writes attribute captions from a CelebA row
 * ("a photo of a smiling person with eyeglasses."), grouped by the
 * attribute combination, without touching the model or the loop.
 */
import { PsicError } from '@psic/entropy';

/** What the caption sources need from a random generator (@psic/train's Rng fits). */
export interface RandomSource {
  /** uniform in [0, 1) */
  next(): number;
}

export interface Caption {
  text: string;
  group: number;
}

export interface CaptionSource<Label> {
  caption(label: Label, rng: RandomSource): Caption;
  /** Every distinct caption the source can write (for the vocabulary). */
  allCaptions(): string[];
}

export function fillTemplate(template: string, name: string): string {
  if (!template.includes('{}')) throw new PsicError('BAD_PROMPTS', `template ${JSON.stringify(template)} has no {}`);
  return template.replace('{}', name);
}

/** Class captions: a random template (and name, when a class has several) around the class name; group = class index. */
export class ClassCaptions implements CaptionSource<number> {
  constructor(
    readonly classes: string[][],
    readonly templates: string[],
  ) {
    if (templates.length === 0) throw new PsicError('BAD_PROMPTS', 'no templates to caption with');
  }

  caption(label: number, rng: RandomSource): Caption {
    const names = this.classes[label];
    if (!names) throw new RangeError(`label ${label} is not a class (0..${this.classes.length - 1})`);
    const template = this.templates[Math.floor(rng.next() * this.templates.length)]!;
    const name = names[Math.floor(rng.next() * names.length)]!;
    return { text: fillTemplate(template, name), group: label };
  }

  allCaptions(): string[] {
    return this.classes.flatMap((names) => names.flatMap((name) => this.templates.map((t) => fillTemplate(t, name))));
  }
}

/**
 * The CIFAR-10 templates held out of training: both article forms of three
 * modifiers, so "blurry", "good" and "big" never occur in a training
 * caption and the zero-shot figure is measured on unseen wording.
 */
export const CIFAR10_HELD_OUT_TEMPLATES: readonly string[] = Object.freeze([
  'a blurry photo of a {}.',
  'a good photo of a {}.',
  'a photo of a big {}.',
  'a blurry photo of the {}.',
  'a good photo of the {}.',
  'a photo of the big {}.',
]);

/** Split templates into the training ones and the held-out ones (each held-out template must be in the list). */
export function splitTemplates(templates: readonly string[], heldOut: readonly string[]): { train: string[]; heldOut: string[] } {
  for (const t of heldOut) {
    if (!templates.includes(t)) throw new PsicError('BAD_PROMPTS', `held-out template ${JSON.stringify(t)} is not among the templates`);
  }
  const train = templates.filter((t) => !heldOut.includes(t));
  if (train.length === 0) throw new PsicError('BAD_PROMPTS', 'every template is held out; nothing to train on');
  return { train, heldOut: [...heldOut] };
}
