/**
 * The evaluation plan: from the models at hand (their sidecars), the CLI
 * commands that measure each section of the report, and, for every
 * experiment of the training plan whose model is missing, the line telling
 * how to make it. Image counts come from BUDGET: chosen so that a complete
 * --eval-only run fits 30 minutes on an idle 2-core machine (README.md,
 * "Time budget", gives the measured cost of each step).
 */
import { relative } from 'node:path';
import { plainCodecOf, rdOrder, targetOf, triggerOf } from './models.mjs';
import { ownerKey, PSIC_TARGET, sectionOfKind, targetArgs } from './training-plan.mjs';

const DATA = {
  kodak: '../shared/data/photos',
  cifar: '../shared/data/cifar10-jpeg.tar',
  celeba: '../shared/data/celeba-sample',
  imagenet: '../shared/data/imagenet-samples',
};

/** Images per step. CIFAR-10 counts are per class (10 classes); the others are totals per data set. */
export const BUDGET = {
  full: { kodak: null, cifarPerClass: 20, celeba: 100, machine: 40 },
  quick: { kodak: 2, cifarPerClass: 1, celeba: 2, machine: 2 },
};

/** The key that unlocks a model's full mode: the zoo's public demo key for shipped models, the plan's own key for trained ones. */
function keyFor(root, model, { demoKey, runsDir }) {
  return model.source === 'shipped' ? relative(root, demoKey) : ownerKey(runsDir);
}

/** The target a PSIC-style model attacks: its sidecar's (with the weights it names), else the plan's, else the step-1,550 in-house model. */
function attackedTarget(root, model, experiments) {
  const own = targetOf(root, model);
  if (own.name && own.options) return own;
  const planned = experiments.find((e) => e.name === model.name)?.target;
  if (planned && (!own.name || own.name === planned.name)) return planned;
  return own.name && own.name !== PSIC_TARGET.name ? own : PSIC_TARGET;
}

/** Same rate point and architecture: the PSIC model an ablation or baseline model is compared with. */
export function samePoint(a, b) {
  return a.lambda !== null && a.lambda === b.lambda && (a.plainName ?? a.architecture) === (b.plainName ?? b.architecture);
}

/**
 * Steps: { id, section, title, models, args (CLI arguments without --json),
 * prepare? ('cifar-test-folders' with perClass), images (what it measures),
 * needs? (ids of the steps its comparison reads: the PSIC model at the same
 * rate point) }.
 * Missing: { section, name, kind } per planned experiment without a model.
 * `where`: { budget ('full' | 'quick'), runsDir (the plan's folder), demoKey
 * (path of the zoo's demo key: @psic/zoo's demoKeyPath()) }.
 */
export function evaluationPlan(root, models, experiments, where) {
  const b = BUDGET[where.budget];
  const steps = [];
  const byKind = (k) => models.filter((m) => m.kind === k);

  const plainModels = rdOrder(byKind('plain'));
  if (plainModels.length > 0) {
    steps.push({
      id: 'rd-kodak',
      section: 'rd',
      title: 'Rate-distortion on Kodak',
      models: plainModels.map((m) => m.name),
      anchor: plainModels[0].architecture,
      args: ['eval', '--data', DATA.kodak, '-m', plainModels.map((m) => m.modelArg).join(','), '--compare', 'jpeg,webp', ...(b.kodak ? ['--limit', String(b.kodak)] : [])],
      images: b.kodak ? `first ${b.kodak} Kodak images` : '24 Kodak images',
    });
  }

  const privacyArgs = (m, data, target, selection) => {
    const plain = plainCodecOf(m, models);
    return ['eval-privacy', '--data', data, ...targetArgs(target), '--model', m.modelArg, '--key-file', keyFor(root, m, where), ...(plain ? ['--plain', plain] : []), ...selection];
  };
  const cifarSelection = ['--per-class', String(b.cifarPerClass)];
  for (const m of [...byKind('psic'), ...byKind('naive')]) {
    const target = attackedTarget(root, m, experiments);
    const partner = m.kind === 'naive' ? byKind('psic').find((p) => samePoint(p, m)) : null;
    steps.push({
      id: `privacy-cifar-${m.name}`,
      section: m.kind === 'psic' ? 'privacy' : 'ablation',
      title: `${m.name} on CIFAR-10`,
      models: [m.name],
      needs: partner ? [`privacy-cifar-${partner.name}`] : [],
      args: privacyArgs(m, DATA.cifar, target, cifarSelection),
      images: `${10 * b.cifarPerClass} CIFAR-10 test images (${b.cifarPerClass} per class)`,
    });
    if (m.kind !== 'psic') continue;
    steps.push({
      id: `privacy-celeba-${m.name}`,
      section: 'privacy',
      title: `${m.name} on CelebA (face attributes)`,
      models: [m.name],
      args: privacyArgs(m, DATA.celeba, { name: 'face-api', options: null }, ['--limit', String(b.celeba)]),
      images: `${b.celeba} CelebA faces`,
    });
  }

  for (const m of byKind('bavaft')) {
    const partner = byKind('psic').find((p) => samePoint(p, m));
    const target = partner ? attackedTarget(root, partner, experiments) : attackedTarget(root, m, experiments);
    steps.push({
      id: `bavaft-cifar-${m.name}`,
      section: 'bavaft',
      title: `${m.name} (BAvAFT) on CIFAR-10`,
      models: [m.name],
      needs: partner ? [`privacy-cifar-${partner.name}`] : [],
      args: ['bavaft', 'eval', '--model', m.weightsPath, '--trigger', triggerOf(m), ...targetArgs(target), '--data', 'CIFAR_TEST_DIR', '--templates', 'TEMPLATES_FILE'],
      prepare: { kind: 'cifar-test-folders', archive: DATA.cifar, perClass: b.cifarPerClass },
      images: `${10 * b.cifarPerClass} CIFAR-10 test images (${b.cifarPerClass} per class, the ones eval-privacy takes), 64x64 PNG`,
    });
  }

  for (const m of byKind('ugicm')) {
    const plain = plainCodecOf(m, models);
    const own = targetOf(root, m);
    steps.push({
      id: `ugicm-${m.name}`,
      section: 'ugicm',
      title: `${m.name} (UG-ICM) on ImageNet samples and CelebA`,
      models: [m.name],
      args: ['eval-machine', '--data', `${DATA.imagenet},${DATA.celeba}`, '--model', m.modelArg, ...(plain ? ['--plain', plain] : []), ...(own.options ? ['--target-options', JSON.stringify(own.options)] : []), '--limit', String(b.machine)],
      images: `${b.machine} ImageNet samples + ${b.machine} CelebA faces`,
    });
  }

  const have = new Set(models.map((m) => m.name));
  const missing = experiments
    .filter((e) => !have.has(e.name))
    .map((e) => ({ section: sectionOfKind(e.kind), name: e.name, kind: e.kind }));
  return { steps, missing };
}

/** The steps `only` selects (by section, step id or model name), with the steps their comparisons read, in plan order. */
export function selectSteps(steps, only) {
  if (!only) return steps;
  const chosen = new Set(steps.filter((s) => only.includes(s.section) || only.includes(s.id) || s.models.some((m) => only.includes(m))).map((s) => s.id));
  for (const s of steps) if (chosen.has(s.id)) for (const n of s.needs ?? []) chosen.add(n);
  return steps.filter((s) => chosen.has(s.id));
}
