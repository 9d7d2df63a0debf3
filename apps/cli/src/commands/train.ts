import { join, resolve } from 'node:path';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { Variable } from '@tensorflow/tfjs-core';
import { backbones, loadModuleWeights, readSidecar, saveModuleWeights, selectBackend, sidecarPath, writeFileAtomic, type BackboneConfig } from '@psic/core';
import { PsicError } from '@psic/entropy';
import { ConditionalSynthesis, createKeyFile, readKeyFile, saveConditionalModel } from '@psic/cltg';
import { BEST_FILE, getRecipe, loadPairs, loadValidation, recipeNeeds, train, trainRecipe, withFrozen, type Recipe, type TrainableCodec, type TrainableGroup } from '@psic/train';
import { modelsDir } from '@psic/zoo';
import '@psic/backbone-hyperprior';
import '@psic/backbone-checkerboard';
import '@psic/backbone-channel';

/** What a data-parallel worker imports to find every backbone in the registry. */
const BACKBONE_MODULES = ['@psic/backbone-hyperprior', '@psic/backbone-checkerboard', '@psic/backbone-channel'];
import { intOption, numberOption, parse } from '../args.js';
import { loadSemanticTarget, parseTargetOptions } from '../target-option.js';

const HELP = `Usage: psic train --data DIR --out DIR [options]
       psic train --recipe psic|naive|ugicm|psic-ugicm --target NAME (--data DIR | --captions FILE) --out DIR [--key-file F] [options]

Train a learned image codec with the rate-distortion loss
lambda * 255^2 * MSE + bpp on random crops of DIR. Checkpoints are written
atomically every --checkpoint-every steps, so the run survives kill -9:
start it again with --resume. Each step is logged to OUT/train.jsonl; the
final weights go to OUT/model.safetensors (+ model.json sidecar).

With --recipe, a conditional model (the codec + a CLTG adapter) is trained
on image-text pairs against a semantic target, stage by stage:
  psic   protected by default, full with the key (UAEO; stage 2 trains the decoder only)
  naive  the same with the naive attack instead of UAEO (ablation)
  ugicm  human by default, machine on request (global, then + instance-wise semantics)
  psic-ugicm  both in one model: protected by default; full and machine with the key
Start from a trained codec with --init (a shipped model name or a file):
stage 1 then fine-tunes it instead of training from scratch.

Options:
  --data DIR              training images (e.g. ../shared/data/imagenet-samples)
  --out DIR               checkpoint, log and exported model
  --arch NAME             bmshj2018-hyperprior (default), mbt2018-mean, he2021-checkerboard or
                          minnen2020-channel
  --N n --M m             channels (default 128 / 192)
  --lambda L              rate-distortion trade-off (default 0.0067; CompressAI q1..q4: 0.0018 0.0035 0.0067 0.013)
  --steps S               total steps (default 10000)
  --batch B               batch size (default 8)
  --crop C                crop size (default 128)
  --lr R                  Adam learning rate (default 1e-4)
  --aux-lr R              auxiliary (quantiles) learning rate (default 1e-3)
  --checkpoint-every K    default 50
  --val DIR               validation folder (e.g. ../shared/data/photos)
  --validate-every K      default 500
  --val-images N          first N validation images (default 4, 0 = all)
  --val-crop C            centre crop of validation images (default 256, 0 = full)
  --seed S                default 1
  --clip C                clip the global gradient norm to C (default 1, as CompressAI; 0 = off)
  --export best|last      weights exported to model.safetensors: the best validation (default when
                          validating) or the last step
  --resume                continue from OUT/checkpoint.safetensors
  --init FILE             start from these weights (e.g. a shipped model) instead of random ones;
                          pass it again with --resume so the exported step count includes its steps
  --init-matching FILE    warm start from another architecture: copy the tensors of FILE whose names and
                          shapes match (e.g. g_a, g_s, h_a of a hyperprior into a checkerboard model);
                          the others stay random and are listed
  --name NAME             model name written in the sidecar (default: the out folder's name)
  --backend NAME          auto, tensorflow, wasm, cpu
  --workers K             data-parallel over K threads, each with half (1/K) of the batch and its own
                          backend (plain rate-distortion training; default 1)
  -h, --help              show this help

Recipe options:
  --recipe NAME           psic, naive, ugicm or psic-ugicm
  --target NAME           semantic target to attack / preserve (see the semantic target registry;
                          "random" is a tiny random model for mechanism tests)
  --target-options JSON   options for the target's factory
  --key-file F            the owner's key (psic, naive); created with a random key when F does not exist.
                          The key is never written into the model or the log
  --captions FILE         captions.jsonl ({"image": PATH, "caption": TEXT} per line) instead of --data
  --templates FILE        prompt templates for --data class folders (JSON array or one per line, "{}" = class)
  --lambda-clip X         weight of the privacy / semantic term (default: the recipe's, 1)
  --lambda-instance X     weight of the instance-wise term (ugicm; default 1)
  --stage-steps A,B       steps per stage (default: the recipe's shares of --steps)
  --condition-dim D       size of the condition vector (default 16)
  --freeze GROUPS         groups no stage trains, of encoder,entropy,decoder,adapter (e.g. encoder,entropy:
                          every mode decodes the --init codec's own bitstream, so bpp stays the plain codec's)
  --hidden H              width of the condition MLP (default 512)
`;

export async function trainCommand(argv: string[]): Promise<void> {
  const str = { type: 'string' } as const;
  const { values } = parse(
    argv,
    {
      data: str, out: str, arch: str, N: str, M: str, lambda: str, steps: str, batch: str, crop: str, lr: str, 'aux-lr': str,
      'checkpoint-every': str, val: str, clip: str, export: str, 'validate-every': str, 'val-images': str, 'val-crop': str, seed: str,
      resume: { type: 'boolean' }, init: str, 'init-matching': str, name: str, backend: str, workers: str,
      recipe: str, target: str, 'target-options': str, 'key-file': str, captions: str, templates: str, 'lambda-clip': str, 'lambda-instance': str,
      'stage-steps': str, 'condition-dim': str, hidden: str, freeze: str,
    },
    HELP,
  );
  if (values.recipe !== undefined) return trainWithRecipe(values, recipeWithFreeze(getRecipe(String(values.recipe)), values.freeze));
  for (const option of ['freeze', 'target', 'key-file', 'captions', 'templates', 'lambda-clip', 'lambda-instance', 'stage-steps', 'condition-dim', 'hidden']) {
    if (values[option] !== undefined) throw new PsicError('USAGE', `--${option} needs --recipe\n\n${HELP}`);
  }
  if (!values.data || !values.out) throw new PsicError('USAGE', `--data and --out are required\n\n${HELP}`);
  const workers = intOption(values, 'workers', 1);
  // each data-parallel thread runs its libtorch kernels single-threaded (the torch thread pool is per process)
  if (workers > 1) process.env.PSIC_TORCH_THREADS = '1';
  const backend = await selectBackend((values.backend as string | undefined) ?? 'auto');
  const architecture = String(values.arch ?? 'bmshj2018-hyperprior');
  const config = { N: intOption(values, 'N', 128), M: intOption(values, 'M', 192) };
  const model = backbones.get(architecture)(config) as unknown as TrainableCodec & { config?: BackboneConfig; namedVariables(): Record<string, import('@tensorflow/tfjs-core').Variable> };
  const outDir = resolve(String(values.out));
  const resuming = values.resume === true && existsSync(join(outDir, 'checkpoint.safetensors'));
  const initPath = values.init === undefined ? undefined : resolveInit(String(values.init));
  if (initPath && values['init-matching'] !== undefined) throw new PsicError('USAGE', 'give --init or --init-matching, not both');
  if (initPath && !resuming) {
    await loadModuleWeights(initPath, model);
    process.stderr.write(`initialised from ${initPath}\n`);
  }
  const warmPath = values['init-matching'] === undefined ? undefined : resolveInit(String(values['init-matching']));
  if (warmPath && !resuming) {
    const { missing } = await loadModuleWeights(warmPath, model, { partial: true });
    const total = Object.keys(model.namedVariables()).length;
    process.stderr.write(`warm start from ${warmPath}: ${total - missing.length} of ${total} tensors copied; left random: ${[...new Set(missing.map((n) => n.split('.')[0]))].join(', ') || 'none'}\n`);
  }
  // steps already in the initial weights, so the exported sidecar counts the whole training
  const priorSteps = initPath && existsSync(sidecarPath(initPath)) ? Number((await readSidecar(sidecarPath(initPath))).steps ?? 0) : 0;
  const lambda = numberOption(values, 'lambda', 0.0067);
  const dataDir = String(values.data);
  const result = await train(model, {
    dataDir,
    outDir,
    steps: intOption(values, 'steps', 10_000),
    lambda,
    batchSize: intOption(values, 'batch', 8),
    crop: intOption(values, 'crop', 128),
    learningRate: numberOption(values, 'lr', 1e-4),
    auxLearningRate: numberOption(values, 'aux-lr', 1e-3),
    checkpointEvery: intOption(values, 'checkpoint-every', 50),
    validateEvery: intOption(values, 'validate-every', 500),
    valDir: values.val as string | undefined,
    valImages: intOption(values, 'val-images', 4, 0),
    valCrop: intOption(values, 'val-crop', 256, 0),
    seed: intOption(values, 'seed', 1, 0),
    resume: values.resume === true,
    clipNorm: values.clip === undefined ? 1 : Number(values.clip),
    meta: { architecture, config: model.config ?? config, backend, init: values.init, initMatching: values['init-matching'] },
    workers,
    parallel: { architecture, config: model.config ?? config, modules: BACKBONE_MODULES, backend },
  });
  const name = String(values.name ?? outDir.split('/').pop());
  const exportBest = values.export !== 'last' && result.bestValidation !== undefined;
  if (exportBest) await loadModuleWeights(join(outDir, BEST_FILE), model);
  const exported = exportBest ? { steps: priorSteps + result.bestValidation!.step, validation: result.bestValidation } : { steps: priorSteps + result.step, validation: result.lastValidation };
  const saved = await saveModuleWeights(join(outDir, 'model.safetensors'), model, {
    name,
    architecture,
    config: model.config ?? config,
    lambda,
    data: dataDir,
    ...exported,
    exported: exportBest ? 'best validation' : 'last step',
    ...(warmPath ? { warmStartedFrom: warmPath.split('/').pop() } : {}),
    backend,
    created: new Date().toISOString(),
  });
  process.stderr.write(`model written to ${saved.weightsPath} (sidecar ${saved.sidecarPath})\n`);
}

const GROUPS: readonly TrainableGroup[] = ['encoder', 'entropy', 'decoder', 'adapter'];

/** `--freeze a,b`: the recipe with those groups trained by no stage. */
function recipeWithFreeze(recipe: Recipe, freeze: string | boolean | undefined): Recipe {
  if (freeze === undefined) return recipe;
  const groups = String(freeze).split(',').map((g) => g.trim()).filter(Boolean);
  const unknown = groups.filter((g) => !GROUPS.includes(g as TrainableGroup));
  if (unknown.length > 0) throw new PsicError('USAGE', `--freeze ${unknown.join(', ')}: not a group; groups are ${GROUPS.join(', ')}`);
  return withFrozen(recipe, groups as TrainableGroup[]);
}

/** `--init`: a .safetensors path, or the name of a shipped model. */
function resolveInit(value: string): string {
  if (value.endsWith('.safetensors')) return value;
  const shipped = join(modelsDir(), `${value}.safetensors`);
  if (!existsSync(shipped)) throw new PsicError('UNKNOWN_MODEL', `--init ${value}: no such shipped model and not a .safetensors file`);
  return shipped;
}

/** The adapter's identity for a run (salt included), kept in OUT so --resume rebuilds the same conditions. */
const ADAPTER_STATE = 'adapter.json';

async function trainWithRecipe(values: Record<string, string | boolean | undefined>, recipe: Recipe): Promise<void> {
  if (!values.out) throw new PsicError('USAGE', `--out is required\n\n${HELP}`);
  if (!values.data && !values.captions) throw new PsicError('USAGE', `--data DIR (class folders) or --captions FILE is required\n\n${HELP}`);
  const needs = recipeNeeds(recipe);
  if (needs.target && !values.target) throw new PsicError('USAGE', `recipe ${recipe.name} needs --target NAME\n\n${HELP}`);
  if (needs.key && !values['key-file']) throw new PsicError('USAGE', `recipe ${recipe.name} needs --key-file F (created when missing)\n\n${HELP}`);
  if (!needs.key && values['key-file']) throw new PsicError('USAGE', `recipe ${recipe.name} has no keyed mode; drop --key-file`);
  const backend = await selectBackend((values.backend as string | undefined) ?? 'auto');
  const outDir = resolve(String(values.out));
  const resuming = values.resume === true && existsSync(join(outDir, 'checkpoint.safetensors'));

  // the codec: the --init model's architecture (its weights, unless resuming), else --arch / --N / --M
  const initPath = values.init === undefined ? undefined : resolveInit(String(values.init));
  const initSidecar = initPath && existsSync(sidecarPath(initPath)) ? await readSidecar(sidecarPath(initPath)) : undefined;
  const architecture = String(initSidecar?.architecture ?? values.arch ?? 'bmshj2018-hyperprior');
  const config = (initSidecar?.config as BackboneConfig | undefined) ?? { N: intOption(values, 'N', 128), M: intOption(values, 'M', 192) };
  if (initSidecar && (values.N !== undefined || values.M !== undefined || values.arch !== undefined)) {
    throw new PsicError('USAGE', '--init fixes the architecture; drop --arch / --N / --M');
  }
  const backbone = backbones.get(architecture)(config);
  if (initPath && !resuming) {
    await loadModuleWeights(initPath, backbone as unknown as { namedVariables(): Record<string, Variable> });
    process.stderr.write(`initialised the codec from ${initPath}\n`);
  }

  // the adapter: same salt and sizes on --resume
  const statePath = join(outDir, ADAPTER_STATE);
  let adapterOptions: { conditionDim: number; hidden: number; salt?: string };
  if (resuming && existsSync(statePath)) {
    adapterOptions = JSON.parse(await readFile(statePath, 'utf8'));
  } else {
    adapterOptions = { conditionDim: intOption(values, 'condition-dim', 16), hidden: intOption(values, 'hidden', 512) };
  }
  const model = new ConditionalSynthesis(backbone, {
    modes: recipe.modes,
    conditionDim: adapterOptions.conditionDim,
    hidden: adapterOptions.hidden,
    salt: adapterOptions.salt ? new Uint8Array(Buffer.from(adapterOptions.salt, 'hex')) : undefined,
    seed: intOption(values, 'seed', 1, 0),
  });
  if (!adapterOptions.salt) {
    const { mkdir } = await import('node:fs/promises');
    await mkdir(outDir, { recursive: true });
    await writeFileAtomic(statePath, `${JSON.stringify({ ...adapterOptions, salt: Buffer.from(model.salt).toString('hex') }, null, 2)}\n`);
  }

  let key: Uint8Array | undefined;
  if (needs.key) {
    const keyFile = String(values['key-file']);
    if (existsSync(keyFile)) key = await readKeyFile(keyFile);
    else {
      key = await createKeyFile(keyFile);
      process.stderr.write(`created key file ${keyFile} with a random key: keep it secret; it is not stored in the model\n`);
    }
  }

  let target;
  if (values.target !== undefined) {
    target = await loadSemanticTarget(String(values.target), parseTargetOptions(values['target-options']));
  }

  const stageSteps = values['stage-steps'] === undefined ? undefined : String(values['stage-steps']).split(',').map((v) => Number(v));
  process.stderr.write('loading image-text pairs ...\n');
  const data = await loadPairs({ data: values.data as string | undefined, captions: values.captions as string | undefined, templates: values.templates as string | undefined });
  const crop = intOption(values, 'crop', 128);
  const validation = values.val ? await loadValidation(String(values.val), intOption(values, 'val-images', 4, 0), intOption(values, 'val-crop', 256, 0)) : undefined;
  const lambda = numberOption(values, 'lambda', 0.0067);
  const lambdaClip = values['lambda-clip'] === undefined ? recipe.defaults.lambdaClip : numberOption(values, 'lambda-clip', 1);
  const lambdaInstance = values['lambda-instance'] === undefined ? recipe.defaults.lambdaInstance : numberOption(values, 'lambda-instance', 1);
  const dataName = String(values.captions ?? values.data);
  const result = await trainRecipe(model, recipe, {
    data,
    outDir,
    steps: intOption(values, 'steps', 10_000),
    stageSteps,
    lambda,
    lambdaClip,
    lambdaInstance,
    batchSize: intOption(values, 'batch', 8),
    crop,
    learningRate: numberOption(values, 'lr', 1e-4),
    auxLearningRate: numberOption(values, 'aux-lr', 1e-3),
    checkpointEvery: intOption(values, 'checkpoint-every', 50),
    validateEvery: intOption(values, 'validate-every', 500),
    validation,
    seed: intOption(values, 'seed', 1, 0),
    resume: values.resume === true,
    clipNorm: values.clip === undefined ? 1 : Number(values.clip),
    key,
    target,
    meta: { recipe: recipe.name, architecture, config, adapter: model.describe(), backend, init: initPath, target: target?.name, freeze: values.freeze },
  });
  if (result.stopped) return;
  const name = String(values.name ?? outDir.split('/').pop());
  const priorSteps = Number(initSidecar?.steps ?? 0);
  const saved = await saveConditionalModel(join(outDir, 'model.safetensors'), model, {
    name,
    recipe: recipe.name,
    target: target?.name,
    lambda,
    lambdaClip,
    ...(recipe.name === 'ugicm' ? { lambdaInstance } : {}),
    data: dataName,
    crop,
    steps: result.step,
    stages: result.stageFigures,
    validation: result.lastValidation,
    initialisedFrom: initPath ? { model: initSidecar?.name ?? initPath, fingerprint: initSidecar?.fingerprint, steps: priorSteps } : null,
    ...(values.freeze ? { frozen: String(values.freeze).split(',') } : {}),
    backend,
    created: new Date().toISOString(),
  });
  process.stderr.write(`model written to ${saved.weightsPath} (sidecar ${saved.sidecarPath})\n`);
}
