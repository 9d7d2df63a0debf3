import { basename } from 'node:path';
import { listImages, readImage } from '@psic/core';
import { bdRate, evaluateLearned, evaluateReference, summarise, type ImageFigures, type ReferenceCodec, type SummaryRow } from '@psic/eval';
import { PsicError } from '@psic/entropy';
import { DEFAULT_MODEL, loadModel } from '@psic/zoo';
import { intOption, parse } from '../args.js';
import { RUNTIME_OPTIONS, selectCliBackend, withCliRuntime } from '../model-options.js';
import { table } from '../output.js';

const HELP = `Usage: psic eval --data DIR [options]

Encode and decode every image of DIR with each model and report bpp (real file
size, header included), PSNR and MS-SSIM per image and on average.

Options:
  --data DIR           folder of images (PNG, JPEG, ...)
  -m, --model NAMES    comma-separated shipped model names or .safetensors paths (default ${DEFAULT_MODEL})
  --compare CODECS     also code each image with jpeg and/or webp (comma-separated) at the
                       quality whose bpp is closest to each model's bpp on that image
  --anchor NAME        BD-rate anchor: an architecture (default: the first model's) or jpeg / webp.
                       Models are grouped into rate-distortion curves by architecture; each curve
                       with two or more rate points gets its BD-rate against the anchor's
  --limit N            only the first N images (sorted by name)
  --backend NAME       tensor backend: auto, tensorflow, wasm, cpu
  --runtime NAME       where the float transforms run: onnx (default) or tfjs (or PSIC_RUNTIME)
  --threads N          onnxruntime threads (default: all cores)
  --json               print JSON (per-image rows and the summary) instead of tables
  -h, --help           show this help
`;

export async function evalCommand(argv: string[]): Promise<void> {
  const { values } = parse(
    argv,
    { data: { type: 'string' }, model: { type: 'string', short: 'm' }, compare: { type: 'string' }, anchor: { type: 'string' }, limit: { type: 'string' }, backend: { type: 'string' }, json: { type: 'boolean' }, ...RUNTIME_OPTIONS },
    HELP,
  );
  if (!values.data) throw new PsicError('USAGE', `--data DIR is required\n\n${HELP}`);
  const compare = values.compare ? String(values.compare).split(',') : [];
  for (const c of compare) if (c !== 'jpeg' && c !== 'webp') throw new PsicError('USAGE', `--compare takes jpeg and/or webp, not "${c}"`);
  await selectCliBackend(values); // a bad --runtime fails here, before any loading
  const models = await Promise.all(String(values.model ?? DEFAULT_MODEL).split(',').map(async (m) => withCliRuntime(await loadModel(m), values)));
  let files = await listImages(String(values.data));
  if (values.limit !== undefined) files = files.slice(0, intOption(values, 'limit', files.length));

  const rows: ImageFigures[] = [];
  for (const [i, file] of files.entries()) {
    const img = await readImage(file);
    const name = basename(file);
    for (const model of models) {
      const learned = await evaluateLearned(model, name, img);
      rows.push(learned);
      for (const codec of compare as ReferenceCodec[]) {
        const ref = await evaluateReference(codec, name, img, learned.bpp);
        rows.push({ ...ref, codec: `${codec}@${model.name}` });
      }
    }
    if (!values.json) process.stderr.write(`\reval ${i + 1}/${files.length} ${name}\x1b[K`);
  }
  if (!values.json) process.stderr.write('\n');
  const summary = summarise(rows);
  const architectures = new Map(models.map((m) => [m.name, m.info.architecture]));
  const curves = rdCurves(summary, architectures);
  const anchor = String(values.anchor ?? models[0].info.architecture);
  const bd = bdRates(curves, anchor);
  if (values.json) {
    process.stdout.write(`${JSON.stringify({ images: rows, summary, curves: Object.fromEntries(curves), bdRate: bd })}\n`);
    return;
  }
  process.stdout.write(table(rows as unknown as Record<string, unknown>[], ['image', 'codec', 'bytes', 'bpp', 'psnr', 'msssim', 'quality']));
  process.stdout.write('\nmean over images\n');
  process.stdout.write(table(summary as unknown as Record<string, unknown>[], ['codec', 'images', 'bpp', 'psnr', 'msssim']));
  if (bd.length > 0) {
    process.stdout.write(`\nBD-rate against ${anchor} (negative = fewer bits at the same PSNR)\n`);
    process.stdout.write(table(bd as unknown as Record<string, unknown>[], ['curve', 'points', 'bdRate', 'note']));
  }
}

/** Mean points grouped into curves: learned models by architecture, reference codecs (jpeg@model) by codec. */
function rdCurves(summary: SummaryRow[], architectures: Map<string, string>): Map<string, { codec: string; bpp: number; psnr: number }[]> {
  const curves = new Map<string, { codec: string; bpp: number; psnr: number }[]>();
  for (const row of summary) {
    const curve = architectures.get(row.codec) ?? row.codec.split('@')[0];
    curves.set(curve, [...(curves.get(curve) ?? []), { codec: row.codec, bpp: row.bpp, psnr: row.psnr }].sort((a, b) => a.bpp - b.bpp));
  }
  return curves;
}

function bdRates(curves: Map<string, { bpp: number; psnr: number }[]>, anchor: string): { curve: string; points: number; bdRate: number | null; note: string }[] {
  const reference = curves.get(anchor);
  if (!reference) throw new PsicError('USAGE', `--anchor ${anchor}: no such curve; curves are ${[...curves.keys()].join(', ')}`);
  if (reference.length < 2) return [];
  return [...curves].filter(([name]) => name !== anchor).map(([curve, points]) => {
    if (points.length < 2) return { curve, points: points.length, bdRate: null, note: 'needs two rate points' };
    try {
      return { curve, points: points.length, bdRate: bdRate(reference, points), note: '' };
    } catch (err) {
      return { curve, points: points.length, bdRate: null, note: (err as Error).message };
    }
  });
}
