import { readFile } from 'node:fs/promises';
import { decodeImage, encodePng, writeFileAtomic } from '@psic/core';
import { parse, requirePositionals } from '../args.js';
import { loadCliModel, MODEL_HELP, MODEL_OPTIONS } from '../model-options.js';
import { report } from '../output.js';

const HELP = `Usage: psic decode IN.psic OUT.png [options]

Decompress a .psic file to a PNG. The stream names its backbone and the
fingerprint of the weights it was made with; decoding with other weights is
refused (WRONG_MODEL).

Options:
${MODEL_HELP}
  --json              print the result as JSON
  -h, --help          show this help
`;

export async function decodeCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parse(argv, { ...MODEL_OPTIONS, json: { type: 'boolean' } }, HELP);
  requirePositionals(positionals, 2, HELP);
  const [input, output] = positionals;
  const model = await loadCliModel(values);
  const bytes = new Uint8Array(await readFile(input));
  const t0 = performance.now();
  const img = await decodeImage(model, bytes);
  const seconds = (performance.now() - t0) / 1000;
  await writeFileAtomic(output, await encodePng(img));
  report(values.json === true, { input, output, model: model.name, width: img.width, height: img.height, seconds });
}
