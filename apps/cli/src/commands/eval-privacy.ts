import type { SemanticTarget } from '@psic/core';
import { attachConditional, isConditionalSidecar, readKeyFile, type ConditionalSynthesis } from '@psic/cltg';
import { PsicError } from '@psic/entropy';
import {
  evaluatePrivacy,
  jpegTransform,
  loadDataset,
  loadTemplates,
  privacyVariants,
  resizeTransform,
  TARGET_TASKS,
  type AttackSuccess,
  type DatasetLayout,
  type DatasetOptions,
  type ImageTransform,
  type PrivacyReport,
  type TargetTask,
} from '@psic/eval';
import { listModels, loadModel, type LoadedModel } from '@psic/zoo';
import { intOption, numberOption, parse, type Options } from '../args.js';
import { loadSemanticTarget, parseTargetOptions } from '../target-option.js';
import { RUNTIME_HELP, RUNTIME_OPTIONS, selectCliBackend, withCliRuntime } from '../model-options.js';
import { formatValue, table } from '../output.js';

const HELP = `Usage: psic eval-privacy --data PATH --target NAME [options]

PSIC's privacy figures. Each image is encoded once; the same bitstream is
decoded plainly (the backbone without the adapter), in the FULL mode (with
the owner's key) and in the PROTECTED mode (no key). A semantic target is
run on the uncompressed picture and on each decode; per decode: bpp (real
file size), PSNR, the target's zero-shot top-1 (or nearest-class when it
has no text side), image->text and text->image R@1 (class level), CelebA
attribute accuracy, and the attack success rate (ASR) of the protected
decode: among the samples the reference decode (full, plain) handles
correctly, the share the protected decode handles wrongly.

Data (--data): a CIFAR-10 .tar archive (test split, read in place), a
folder of class folders, a CelebA folder (attributes.csv), an ImageNet
sample folder (labels.json) or a folder of images (rate/distortion only).
Images with a side under 64 px are upscaled (bilinear) to 64 first, as the
PSIC training crops are; bpp and PSNR are per coded (upscaled) pixel.

Options:
  --data PATH            data set (see above)
  --target NAME          semantic target: inhouse-cifar, clip, faceres, face-api, mobilenet-v2, random, ...
  --target-options JSON  options for the target's factory (e.g. {"weights":"ViT-B-32.safetensors"});
                         the face targets get {"faceBox":"celeba"} on CelebA folders by default
  -m, --model M          the PSIC model: shipped name or .safetensors (default: the first shipped PSIC model)
  --key-file F           the owner's key: adds the full decode (else only plain and protected)
  --plain MODEL          compare with this plain codec (its own bitstream) rather than the model's
                         own backbone decoded without the adapter
  --templates WHICH      prompt templates: cifar10 (default, CLIP's 18), held-out, or a file
  --tasks LIST           of classify,retrieval,attributes (default: all that apply to the data)
  --jpeg Q               also re-encode the full and protected decodes as JPEG quality Q
  --resize F             also resize the full and protected decodes by F (e.g. 0.5)
  --per-class N          first N images of each class
  --skip N               skip the first N images (classes interleaved), e.g. those used in training
  --limit N              then at most N images
  --backend NAME         tensor backend: auto, tensorflow, wasm, cpu
${RUNTIME_HELP}
  --json                 print one JSON object instead of tables
  --markdown             print the tables as Markdown (for a README)
  -h, --help             show this help
`;

/** Options shared with eval-machine: data selection, target, model, output. */
export const DATA_OPTIONS: Options = {
  data: { type: 'string' },
  'per-class': { type: 'string' },
  skip: { type: 'string' },
  limit: { type: 'string' },
  templates: { type: 'string' },
  'target-options': { type: 'string' },
  model: { type: 'string', short: 'm' },
  plain: { type: 'string' },
  'key-file': { type: 'string' },
  backend: { type: 'string' },
  json: { type: 'boolean' },
  markdown: { type: 'boolean' },
  ...RUNTIME_OPTIONS,
};

export function datasetOptions(values: Record<string, unknown>): DatasetOptions {
  return {
    perClass: values['per-class'] === undefined ? undefined : intOption(values, 'per-class', 1),
    skip: values.skip === undefined ? undefined : intOption(values, 'skip', 0, 0),
    limit: values.limit === undefined ? undefined : intOption(values, 'limit', 1),
  };
}

const FACE_TARGETS = ['faceres', 'face-api'];

/** A registered semantic target; the face targets crop the aligned CelebA face box on CelebA data unless told otherwise. */
export async function loadTarget(name: string, rawOptions: unknown, layout: DatasetLayout | undefined): Promise<SemanticTarget> {
  let options = parseTargetOptions(rawOptions) ?? {};
  if (layout === 'celeba' && FACE_TARGETS.includes(name) && options.faceBox === undefined) options = { ...options, faceBox: 'celeba' };
  return loadSemanticTarget(name, options);
}

/** The shipped model to use when none is named: the first whose modes satisfy `fits`. */
async function firstShipped(fits: (sidecar: Record<string, unknown>) => boolean, what: string): Promise<string> {
  const found = (await listModels()).find((m) => isConditionalSidecar(m.sidecar) && fits(m.sidecar));
  if (!found) throw new PsicError('USAGE', `no shipped ${what} model; pass --model M (a .safetensors file)`);
  return found.name;
}

export function sidecarModes(sidecar: Record<string, unknown>): { name: string; keyed?: boolean; default?: boolean }[] {
  const modes = (sidecar.adapter as { modes?: unknown } | undefined)?.modes;
  return Array.isArray(modes) ? (modes as { name: string }[]) : [];
}

export interface CliModels {
  model: LoadedModel;
  adapter?: ConditionalSynthesis;
  plain?: LoadedModel;
  key?: Uint8Array;
}

/** The model (on the runtime the options ask for), its adapter when conditional, the --plain codec and the key. */
export async function loadModels(values: Record<string, unknown>, defaultFits: (sidecar: Record<string, unknown>) => boolean, what: string): Promise<CliModels> {
  await selectCliBackend(values); // a bad --runtime / --backend fails here, before any loading
  const name = values.model !== undefined ? String(values.model) : await firstShipped(defaultFits, what);
  const model = withCliRuntime(await loadModel(name), values);
  const adapter = isConditionalSidecar(model.info.sidecar) ? await attachConditional(model.backbone, model.info.weightsPath, model.info.sidecar) : undefined;
  const plain = values.plain !== undefined ? withCliRuntime(await loadModel(String(values.plain)), values) : undefined;
  const key = values['key-file'] !== undefined ? await readKeyFile(String(values['key-file'])) : undefined;
  return { model, adapter, plain, key };
}

export function parseList<T extends string>(raw: unknown, allowed: readonly T[], option: string): T[] | undefined {
  if (raw === undefined) return undefined;
  const items = String(raw).split(',').map((s) => s.trim()).filter(Boolean);
  for (const i of items) if (!allowed.includes(i as T)) throw new PsicError('USAGE', `--${option} takes ${allowed.join(', ')}; not "${i}"`);
  if (items.length === 0) throw new PsicError('USAGE', `--${option} needs at least one of ${allowed.join(', ')}`);
  return items as T[];
}

export function progress(json: boolean, label: string) {
  return (done: number, total: number, name: string) => {
    if (!json) process.stderr.write(`\r${label} ${done}/${total} ${name}\x1b[K${done === total ? '\n' : ''}`);
  };
}

/** A rate as a percentage with one decimal; NaN (nothing to measure) as n/a. */
export function percent(x: number | undefined): string | undefined {
  if (x === undefined) return undefined;
  return Number.isNaN(x) ? 'n/a' : `${(100 * x).toFixed(1)}%`;
}

function asrCell(a: AttackSuccess | undefined): string | undefined {
  if (!a) return undefined;
  return `${percent(a.rate)} (${a.fooled}/${a.eligible})`;
}

/** A Markdown table: numbers through the same formatting as the plain tables. */
export function markdownTable(rows: Record<string, unknown>[], columns: string[]): string {
  const cell = (v: unknown) => formatValue(v).replace(/\|/g, '\\|');
  return [`| ${columns.join(' | ')} |`, `|${columns.map((_, i) => (i === 0 ? ' --- ' : ' ---: ')).join('|')}|`, ...rows.map((r) => `| ${columns.map((c) => cell(r[c])).join(' | ')} |`)].join('\n') + '\n';
}

/** Columns present in at least one row, in the given order. */
export function presentColumns(rows: Record<string, unknown>[], columns: string[]): string[] {
  return columns.filter((c) => rows.some((r) => r[c] !== undefined));
}

function printPrivacy(report: PrivacyReport, markdown: boolean): void {
  const attrNames = [...new Set(report.rows.flatMap((r) => Object.keys(r.attributes ?? {})))];
  const rows = report.rows.map((r) => ({
    decode: r.variant,
    images: r.images,
    bpp: r.bpp,
    psnr: r.psnr,
    top1: percent(r.top1),
    'R@1 i2t': percent(r.i2t),
    'R@1 t2i': percent(r.t2i),
    attr: percent(r.attr),
    ...Object.fromEntries(attrNames.map((a) => [a, percent(r.attributes?.[a])])),
  }));
  const asr = report.asr.map((a) => ({
    decode: a.variant,
    'vs reference': a.reference,
    top1: asrCell(a.top1),
    'R@1 i2t': asrCell(a.i2t),
    'R@1 t2i': asrCell(a.t2i),
    attr: asrCell(a.attr),
    ...Object.fromEntries(attrNames.map((n) => [n, asrCell(a.attributes?.[n])])),
  }));
  const render = markdown ? markdownTable : table;
  const cols = presentColumns(rows, ['decode', 'images', 'bpp', 'psnr', 'top1', 'R@1 i2t', 'R@1 t2i', 'attr', ...attrNames]);
  const classify = report.classify === 'nearest-class' ? 'nearest-class top-1' : 'zero-shot top-1';
  process.stdout.write(`target ${report.target} on ${report.data} (${report.layout}, ${report.images} images); top1 = ${classify}\n\n`);
  process.stdout.write(render(rows, cols));
  const asrCols = presentColumns(asr, ['decode', 'vs reference', 'top1', 'R@1 i2t', 'R@1 t2i', 'attr', ...attrNames]);
  if (asr.length) process.stdout.write(`\nattack success rate (fooled / correct on the reference)\n\n${render(asr, asrCols)}`);
  for (const n of report.notes) process.stdout.write(`note: ${n}\n`);
}

export async function evalPrivacyCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parse(
    argv,
    { ...DATA_OPTIONS, target: { type: 'string' }, tasks: { type: 'string' }, jpeg: { type: 'string' }, resize: { type: 'string' } },
    HELP,
  );
  if (positionals.length) throw new PsicError('USAGE', `unexpected argument "${positionals[0]}"\n\n${HELP}`);
  if (!values.data) throw new PsicError('USAGE', `--data PATH is required\n\n${HELP}`);
  if (!values.target) throw new PsicError('USAGE', `--target NAME is required\n\n${HELP}`);
  const json = values.json === true;
  const tasks = parseList<TargetTask>(values.tasks, TARGET_TASKS, 'tasks');
  const transforms: ImageTransform[] = [];
  if (values.jpeg !== undefined) transforms.push(jpegTransform(intOption(values, 'jpeg', 85)));
  if (values.resize !== undefined) transforms.push(resizeTransform(numberOption(values, 'resize', 0.5)));
  const dataOpts = datasetOptions(values);
  const templates = await loadTemplates(values.templates === undefined ? undefined : String(values.templates));

  const started = Date.now();
  const { model, adapter, plain, key } = await loadModels(values, (s) => sidecarModes(s).some((m) => m.keyed), 'PSIC');
  if (!adapter) throw new PsicError('USAGE', `model ${model.name} has one decoding only; eval-privacy needs a PSIC model (protected / full modes)`);
  const dataset = await loadDataset(String(values.data), dataOpts);
  const target = await loadTarget(String(values.target), values['target-options'], dataset.layout);
  const plan = privacyVariants({ codec: model, adapter, key, plain, transforms });
  const report = await evaluatePrivacy({ dataset, plan, target, templates, tasks, onProgress: progress(json, 'eval-privacy') });
  const seconds = (Date.now() - started) / 1000;
  if (key === undefined) report.notes.push('no --key-file: the full decode is not measured');
  if (json) {
    process.stdout.write(`${JSON.stringify({ model: model.name, plain: plain?.name ?? `${model.name} without adapter`, ...report, seconds })}\n`);
  } else {
    process.stdout.write(`model ${model.name}; plain = ${plain?.name ?? 'the same bitstream decoded without the adapter'}\n`);
    printPrivacy(report, values.markdown === true);
    process.stdout.write(`${seconds.toFixed(1)} s\n`);
  }
  (target as { dispose?: () => void }).dispose?.();
}
