import { selectBackend } from '@psic/core';
import { PsicError } from '@psic/entropy';
import { ClipTarget, cosineLogits } from '@psic/vlp';
import * as tf from '@tensorflow/tfjs-core';
import { parse } from '../args.js';
import { table } from '../output.js';

const HELP = `Usage: psic clip --weights FILE.safetensors --image IMG [--image IMG2 ...] --text "..." [--text "..." ...] [options]

Zero-shot CLIP: each image against each text, as OpenAI's CLIP computes it
(exact preprocessing and tokenizer). Prints logits (logit_scale x cosine
similarity) and, per image, the softmax probabilities over the texts.

Options:
  --weights FILE      CLIP weights, OpenAI (or Hugging Face CLIPModel) names, F32 or F16
  --config FILE       config.json with OpenAI's CLIP(...) arguments (default: read off the weights)
  --vocab FILE        bpe_simple_vocab_16e6.txt.gz (default: the shared copy, or PSIC_CLIP_VOCAB)
  --image IMG         image file (PNG, JPEG, WebP, ...); repeatable
  --text TEXT         candidate text; repeatable
  --backend NAME      tensor backend: auto, tensorflow, wasm, cpu (default auto; or PSIC_BACKEND)
  --json              one JSON line: images, texts, logit_scale, logits [image][text], probs [image][text]
`;

export async function clipCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parse(
    argv,
    {
      weights: { type: 'string' },
      config: { type: 'string' },
      vocab: { type: 'string' },
      image: { type: 'string', multiple: true },
      text: { type: 'string', multiple: true },
      backend: { type: 'string' },
      json: { type: 'boolean' },
    },
    HELP,
  );
  const images = (values.image as unknown as string[] | undefined) ?? [];
  const texts = (values.text as unknown as string[] | undefined) ?? [];
  if (positionals.length > 0) throw new PsicError('USAGE', `unexpected argument "${positionals[0]}"\n\n${HELP}`);
  if (typeof values.weights !== 'string') throw new PsicError('USAGE', `--weights is required\n\n${HELP}`);
  if (images.length === 0 || texts.length === 0) throw new PsicError('USAGE', `give at least one --image and one --text\n\n${HELP}`);

  await selectBackend((values.backend as string | undefined) ?? 'auto');
  const target = await ClipTarget.load({ weights: values.weights, config: values.config as string | undefined, vocab: values.vocab as string | undefined });
  try {
    const imageEmb = await target.embedImageFiles(images);
    const [logits, probs] = tf.tidy(() => {
      const l = cosineLogits(imageEmb, target.embedCandidates(texts), target.logitScale);
      return [l.arraySync(), tf.softmax(l).arraySync()];
    });
    imageEmb.dispose();
    if (values.json === true) {
      process.stdout.write(`${JSON.stringify({ images, texts, logit_scale: target.logitScale, logits, probs })}\n`);
      return;
    }
    images.forEach((image, i) => {
      process.stdout.write(`${image}\n`);
      const rows = texts.map((text, j) => ({ text, logit: logits[i]![j]!, prob: probs[i]![j]! }));
      process.stdout.write(table(rows, ['text', 'logit', 'prob']));
      if (i < images.length - 1) process.stdout.write('\n');
    });
  } finally {
    target.dispose();
  }
}
