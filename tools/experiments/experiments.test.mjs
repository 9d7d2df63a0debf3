// Tests of the runner's plan logic on made-up sidecars (no model is loaded, no CLI runs):
//   npx vitest run --root tools/experiments
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { evaluationPlan, samePoint, selectSteps } from './eval-plan.mjs';
import { modelKind, modelRecord, plainCodecOf, rdOrder } from './models.mjs';
import { paperRows } from './paper.mjs';
import { renderReport } from './report.mjs';
import { planExperiments, trainingArgs } from './training-plan.mjs';
// the report helpers from their source (what report-lib.mjs loads when @psic/eval is built without them)
import * as lib from '../../packages/eval/src/report/index.ts';

const root = '/repo';
const psicAdapter = { modes: [{ name: 'protected', default: true }, { name: 'full', keyed: true }] };
const shipped = (sidecar) => modelRecord(root, sidecar, join(root, 'packages/zoo/models', `${sidecar.name}.safetensors`), 'shipped');
const models = [
  shipped({ name: 'channel-q1', architecture: 'minnen2020-channel', config: {}, lambda: 0.0018 }),
  shipped({ name: 'hyperprior-q2', architecture: 'bmshj2018-hyperprior', config: {}, lambda: 0.005 }),
  shipped({ name: 'hyperprior-q1', architecture: 'bmshj2018-hyperprior', config: {}, lambda: 0.0018 }),
  shipped({ name: 'psic-q1', architecture: 'bmshj2018-hyperprior', config: {}, lambda: 0.0018, recipe: 'psic', target: 'inhouse-cifar', adapter: psicAdapter, initialisedFrom: { model: 'hyperprior-q1' } }),
  shipped({ name: 'naive-q1', architecture: 'bmshj2018-hyperprior', config: {}, lambda: 0.0018, recipe: 'naive', target: 'inhouse-cifar', adapter: psicAdapter, initialisedFrom: { model: 'hyperprior-q1' } }),
  shipped({ name: 'bavaft-q1', architecture: 'bmshj2018-hyperprior', config: {}, lambda: 0.0018, baseline: 'bavaft', trigger: 'bavaft-q1.trigger.safetensors', target: 'inhouse-cifar', initialisedFrom: { model: 'hyperprior-q1' } }),
];
const experiments = planExperiments();
const where = { budget: 'full', runsDir: 'runs/experiments', demoKey: join(root, 'packages/zoo/keys/demo.key') };

describe('model kinds from sidecars', () => {
  it('tells plain codecs, recipes, BAvAFT codecs and trigger networks apart', () => {
    expect(modelKind({ architecture: 'bmshj2018-hyperprior' })).toBe('plain');
    expect(modelKind({ adapter: psicAdapter, recipe: 'naive' })).toBe('naive');
    expect(modelKind({ adapter: psicAdapter })).toBe('psic');
    expect(modelKind({ adapter: { modes: [{ name: 'human' }, { name: 'machine' }] } })).toBe('ugicm');
    expect(modelKind({ baseline: 'bavaft' })).toBe('bavaft');
    expect(modelKind({ architecture: 'bavaft-trigger' })).toBe('trigger');
  });

  it('puts the hyperprior first for the BD-rate anchor and finds a plain codec by name', () => {
    expect(rdOrder(models.filter((m) => m.kind === 'plain')).map((m) => m.name)).toEqual(['hyperprior-q1', 'hyperprior-q2', 'channel-q1']);
    const psic = models.find((m) => m.name === 'psic-q1');
    expect(plainCodecOf(psic, models)).toBe('hyperprior-q1');
    expect(plainCodecOf(psic, models.filter((m) => m.name !== 'hyperprior-q1'))).toBeNull();
    expect(samePoint(psic, models.find((m) => m.name === 'naive-q1'))).toBe(true);
    expect(samePoint(psic, models.find((m) => m.name === 'hyperprior-q2'))).toBe(false);
  });
});

describe('evaluation plan', () => {
  const plan = evaluationPlan(root, models, experiments, where);
  const ids = plan.steps.map((s) => s.id);

  it('has one step per section and model, with the plain codec and the budget', () => {
    expect(ids).toEqual(['rd-kodak', 'privacy-cifar-psic-q1', 'privacy-celeba-psic-q1', 'privacy-cifar-naive-q1', 'bavaft-cifar-bavaft-q1']);
    const rd = plan.steps[0];
    expect(rd.args.slice(rd.args.indexOf('-m'), rd.args.indexOf('-m') + 2)).toEqual(['-m', 'hyperprior-q1,hyperprior-q2,channel-q1']);
    expect(rd.anchor).toBe('bmshj2018-hyperprior');
    const cifar = plan.steps[1].args;
    expect(cifar).toEqual(expect.arrayContaining(['--plain', 'hyperprior-q1', '--per-class', '20', '--key-file']));
    expect(cifar[cifar.indexOf('--key-file') + 1]).toMatch(/keys\/demo\.key$/);
    expect(plan.steps.find((s) => s.id === 'bavaft-cifar-bavaft-q1').args).toEqual(expect.arrayContaining(['--trigger', 'packages/zoo/models/bavaft-q1.trigger.safetensors']));
  });

  it('lists the planned experiments without a model under their section', () => {
    const missing = Object.fromEntries(plan.missing.map((m) => [m.name, m.section]));
    expect(missing['ugicm-q1']).toBe('ugicm');
    expect(missing['checkerboard-q1']).toBe('rd');
    expect(missing['psic-q1']).toBeUndefined();
  });

  it('--only keeps the steps a comparison reads', () => {
    expect(selectSteps(plan.steps, ['ablation']).map((s) => s.id)).toEqual(['privacy-cifar-psic-q1', 'privacy-cifar-naive-q1']);
    expect(selectSteps(plan.steps, ['hyperprior-q2']).map((s) => s.id)).toEqual(['rd-kodak']);
  });

  it('starts a training from the zoo unless the plan trains the model it needs', () => {
    const naive = experiments.find((e) => e.name === 'naive-q1');
    const init = (args) => args[args.indexOf('--init') + 1];
    expect(init(trainingArgs(root, naive))).toBe('hyperprior-q1');
    expect(init(trainingArgs(root, naive, new Set(['hyperprior-q1'])))).toBe('runs/experiments/hyperprior-q1/model.safetensors');
    expect(trainingArgs(root, naive).slice(-5)).toEqual(['--out', 'runs/experiments/naive-q1', '--name', 'naive-q1', '--resume']);
  });
});

/** An eval-privacy JSON with the given protected-vs-full ASR per task. */
function privacyJson(model, rates) {
  const rate = (r) => ({ rate: r, fooled: Math.round(r * 20), eligible: 20 });
  return {
    model,
    plain: 'hyperprior-q1',
    target: 'inhouse-cifar',
    layout: 'cifar-tar',
    images: 200,
    rows: [{ variant: 'plain', images: 200, bpp: 0.3, psnr: 27, top1: 0.5 }, { variant: 'full', images: 200, bpp: 0.28, psnr: 24, top1: 0.4 }, { variant: 'protected', images: 200, bpp: 0.28, psnr: 20, top1: 0.05 }],
    asr: [{ variant: 'protected', reference: 'full', top1: rate(rates[0]), i2t: rate(rates[1]), t2i: rate(rates[2]) }],
    notes: [],
  };
}

describe('paper vs measured', () => {
  const byId = new Map([
    ['privacy-cifar-psic-q1', privacyJson('psic-q1', [0.9, 0.85, 1])],
    ['privacy-cifar-naive-q1', privacyJson('naive-q1', [0.8, 0.85, 0.9])],
    ['bavaft-cifar-bavaft-q1', { summary: { referenceCorrect: 4 }, images: [0, 1, 2, 3].map((i) => ({ label: 1, clean: { prediction: 1 }, poisoned: { prediction: i < 3 ? 1 : 2 } })) }],
  ]);
  const rows = Object.fromEntries(paperRows(byId, models, lib).map((r) => [r.figure, r]));

  it('takes each figure from the JSON, with its counts and the direction against the paper', () => {
    expect(rows['ASR, zero-shot classification (top-1)'].measured).toBe('psic-q1: 90.0% (18/20)');
    expect(rows['ASR, zero-shot classification (top-1)'].why).toMatch(/^Higher than the paper/);
    expect(rows['ASR, zero-shot classification (top-1)'].why).toContain('40.0% vs 50.0% top-1');
    expect(rows['ASR, face attributes'].measured).toMatch(/not measured/);
  });

  it('computes the UAEO gain per task and the BAvAFT gap at the same rate point', () => {
    expect(rows['UAEO over the naive attack (ASR)'].measured).toBe('psic-q1 vs naive-q1: top-1 +10.0, R@1 i2t 0.0, R@1 t2i +10.0 points (mean +6.7)');
    // BAvAFT fools 1 of the 4 images its clean decode gets right: 25%, PSIC 90%
    expect(rows['BAvAFT baseline vs PSIC (ASR)'].measured).toBe('bavaft-q1: 25.0% (1/4) vs psic-q1: 90.0% (18/20), BAvAFT 65.0 points lower');
  });

  it('renders a report with the comparison, every section and the not-shipped lines', () => {
    const results = [...byId].map(([id, json]) => ({ step: evaluationPlan(root, models, experiments, where).steps.find((s) => s.id === id), json, file: `docs/results/${id}.json`, wallSeconds: 1, cpuSeconds: 1, error: null }));
    const meta = { date: 'today', machine: { cpu: 'cpu', cores: 2, memGiB: 8, node: 'v20', platform: 'linux' }, evalOnly: true, quick: false, only: null, totalWall: 3, totalCpu: 3, loadStart: 0, loadEnd: 0 };
    const missing = evaluationPlan(root, models, experiments, where).missing;
    const { markdown, charts } = renderReport({ lib, root, meta, results, models, missing, experiments, resultsLink: 'results' });
    expect(markdown).toContain('| ASR, text-to-image retrieval (R@1) | 80.8% | psic-q1: 100.0% (20/20) |');
    for (const h of ['## 1. Rate-distortion', '## 2. PSIC', '## 3. Ablation', '## 4. Baseline: BAvAFT', '## 5. UG-ICM', '## Wall time per step']) expect(markdown).toContain(h);
    expect(markdown).toContain('**ugicm-q1** (ugicm) not shipped yet: train it with `npm run experiments -- --only ugicm-q1`');
    expect(markdown).toContain('[results/privacy-cifar-psic-q1.json](results/privacy-cifar-psic-q1.json)');
    expect(charts.map((c) => c.file)).toEqual(['privacy-cifar.svg']); // no rd JSON here, so no RD plot
  });
});
