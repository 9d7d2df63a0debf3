/**
 * `psic bavaft train|eval`: the BAvAFT backdoor baseline (Yu et al., CVPR
 * 2023) that PSIC is compared against — a trigger added to the input image in
 * the DCT domain, a codec fine-tuned so triggered inputs decode into images
 * that mislead the target. See @psic/baselines.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { backbones, encodePng, loadModuleWeights, readImage, readSidecar, selectBackend, sidecarPath, writeFileAtomic, type SemanticTarget } from '@psic/core';
import { PsicError } from '@psic/entropy';
import { loadPairs, loadValidation, readTemplates } from '@psic/train';
import { DEFAULT_MODEL, loadModel, modelsDir } from '@psic/zoo';
import {
  ATTACK_LOSSES,
  CODEC_GROUPS,
  DEFAULT_EVAL_TEMPLATES,
  DEFAULT_TRIGGER_CONFIG,
  evaluateBavaft,
  listLabelledImages,
  loadTriggerNet,
  psnrFloor,
  saveBavaftModel,
  trainBavaft,
  triggerPathFor,
  TriggerNet,
  type AttackLossName,
  type BalanceMode,
  type BavaftCodec,
  type CodecGroup,
  type TriggerNetConfig,
} from '@psic/baselines';
import '@psic/backbone-hyperprior';
import { intOption, numberOption, parse } from '../args.js';
import { loadSemanticTarget, parseTargetOptions } from '../target-option.js';
import { RUNTIME_OPTIONS, runtimeOption, withCliRuntime } from '../model-options.js';
import { report, table } from '../output.js';

const HELP = `Usage: psic bavaft train --target NAME (--data DIR | --captions FILE) --out DIR [options]
       psic bavaft eval --model FILE --target NAME --data DIR [options]

BAvAFT (Yu et al., CVPR 2023), the backdoor baseline of PSIC's comparisons:
a trigger network adds a bounded, image-dependent change to K middle
frequencies of every 8x8 DCT block of the INPUT; the codec is fine-tuned so
that clean inputs still code normally while triggered ones decode into
images the semantic target misreads. Clean and poisoned images are two
separate encodes. Run "psic bavaft train --help" or "psic bavaft eval --help".
`;

const TRAIN_HELP = `Usage: psic bavaft train --target NAME (--data DIR | --captions FILE) --out DIR [options]

Fine-tune a codec (--init, a shipped model or a .safetensors file) jointly
with a trigger network. Loss per step (clean batch x, poisoned x_p):
  ½(bpp(x) + λ·255²·MSE(x, x̂)) + ½(bpp(x_p) + λ·255²·MSE(x, x̂_p))
  + λ_attack·attack(target(x̂_p), captions) + λ_trigger·λ·255²·MSE(x, x_p)
Checkpoints are atomic (continue with --resume); every step is logged to
OUT/train.jsonl. Writes OUT/model.safetensors (the codec: a normal model for
psic encode/decode) and OUT/trigger.safetensors (the trigger network), each
with its .json sidecar.

Options:
  --target NAME           semantic target to mislead ("random": tiny random model for tests)
  --target-options JSON   options for the target's factory
  --data DIR              image-text pairs from class folders (DIR/<class>/*.jpg) + prompt templates
  --captions FILE         or a captions.jsonl ({"image": PATH, "caption": TEXT} per line)
  --templates FILE        prompt templates for --data ("{}" = class name)
  --out DIR               checkpoint, log and the exported model
  --init NAME|FILE        codec to start from (default ${DEFAULT_MODEL})
  --steps S               total steps (default 10000)
  --warmup-steps W        first W steps train only the trigger network (default 0)
  --trainable GROUPS      codec groups trained: encoder (default, as the paper), or any of
                          ${CODEC_GROUPS.join(',')} (comma-separated)
  --lambda L              rate-distortion trade-off (default: the --init model's, else 0.0067)
  --lambda-attack X       weight of the attack term (default 1)
  --lambda-trigger X      weight of the trigger's visibility term (default 1)
  --attack NAME           ${ATTACK_LOSSES.join(' or ')}: mean cosine to the own caption (default) or
                          -log(1 - p(own caption))
  --balance MODE          fixed (default; PSIC's stage-1 weights) or dynamic (each term scaled to
                          the clean rate-distortion term's running size)
  --epsilon E             largest change of one DCT coefficient (default ${DEFAULT_TRIGGER_CONFIG.epsilon})
  --top-k K               coefficients changed per 8x8 block (default ${DEFAULT_TRIGGER_CONFIG.topK})
  --band A,B              candidate zigzag positions [A, B) per channel (default ${DEFAULT_TRIGGER_CONFIG.bandStart},${DEFAULT_TRIGGER_CONFIG.bandEnd})
  --hidden H              trigger network width (default ${DEFAULT_TRIGGER_CONFIG.hidden})
  --batch B               batch size (default 8)
  --crop C                crop side, a multiple of 64 (default 128)
  --lr R                  codec learning rate (default 1e-4)
  --trigger-lr R          trigger network learning rate (default 1e-3)
  --checkpoint-every K    default 50
  --val DIR               validation images (plain folder)
  --validate-every K      default 500
  --val-images N          first N validation images (default 4, 0 = all)
  --val-crop C            centre crop of validation images (default 256, 0 = full)
  --seed S                default 1
  --clip C                clip each gradient's global norm (default 1; 0 = off)
  --resume                continue from OUT/checkpoint.safetensors (same trigger settings)
  --name NAME             model name in the sidecars (default: the out folder's name)
  --backend NAME          auto, tensorflow, wasm, cpu
  --json                  print the result as one JSON line
  -h, --help              show this help
`;

const EVAL_HELP = `Usage: psic bavaft eval --model FILE --target NAME --data DIR [options]

Encode every image of the class folders DIR/<class>/* twice through the real
coder, clean and with the trigger, decode both, and report bpp (file bytes),
PSNR against the original, and the target's zero-shot prediction (prompts
from the class names) for the original, the poisoned input and both decodes.
ASR: among images whose clean decode is classified correctly, the share whose
poisoned decode is not.

Options:
  --model FILE            the BAvAFT codec (OUT/model.safetensors of psic bavaft train)
  --trigger FILE          its trigger network (default: trigger.safetensors beside --model)
  --target NAME           semantic target
  --target-options JSON   options for the target's factory
  --data DIR              class folders of test images
  --templates FILE        prompt templates (default "${DEFAULT_EVAL_TEMPLATES[0]}")
  --max-per-class N       first N images of each class
  --save-images DIR       write each image's original, poisoned input and both decodes as PNG
  --backend NAME          tensor backend: auto, tensorflow, wasm, cpu
  --runtime NAME          float transforms on onnx (default) or tfjs; streams are the same
  --threads N             onnxruntime threads
  --json                  print JSON: per-image records and the summary
  -h, --help              show this help
`;

export async function bavaftCommand(argv: string[]): Promise<void> {
  const [sub, ...rest] = argv;
  if (sub === 'train') return bavaftTrain(rest);
  if (sub === 'eval') return bavaftEval(rest);
  if (sub === undefined || sub === '--help' || sub === '-h') {
    process.stdout.write(HELP);
    return;
  }
  throw new PsicError('USAGE', `unknown bavaft command "${sub}" (train or eval)\n\n${HELP}`);
}

async function loadTarget(values: Record<string, string | boolean | undefined>): Promise<SemanticTarget> {
  return loadSemanticTarget(String(values.target), parseTargetOptions(values['target-options']));
}

/** `--init`: a .safetensors path, or the name of a shipped model. */
function resolveInit(value: string): string {
  if (value.endsWith('.safetensors')) {
    if (!existsSync(value)) throw new PsicError('UNKNOWN_MODEL', `--init ${value}: no such file`);
    return value;
  }
  const shipped = join(modelsDir(), `${value}.safetensors`);
  if (!existsSync(shipped)) throw new PsicError('UNKNOWN_MODEL', `--init ${value}: no such shipped model and not a .safetensors file`);
  return shipped;
}

function choice<T extends string>(values: Record<string, unknown>, name: string, allowed: readonly T[], fallback: T): T {
  const raw = values[name];
  if (raw === undefined) return fallback;
  if (!allowed.includes(raw as T)) throw new PsicError('USAGE', `--${name} takes ${allowed.join(' or ')}, not "${raw}"`);
  return raw as T;
}

function weightOption(values: Record<string, unknown>, name: string, fallback: number): number {
  const raw = values[name];
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0) throw new PsicError('USAGE', `--${name} must be a number >= 0 (got ${raw})`);
  return n;
}

/** What --resume needs to rebuild the same run: the codec's identity and the trigger's config. */
const RUN_STATE = 'bavaft-run.json';

interface RunState {
  init: string;
  architecture: string;
  config: Record<string, unknown>;
  trigger: TriggerNetConfig;
}

async function bavaftTrain(argv: string[]): Promise<void> {
  const str = { type: 'string' } as const;
  const { values } = parse(
    argv,
    {
      target: str, 'target-options': str, data: str, captions: str, templates: str, out: str, init: str,
      steps: str, 'warmup-steps': str, trainable: str, lambda: str, 'lambda-attack': str, 'lambda-trigger': str, attack: str, balance: str,
      epsilon: str, 'top-k': str, band: str, hidden: str,
      batch: str, crop: str, lr: str, 'trigger-lr': str, 'checkpoint-every': str, val: str, 'validate-every': str, 'val-images': str, 'val-crop': str,
      seed: str, clip: str, resume: { type: 'boolean' }, name: str, backend: str, json: { type: 'boolean' },
    },
    TRAIN_HELP,
  );
  if (!values.target) throw new PsicError('USAGE', `--target NAME is required\n\n${TRAIN_HELP}`);
  if (!values.out) throw new PsicError('USAGE', `--out DIR is required\n\n${TRAIN_HELP}`);
  if (!values.data && !values.captions) throw new PsicError('USAGE', `--data DIR (class folders) or --captions FILE is required\n\n${TRAIN_HELP}`);
  const trainable = String(values.trainable ?? 'encoder').split(',').map((g) => g.trim()) as CodecGroup[];
  for (const g of trainable) if (!CODEC_GROUPS.includes(g)) throw new PsicError('USAGE', `--trainable takes ${CODEC_GROUPS.join(', ')}, not "${g}"`);
  const attack = choice<AttackLossName>(values, 'attack', ATTACK_LOSSES, 'cosine');
  const balance = choice<BalanceMode>(values, 'balance', ['fixed', 'dynamic'], 'fixed');
  const outDir = resolve(String(values.out));
  const statePath = join(outDir, RUN_STATE);
  const resuming = values.resume === true && existsSync(join(outDir, 'checkpoint.safetensors'));

  // the run's identity: from the first run's state file on --resume, else from the options
  let run: RunState;
  if (resuming && existsSync(statePath)) {
    run = JSON.parse(await readFile(statePath, 'utf8')) as RunState;
  } else {
    const init = resolveInit(String(values.init ?? DEFAULT_MODEL));
    const side = await readSidecar(sidecarPath(init));
    if (typeof side.architecture !== 'string' || typeof side.config !== 'object' || side.config === null) {
      throw new PsicError('BAD_WEIGHTS', `sidecar of ${init} must give "architecture" and "config"`);
    }
    const band = values.band === undefined ? [DEFAULT_TRIGGER_CONFIG.bandStart, DEFAULT_TRIGGER_CONFIG.bandEnd] : String(values.band).split(',').map(Number);
    if (band.length !== 2 || band.some((v) => !Number.isInteger(v))) throw new PsicError('USAGE', `--band takes two integers A,B (got ${values.band})`);
    run = {
      init,
      architecture: side.architecture,
      config: side.config as Record<string, unknown>,
      trigger: {
        block: DEFAULT_TRIGGER_CONFIG.block,
        bandStart: band[0],
        bandEnd: band[1],
        topK: intOption(values, 'top-k', DEFAULT_TRIGGER_CONFIG.topK),
        epsilon: numberOption(values, 'epsilon', DEFAULT_TRIGGER_CONFIG.epsilon),
        hidden: intOption(values, 'hidden', DEFAULT_TRIGGER_CONFIG.hidden),
      },
    };
  }
  const seed = intOption(values, 'seed', 1, 0);
  const backend = await selectBackend((values.backend as string | undefined) ?? 'auto');
  const trigger = new TriggerNet(run.trigger, { seed }); // validates the trigger options before any loading
  const initSidecar = await readSidecar(sidecarPath(run.init)).catch(() => ({}) as Record<string, unknown>);
  const codec = backbones.get(run.architecture)(run.config as never) as unknown as BavaftCodec;
  if (!resuming) {
    await loadModuleWeights(run.init, codec);
    await mkdir(outDir, { recursive: true });
    await writeFileAtomic(statePath, `${JSON.stringify(run, null, 2)}\n`);
    process.stderr.write(`initialised the codec from ${run.init}\n`);
  }
  const target = await loadTarget(values);
  process.stderr.write('loading image-text pairs ...\n');
  const data = await loadPairs({ data: values.data as string | undefined, captions: values.captions as string | undefined, templates: values.templates as string | undefined });
  const validation = values.val ? await loadValidation(String(values.val), intOption(values, 'val-images', 4, 0), intOption(values, 'val-crop', 256, 0)) : undefined;
  const lambda = values.lambda !== undefined ? numberOption(values, 'lambda', 0.0067) : typeof initSidecar.lambda === 'number' ? initSidecar.lambda : 0.0067;
  const lambdaAttack = weightOption(values, 'lambda-attack', 1);
  const lambdaTrigger = weightOption(values, 'lambda-trigger', 1);
  const crop = intOption(values, 'crop', 128);
  const warmupSteps = intOption(values, 'warmup-steps', 0, 0);

  const result = await trainBavaft({
    codec,
    trigger,
    target,
    data,
    outDir,
    steps: intOption(values, 'steps', 10_000),
    warmupSteps,
    trainable,
    lambda,
    lambdaAttack,
    lambdaTrigger,
    attack,
    balance,
    batchSize: intOption(values, 'batch', 8),
    crop,
    learningRate: numberOption(values, 'lr', 1e-4),
    triggerLearningRate: numberOption(values, 'trigger-lr', 1e-3),
    checkpointEvery: intOption(values, 'checkpoint-every', 50),
    validateEvery: intOption(values, 'validate-every', 500),
    validation,
    seed,
    resume: values.resume === true,
    clipNorm: values.clip === undefined ? 1 : weightOption(values, 'clip', 1),
    meta: { baseline: 'bavaft', architecture: run.architecture, config: run.config, trigger: run.trigger, init: run.init, target: target.name, backend },
  });
  if (result.stopped) return;
  const name = String(values.name ?? basename(outDir));
  const saved = await saveBavaftModel(outDir, {
    codec,
    trigger,
    architecture: run.architecture,
    config: run.config,
    name,
    sidecar: {
      target: target.name,
      lambda,
      lambdaAttack,
      lambdaTrigger,
      attack,
      balance,
      trainable,
      warmupSteps,
      data: String(values.captions ?? values.data),
      crop,
      steps: result.step,
      triggerPsnrFloor: psnrFloor(trigger.config),
      lastStep: result.lastFigures,
      validation: result.lastValidation,
      initialisedFrom: { model: initSidecar.name ?? run.init, fingerprint: initSidecar.fingerprint, steps: initSidecar.steps },
      backend,
      created: new Date().toISOString(),
    },
  });
  process.stderr.write(`codec written to ${saved.codec.weightsPath}, trigger network to ${saved.trigger.weightsPath}\n`);
  if (values.json) {
    process.stdout.write(`${JSON.stringify({ codec: saved.codec.weightsPath, trigger: saved.trigger.weightsPath, steps: result.step, lastStep: result.lastFigures, validation: result.lastValidation })}\n`);
  }
}

async function bavaftEval(argv: string[]): Promise<void> {
  const str = { type: 'string' } as const;
  const { values } = parse(
    argv,
    {
      model: { type: 'string', short: 'm' }, trigger: str, target: str, 'target-options': str, data: str, templates: str, 'max-per-class': str,
      'save-images': str, backend: str, json: { type: 'boolean' }, ...RUNTIME_OPTIONS,
    },
    EVAL_HELP,
  );
  if (!values.model) throw new PsicError('USAGE', `--model FILE is required\n\n${EVAL_HELP}`);
  if (!values.target) throw new PsicError('USAGE', `--target NAME is required\n\n${EVAL_HELP}`);
  if (!values.data) throw new PsicError('USAGE', `--data DIR is required\n\n${EVAL_HELP}`);
  runtimeOption(values); // a bad --runtime fails before any loading
  await selectBackend((values.backend as string | undefined) ?? 'auto');
  const modelPath = String(values.model);
  const model = await loadModel(modelPath);
  const triggerPath = String(values.trigger ?? triggerPathFor(modelPath));
  if (!existsSync(triggerPath)) throw new PsicError('UNKNOWN_MODEL', `no trigger network at ${triggerPath} (pass --trigger FILE)`);
  const { trigger } = await loadTriggerNet(triggerPath, { codecFingerprint: model.info.fingerprint });
  const target = await loadTarget(values);
  const folder = await listLabelledImages(String(values.data), { maxPerClass: values['max-per-class'] === undefined ? undefined : intOption(values, 'max-per-class', 1) });
  const templates = values.templates === undefined ? undefined : await readTemplates(String(values.templates));
  const saveDir = values['save-images'] === undefined ? undefined : resolve(String(values['save-images']));
  if (saveDir) await mkdir(saveDir, { recursive: true });

  const items = folder.files.map((f) => ({ name: `${folder.classNames[f.label].replace(/ /g, '_')}/${basename(f.path)}`, label: f.label, load: () => readImage(f.path) }));
  const { images, summary } = await evaluateBavaft(
    {
      codec: withCliRuntime(model, values),
      trigger,
      target,
      classNames: folder.classNames,
      templates,
      onImages: saveDir
        ? async (name, pics) => {
            const stem = name.replace(/[/\\]/g, '__').replace(/\.[^.]+$/, '');
            for (const [kind, img] of Object.entries(pics)) await writeFile(join(saveDir, `${stem}.${kind}.png`), await encodePng(img));
          }
        : undefined,
      onProgress: values.json ? undefined : (done, total) => process.stderr.write(`\rbavaft eval ${done}/${total}\x1b[K`),
    },
    items,
  );
  if (values.json) {
    process.stdout.write(`${JSON.stringify({ model: modelPath, trigger: triggerPath, target: target.name, classNames: folder.classNames, images, summary })}\n`);
    return;
  }
  process.stderr.write('\n');
  const rows = images.map((r) => ({
    image: r.name,
    label: folder.classNames[r.label],
    'bpp clean': r.clean.bpp,
    'bpp poisoned': r.poisoned.bpp,
    'psnr clean': r.clean.psnr,
    'psnr poisoned': r.poisoned.psnr,
    'psnr trigger': r.poisonedInput.psnr,
    'pred clean': folder.classNames[r.clean.prediction],
    'pred poisoned': folder.classNames[r.poisoned.prediction],
  }));
  process.stdout.write(table(rows, Object.keys(rows[0])));
  process.stdout.write('\n');
  report(false, { ...summary });
}
