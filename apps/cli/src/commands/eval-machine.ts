import { semanticTargets, type SemanticTarget } from '@psic/core';
import { PsicError } from '@psic/entropy';
import { evaluateMachine, loadDataset, loadTemplates, modeVariants, PSEUDO_TRUTH_SCORE, type EvalDataset, type MachineReport, type ObjectDetector } from '@psic/eval';
import { CenterNetDetector } from '@psic/vlp';
import { parse } from '../args.js';
import { RUNTIME_HELP } from '../model-options.js';
import { table } from '../output.js';
import { DATA_OPTIONS, datasetOptions, loadModels, loadTarget, markdownTable, parseList, percent, presentColumns, progress, sidecarModes } from './eval-privacy.js';

const HELP = `Usage: psic eval-machine --data PATH[,PATH...] [options]

UG-ICM's machine figures. Each image is encoded once; the same bitstream is
decoded plainly (the backbone without the adapter) and in each mode of the
model (human, machine). Every decode goes to pretrained models that took no
part in training:

  detection   CenterNet (COCO-80, from @vladmandic/human): mAP@0.5 against its
              own boxes on the uncompressed picture scoring >= --min-score
              (pseudo ground truth: what survives coding, not the detector's
              accuracy)
  faces       the npm face models (faceres, face-api): Male / Young / Smiling
              accuracy against the CelebA labels (CelebA folders only)
  classify    nearest-class-mean on MobileNetV2 features (nsfwjs), prototypes
              from the uncompressed pictures (labelled data only; with
              imagenet-samples' one image per class: "still nearest its class")
  zero-shot   the supervising target's zero-shot top-1 (labelled data only)

Data (--data, comma-separated for several sets): a CIFAR-10 .tar archive
(test split), class folders, a CelebA folder (attributes.csv), an ImageNet
sample folder (labels.json) or a folder of images. Images with a side under
64 px are upscaled (bilinear) to 64 first; bpp and PSNR are per coded pixel.

Options:
  --data PATH[,PATH]     data set(s)
  -m, --model M          the UG-ICM model: shipped name or .safetensors (default: the first
                         shipped model with human and machine modes)
  --modes LIST           modes to decode (default: every mode; keyed ones need --key-file)
  --key-file F           the owner's key, for keyed modes (a model with PSIC modes too)
  --plain MODEL          compare with this plain codec (its own bitstream) rather than the model's
                         own backbone decoded without the adapter
  --target NAME          supervising target for zero-shot (default: the "target" in the model's sidecar)
  --target-options JSON  options for that target's factory
  --templates WHICH      zero-shot prompt templates: cifar10 (default), held-out, or a file
  --tasks LIST           of detection,faces,classify,zero-shot (default: all that apply to each set)
  --face-models LIST     of faceres,face-api (default both)
  --classifier NAME      feature extractor for nearest-class (default mobilenet-v2)
  --min-score S          pseudo-ground-truth score threshold (default ${PSEUDO_TRUTH_SCORE}, human's own)
  --per-class N          first N images of each class
  --skip N               skip the first N images (classes interleaved)
  --limit N              then at most N images per set
  --backend NAME         tensor backend: auto, tensorflow, wasm, cpu
${RUNTIME_HELP}
  --json                 print one JSON object instead of tables
  --markdown             print the tables as Markdown (for a README)
  -h, --help             show this help
`;

const TASKS = ['detection', 'faces', 'classify', 'zero-shot'] as const;
type Task = (typeof TASKS)[number];
const FACE_MODELS = ['faceres', 'face-api'] as const;

function printMachine(report: MachineReport, markdown: boolean): void {
  const faceCols = report.faceModels.flatMap((m) => {
    const attrs = Object.keys(report.rows.find((r) => r.faces?.[m])?.faces?.[m].attributes ?? {});
    return [`${m}`, ...attrs.map((a) => `${m} ${a}`)];
  });
  const rows = report.rows.map((r) => ({
    decode: r.variant,
    images: r.images,
    bpp: r.bpp,
    psnr: r.psnr,
    'det mAP@0.5': r.variant === 'original' && report.detector ? '(truth)' : percent(r.detection),
    ...Object.fromEntries(
      report.faceModels.flatMap((m) => {
        const f = r.faces?.[m];
        return [[m, percent(f?.attr)], ...Object.entries(f?.attributes ?? {}).map(([a, v]) => [`${m} ${a}`, percent(v)])];
      }),
    ),
    'classify top1': percent(r.classify),
    'zero-shot top1': percent(r.zeroShot),
  }));
  const cols = presentColumns(rows, ['decode', 'images', 'bpp', 'psnr', 'det mAP@0.5', ...faceCols, 'classify top1', 'zero-shot top1']);
  const what = [
    report.detector && `detector ${report.detector} (pseudo truth: ${report.pseudoTruth!.boxes} boxes scoring >= ${report.pseudoTruth!.minScore} on ${report.pseudoTruth!.images} images)`,
    report.faceModels.length && `face models ${report.faceModels.join(', ')}`,
    report.classifier && `classifier ${report.classifier}`,
    report.rows.some((r) => r.zeroShot !== undefined) && `zero-shot ${report.target}`,
  ].filter(Boolean);
  process.stdout.write(`\n${report.data} (${report.layout}, ${report.images} images): ${what.join('; ') || 'rate and distortion only'}\n\n`);
  process.stdout.write((markdown ? markdownTable : table)(rows, cols));
  for (const n of report.notes) process.stdout.write(`note: ${n}\n`);
}

export async function evalMachineCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parse(
    argv,
    {
      ...DATA_OPTIONS,
      target: { type: 'string' },
      modes: { type: 'string' },
      tasks: { type: 'string' },
      'face-models': { type: 'string' },
      classifier: { type: 'string' },
      'min-score': { type: 'string' },
    },
    HELP,
  );
  if (positionals.length) throw new PsicError('USAGE', `unexpected argument "${positionals[0]}"\n\n${HELP}`);
  if (!values.data) throw new PsicError('USAGE', `--data PATH is required\n\n${HELP}`);
  const json = values.json === true;
  const tasks = parseList<Task>(values.tasks, TASKS, 'tasks') ?? [...TASKS];
  const faceModels = parseList(values['face-models'], FACE_MODELS, 'face-models') ?? [...FACE_MODELS];
  let minScore = PSEUDO_TRUTH_SCORE;
  if (values['min-score'] !== undefined) {
    minScore = Number(values['min-score']);
    if (!(minScore > 0 && minScore <= 1)) throw new PsicError('USAGE', `--min-score must be in (0, 1] (got ${values['min-score']})`);
  }
  const modes = values.modes === undefined ? undefined : String(values.modes).split(',').map((s) => s.trim()).filter(Boolean);
  const dataOpts = datasetOptions(values);
  const templates = await loadTemplates(values.templates === undefined ? undefined : String(values.templates));

  const started = Date.now();
  const { model, adapter, plain, key } = await loadModels(
    values,
    (s) => ['human', 'machine'].every((n) => sidecarModes(s).some((m) => m.name === n)),
    'UG-ICM',
  );
  const variants = modeVariants({ codec: model, adapter, modes, key, plain });
  const datasets: EvalDataset[] = [];
  for (const path of String(values.data).split(',').filter(Boolean)) datasets.push(await loadDataset(path, dataOpts));

  // each model is loaded once, and only when a set needs it
  const labelled = datasets.some((d) => d.classes);
  const faces = datasets.some((d) => d.layout === 'celeba');
  const targetName = values.target !== undefined ? String(values.target) : typeof model.info.sidecar.target === 'string' ? model.info.sidecar.target : undefined;
  const notes: string[] = [];
  let target: SemanticTarget | undefined;
  if (tasks.includes('zero-shot') && labelled) {
    if (targetName) target = await loadTarget(targetName, values['target-options'], undefined);
    else notes.push('zero-shot: the model names no supervising target; pass --target NAME');
  }
  const classifier = tasks.includes('classify') && labelled ? await semanticTargets.get(String(values.classifier ?? 'mobilenet-v2'))() : undefined;
  const faceTargets = tasks.includes('faces') && faces ? await Promise.all(faceModels.map((m) => loadTarget(m, undefined, 'celeba'))) : [];
  const detector: ObjectDetector | undefined = tasks.includes('detection') ? await CenterNetDetector.load() : undefined;

  const reports: MachineReport[] = [];
  for (const dataset of datasets) {
    reports.push(
      await evaluateMachine({
        dataset,
        variants,
        target,
        templates,
        detector,
        pseudoTruthScore: minScore,
        faceTargets: dataset.layout === 'celeba' ? faceTargets : [],
        classifier,
        onProgress: progress(json, `eval-machine ${dataset.layout}`),
      }),
    );
  }
  const seconds = (Date.now() - started) / 1000;
  const header = { model: model.name, plain: plain?.name ?? `${model.name} without adapter`, modes: variants.map((v) => v.name).filter((n) => n !== 'original' && n !== 'plain') };
  if (json) {
    process.stdout.write(`${JSON.stringify({ ...header, datasets: reports, notes, seconds })}\n`);
  } else {
    process.stdout.write(`model ${model.name}; plain = ${plain?.name ?? 'the same bitstream decoded without the adapter'}\n`);
    for (const r of reports) printMachine(r, values.markdown === true);
    for (const n of notes) process.stdout.write(`note: ${n}\n`);
    process.stdout.write(`${seconds.toFixed(1)} s\n`);
  }
  for (const t of [target, classifier, ...faceTargets, detector]) (t as { dispose?: () => void } | undefined)?.dispose?.();
}
