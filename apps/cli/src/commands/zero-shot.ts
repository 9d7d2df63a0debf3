import { semanticTargets, selectBackend } from '@psic/core';
import { PsicError } from '@psic/entropy';
import {
  CIFAR10_CLASSES,
  CIFAR10_HELD_OUT_TEMPLATES,
  INHOUSE_TARGET_NAME,
  defaultCifarArchivePath,
  evaluateZeroShot,
  loadCifar10,
  readPromptSet,
  splitTemplates,
  zeroShotClassifier,
} from '@psic/vlp';
import { intOption, parse } from '../args.js';

const HELP = `Usage: psic zero-shot [options]

Zero-shot top-1 of a semantic target on CIFAR-10: each class's text embedding
is the mean of its normalised caption embeddings over the chosen templates
(CLIP's prompt ensembling), each image goes to the most similar class.
Prints one JSON object.

Options:
  --target NAME        semantic target (default ${INHOUSE_TARGET_NAME}; "clip" needs --weights)
  --weights PATH       the target's weight file (default: the shipped one)
  --data TAR           CIFAR-10 JPEG archive (default ../shared/data/cifar10-jpeg.tar)
  --split NAME         test (default, 10,000 images) or train
  --templates WHICH    held-out (default: the ${CIFAR10_HELD_OUT_TEMPLATES.length} CIFAR-10 templates the in-house model
                       never trained on), train (the other ones) or all
  --per-class N        only the first N images of each class
  --batch N            images per forward pass (default 250)
  --backend NAME       tensor backend: auto, tensorflow, wasm, cpu
  -h, --help           show this help
`;

export async function zeroShotCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parse(
    argv,
    {
      target: { type: 'string' },
      weights: { type: 'string' },
      data: { type: 'string' },
      split: { type: 'string' },
      templates: { type: 'string' },
      'per-class': { type: 'string' },
      batch: { type: 'string' },
      backend: { type: 'string' },
    },
    HELP,
  );
  if (positionals.length) throw new PsicError('USAGE', `unexpected argument "${positionals[0]}"\n\n${HELP}`);
  const split = String(values.split ?? 'test');
  if (split !== 'test' && split !== 'train') throw new PsicError('USAGE', `--split must be test or train, not "${split}"`);
  const which = String(values.templates ?? 'held-out');
  if (!['held-out', 'train', 'all'].includes(which)) throw new PsicError('USAGE', `--templates must be held-out, train or all, not "${which}"`);
  const perClass = values['per-class'] === undefined ? undefined : intOption(values, 'per-class', 1);
  const batch = intOption(values, 'batch', 250);
  const name = String(values.target ?? INHOUSE_TARGET_NAME);
  const archive = String(values.data ?? defaultCifarArchivePath());

  const started = Date.now();
  await selectBackend((values.backend as string | undefined) ?? 'auto');
  const target = await semanticTargets.get(name)(values.weights === undefined ? {} : { weights: String(values.weights) });
  const prompts = await readPromptSet('CIFAR10');
  const split_ = splitTemplates(prompts.templates, CIFAR10_HELD_OUT_TEMPLATES);
  const templates = which === 'held-out' ? split_.heldOut : which === 'train' ? split_.train : prompts.templates;
  const images = await loadCifar10(archive, split, { perClass });

  const classifier = zeroShotClassifier(target, prompts.classes, templates);
  const result = await evaluateZeroShot(target, images, classifier, {
    batch,
    onProgress: (done, total) => process.stderr.write(`\rzero-shot ${done}/${total}\x1b[K`),
  });
  process.stderr.write('\n');
  classifier.dispose();
  const out = {
    target: name,
    split,
    images: result.total,
    templates: which,
    templateCount: templates.length,
    top1: result.top1,
    correct: result.correct,
    perClass: Object.fromEntries(CIFAR10_CLASSES.map((c, i) => [c, result.perClass[i]])),
    logitScale: target.logitScale,
    seconds: (Date.now() - started) / 1000,
  };
  process.stdout.write(`${JSON.stringify(out)}\n`);
  (target as { dispose?: () => void }).dispose?.();
}
