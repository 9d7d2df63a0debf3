import { mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { decodeImage, encodeImage, encodePng, writeFileAtomic } from '@psic/core';
import { bitsPerPixel, distortion } from '@psic/eval';
import { parse } from '../args.js';
import { demoImage } from '../demo-image.js';
import { loadCliModel, MODEL_HELP, MODEL_OPTIONS } from '../model-options.js';
import { report } from '../output.js';

const HELP = `Usage: psic demo [--out DIR] [options]

Encode and decode a built-in test picture (generated, no download) with a
shipped model; write original.png, demo.psic and decoded.png to DIR
(default ./psic-demo) and print bpp and PSNR.

Options:
  --out DIR           where to write the files (default ./psic-demo)
${MODEL_HELP}
  --json              print the result as JSON
  -h, --help          show this help
`;

export async function demoCommand(argv: string[]): Promise<void> {
  const { values } = parse(argv, { ...MODEL_OPTIONS, out: { type: 'string' }, json: { type: 'boolean' } }, HELP);
  const outDir = String(values.out ?? 'psic-demo');
  await mkdir(outDir, { recursive: true });
  const model = await loadCliModel(values);
  const img = demoImage();
  await writeFileAtomic(join(outDir, 'original.png'), await encodePng(img));
  const bytes = await encodeImage(model, img);
  const psicPath = join(outDir, 'demo.psic');
  await writeFileAtomic(psicPath, bytes);
  const decoded = await decodeImage(model, bytes);
  await writeFileAtomic(join(outDir, 'decoded.png'), await encodePng(decoded));
  const size = (await stat(psicPath)).size;
  const { psnr, msssim } = distortion(img, decoded);
  report(values.json === true, {
    model: model.name,
    image: `built-in ${img.width}x${img.height}`,
    bytes: size,
    bpp: bitsPerPixel(size, img.height, img.width),
    psnr,
    msssim,
    files: outDir,
  });
}
