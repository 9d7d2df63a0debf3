import { join, resolve } from 'node:path';
import { existsSync } from 'node:fs';
import { backbones, loadModuleWeights, readSidecar, saveModuleWeights, selectBackend, sidecarPath } from '@psic/core';
import { PsicError } from '@psic/entropy';
import { BEST_FILE, train, type TrainableCodec } from '@psic/train';
import '@psic/backbone-hyperprior';
import { intOption, numberOption, parse } from '../args.js';

const HELP = `Usage: psic train --data DIR --out DIR [options]

Train a learned image codec with the rate-distortion loss
lambda * 255^2 * MSE + bpp on random crops of DIR. Checkpoints are written
atomically every --checkpoint-every steps, so the run survives kill -9:
start it again with --resume. Each step is logged to OUT/train.jsonl; the
final weights go to OUT/model.safetensors (+ model.json sidecar).

Options:
  --data DIR              training images (e.g. ../shared/data/imagenet-samples)
  --out DIR               checkpoint, log and exported model
  --arch NAME             bmshj2018-hyperprior (default) or mbt2018-mean
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
  --name NAME             model name written in the sidecar (default: the out folder's name)
  --backend NAME          auto, tensorflow, wasm, cpu
  -h, --help              show this help
`;

export async function trainCommand(argv: string[]): Promise<void> {
  const str = { type: 'string' } as const;
  const { values } = parse(
    argv,
    {
      data: str, out: str, arch: str, N: str, M: str, lambda: str, steps: str, batch: str, crop: str, lr: str, 'aux-lr': str,
      'checkpoint-every': str, val: str, clip: str, export: str, 'validate-every': str, 'val-images': str, 'val-crop': str, seed: str,
      resume: { type: 'boolean' }, init: str, name: str, backend: str,
    },
    HELP,
  );
  if (!values.data || !values.out) throw new PsicError('USAGE', `--data and --out are required\n\n${HELP}`);
  const backend = await selectBackend((values.backend as string | undefined) ?? 'auto');
  const architecture = String(values.arch ?? 'bmshj2018-hyperprior');
  const config = { N: intOption(values, 'N', 128), M: intOption(values, 'M', 192) };
  const model = backbones.get(architecture)(config) as unknown as TrainableCodec & { namedVariables(): Record<string, import('@tensorflow/tfjs-core').Variable> };
  const outDir = resolve(String(values.out));
  const resuming = values.resume === true && existsSync(join(outDir, 'checkpoint.safetensors'));
  if (values.init && !resuming) {
    await loadModuleWeights(String(values.init), model);
    process.stderr.write(`initialised from ${values.init}\n`);
  }
  // steps already in the initial weights, so the exported sidecar counts the whole training
  const priorSteps = values.init && existsSync(sidecarPath(String(values.init))) ? Number((await readSidecar(sidecarPath(String(values.init)))).steps ?? 0) : 0;
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
    meta: { architecture, config, backend, init: values.init },
  });
  const name = String(values.name ?? outDir.split('/').pop());
  const exportBest = values.export !== 'last' && result.bestValidation !== undefined;
  if (exportBest) await loadModuleWeights(join(outDir, BEST_FILE), model);
  const exported = exportBest ? { steps: priorSteps + result.bestValidation!.step, validation: result.bestValidation } : { steps: priorSteps + result.step, validation: result.lastValidation };
  const saved = await saveModuleWeights(join(outDir, 'model.safetensors'), model, {
    name,
    architecture,
    config,
    lambda,
    data: dataDir,
    ...exported,
    exported: exportBest ? 'best validation' : 'last step',
    backend,
    created: new Date().toISOString(),
  });
  process.stderr.write(`model written to ${saved.weightsPath} (sidecar ${saved.sidecarPath})\n`);
}
