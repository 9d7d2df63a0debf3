/**
 * The training plan: every model the papers' experiments need, as the
 * `psic train` / `psic bavaft train` command that makes it, with the
 * settings the shipped models were trained with (their sidecars record
 * them; a multi-phase learning-rate schedule is reduced to one rate).
 * Outputs go to runs/experiments/<name>/; each command carries --resume, so
 * an interrupted plan continues where it stopped, and an experiment whose
 * model.json exists is done. A model another one starts from (--init) is
 * taken from runs/experiments/ when this plan trains it, else from the zoo.
 */
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

/** Where the plan trains, relative to the repository root (--runs changes it). */
export const DEFAULT_RUNS_DIR = 'runs/experiments';
const IMAGENET = '../shared/data/imagenet-samples';
const PHOTOS = '../shared/data/photos';
const CIFAR_TAR = '../shared/data/cifar10-jpeg.tar';
/** CIFAR-10's train split as class folders (what `psic train --data` and `psic bavaft train --data` read), extracted from the archive. */
export const cifarTrainDir = (runsDir) => `${runsDir}/data/cifar10/train`;
/** The owner key of the PSIC-style models the plan trains (created by the first of them). */
export const ownerKey = (runsDir) => `${runsDir}/owner.key`;

/** The in-house contrastive model as the shipped PSIC models were trained against it (step 1,550). */
export const PSIC_TARGET = { name: 'inhouse-cifar', options: { weights: 'packages/zoo/models/targets/inhouse-cifar-step1550.safetensors' } };

/** `--target NAME [--target-options JSON]` of a target { name, options }. */
export const targetArgs = (t) => ['--target', t.name, ...(t.options ? ['--target-options', JSON.stringify(t.options)] : [])];

/** Plain rate-distortion codecs on ImageNet samples, validated on Kodak (N=64, M=96 as shipped). */
function plain(name, arch, lambda, steps, lr, from) {
  return () => ({
    name,
    kind: 'plain',
    arch,
    lambda,
    needs: from ? [from.model] : [],
    args: (init) => [
      'train', '--data', IMAGENET, '--val', PHOTOS, ...(arch === 'bmshj2018-hyperprior' ? [] : ['--arch', arch]), '--N', '64', '--M', '96',
      '--lambda', String(lambda), '--steps', String(steps), '--lr', String(lr), '--checkpoint-every', '50', '--validate-every', '500',
      ...(from ? [from.matching ? '--init-matching' : '--init', init(from.model)] : []),
    ],
  });
}

/** A PSIC-style recipe (psic, or naive for the ablation) on 64x64 CIFAR-10 crops from a plain codec, against the step-1,550 in-house target. */
function privacy(name, recipe, from, lambda) {
  return (runsDir) => ({
    name,
    kind: recipe,
    lambda,
    target: PSIC_TARGET,
    needs: [from],
    data: 'cifar-train',
    args: (init) => [
      'train', '--recipe', recipe, ...targetArgs(PSIC_TARGET), '--data', cifarTrainDir(runsDir), '--init', init(from), '--lambda', String(lambda),
      '--crop', '64', '--batch', '8', '--steps', '2000', '--stage-steps', '1600,400', '--lr', '1e-4', '--key-file', ownerKey(runsDir), '--checkpoint-every', '50',
    ],
  });
}

/** Every experiment, in an order where each comes after what it starts from; `runsDir` is where they train. */
export function planExperiments(runsDir = DEFAULT_RUNS_DIR) {
  return PLAN.map((make) => make(runsDir)).map((e) => ({ ...e, outDir: `${runsDir}/${e.name}` }));
}

const PLAN = [
  plain('hyperprior-q1', 'bmshj2018-hyperprior', 0.0018, 6800, 3e-4),
  plain('hyperprior-q2', 'bmshj2018-hyperprior', 0.005, 7933, 2e-4, { model: 'hyperprior-q1' }),
  plain('checkerboard-q1', 'he2021-checkerboard', 0.0018, 3000, 3e-4, { model: 'hyperprior-q1', matching: true }),
  plain('checkerboard-q2', 'he2021-checkerboard', 0.005, 3000, 3e-4, { model: 'hyperprior-q2', matching: true }),
  plain('channel-q1', 'minnen2020-channel', 0.0018, 3000, 3e-4, { model: 'hyperprior-q1', matching: true }),
  plain('channel-q2', 'minnen2020-channel', 0.005, 3000, 3e-4, { model: 'hyperprior-q2', matching: true }),
  privacy('psic-q1', 'psic', 'hyperprior-q1', 0.0018),
  privacy('psic-q2', 'psic', 'hyperprior-q2', 0.005),
  privacy('psic-checkerboard-q1', 'psic', 'checkerboard-q1', 0.0018),
  privacy('naive-q1', 'naive', 'hyperprior-q1', 0.0018),
  () => ({
    name: 'ugicm-q1',
    kind: 'ugicm',
    lambda: 0.0018,
    needs: ['hyperprior-q1'],
    args: (init) => [
      'train', '--recipe', 'ugicm', '--target', 'inhouse-cifar', '--init', init('hyperprior-q1'), '--freeze', 'encoder,entropy', '--data', IMAGENET, '--val', PHOTOS,
      '--steps', '2500', '--stage-steps', '2000,500', '--lambda', '0.0018', '--lambda-clip', '5', '--lambda-instance', '5', '--checkpoint-every', '50', '--validate-every', '500',
    ],
  }),
  (runsDir) => ({
    name: 'bavaft-q1',
    kind: 'bavaft',
    lambda: 0.0018,
    target: PSIC_TARGET,
    needs: ['hyperprior-q1'],
    data: 'cifar-train',
    args: (init) => ['bavaft', 'train', ...targetArgs(PSIC_TARGET), '--data', cifarTrainDir(runsDir), '--init', init('hyperprior-q1'), '--crop', '64', '--steps', '2000', '--checkpoint-every', '50'],
  }),
];

/** The section of the report an experiment's model feeds. */
export function sectionOfKind(kind) {
  return { plain: 'rd', psic: 'privacy', naive: 'ablation', bavaft: 'bavaft', ugicm: 'ugicm' }[kind] ?? null;
}

/** Whether an experiment has finished (its exported model's sidecar exists). */
export function isTrained(root, e) {
  return existsSync(resolve(root, e.outDir, 'model.json'));
}

/**
 * The CLI arguments of an experiment. `willTrain` names the experiments of
 * this run: a model it starts from comes from runs/experiments/ when trained
 * there (or about to be), else it is the zoo's model of that name.
 */
export function trainingArgs(root, e, willTrain = new Set()) {
  const init = (name) => {
    const path = `${dirname(e.outDir)}/${name}/model.safetensors`;
    return willTrain.has(name) || existsSync(resolve(root, path)) ? path : name;
  };
  return [...e.args(init), '--out', e.outDir, '--name', e.name, '--resume'];
}

/** The shell line that extracts CIFAR-10's train split for the recipes that train on it. */
export function cifarExtractArgs(runsDir) {
  return ['tar', '-xf', CIFAR_TAR, '-C', dirname(cifarTrainDir(runsDir)), 'train'];
}

/** How a report tells the reader to make a model it lacks. */
export function trainHint(e) {
  return `npm run experiments -- --only ${e.name}`;
}
