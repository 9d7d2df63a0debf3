import { stat } from 'node:fs/promises';
import { encodeImage, readImage, writeFileAtomic } from '@psic/core';
import { bitsPerPixel } from '@psic/eval';
import { parse, requirePositionals } from '../args.js';
import { loadCliModel, MODEL_OPTIONS, MODEL_HELP, runtimeOption } from '../model-options.js';
import { report } from '../output.js';

const HELP = `Usage: psic encode IN OUT.psic [options]

Compress an image (PNG, JPEG, WebP, AVIF, TIFF) to a .psic file.

Options:
${MODEL_HELP}
  --json              print the result as JSON
  -h, --help          show this help
`;

export async function encodeCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parse(argv, { ...MODEL_OPTIONS, json: { type: 'boolean' } }, HELP);
  requirePositionals(positionals, 2, HELP);
  const [input, output] = positionals;
  const model = await loadCliModel(values);
  const img = await readImage(input);
  const t0 = performance.now();
  const bytes = await encodeImage(model, img);
  const seconds = (performance.now() - t0) / 1000;
  await writeFileAtomic(output, bytes);
  const size = (await stat(output)).size;
  report(values.json === true, {
    input,
    output,
    model: model.name,
    runtime: runtimeOption(values),
    width: img.width,
    height: img.height,
    bytes: size,
    bpp: bitsPerPixel(size, img.height, img.width),
    seconds,
  });
}
