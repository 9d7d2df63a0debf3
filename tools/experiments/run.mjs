#!/usr/bin/env node
/**
 * `npm run experiments`: the papers' experiments, reproduced with this
 * project's CLI (issue 12). Trains the plan's models (unless --eval-only),
 * runs every evaluation as a child process with --json, saves each raw JSON
 * under docs/results/, and renders docs/results.md with its SVG plots.
 * `--help` lists the options; tools/experiments/README.md explains the plan
 * and the time budget.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, platform, arch, totalmem } from 'node:os';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PsicError } from '@psic/entropy';
import { requireBuiltCli, runCliJson, runCliPassthrough, shellLine } from './child.mjs';
import { writeCifarTestFolders } from './cifar-folders.mjs';
import { evaluationPlan, selectSteps } from './eval-plan.mjs';
import { mergeModels, shippedModels, trainedModels } from './models.mjs';
import { HELP, parseOptions, SECTIONS } from './options.mjs';
import { createProgress } from './progress.mjs';
import { renderReport } from './report.mjs';
import { cifarExtractArgs, cifarTrainDir, isTrained, planExperiments, sectionOfKind, trainingArgs } from './training-plan.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

// `... --dry-run | head`: a closed pipe ends the listing quietly
process.stdout.on('error', (err) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

async function main(argv) {
  const opts = parseOptions(argv);
  if (opts.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const progress = createProgress(opts.json);
  const say = (line, event) => (opts.json ? process.stdout.write(`${JSON.stringify(event)}\n`) : process.stdout.write(`${line}\n`));
  const experiments = planExperiments(opts.runs);
  const shipped = await shippedModels(root);
  checkOnly(opts.only, shipped, experiments);

  const isSelectedExperiment = (e) => !opts.only || opts.only.includes(e.name) || opts.only.includes(sectionOfKind(e.kind));
  if (!opts.evalOnly) {
    if (!opts.dryRun) requireBuiltCli(root);
    await train(experiments.filter(isSelectedExperiment), { ...opts, progress, say });
  }

  const models = opts.evalOnly ? shipped : mergeModels(shipped, trainedModels(root, experiments));
  const { demoKeyPath } = await import('@psic/zoo');
  const plan = evaluationPlan(root, models, experiments, { budget: opts.quick ? 'quick' : 'full', runsDir: opts.runs, demoKey: demoKeyPath() });
  if (opts.only) plan.missing = plan.missing.filter((m) => opts.only.includes(m.name) || opts.only.includes(m.section));
  const steps = selectSteps(plan.steps, opts.only);
  if (opts.dryRun) {
    if (!opts.evalOnly) say('# evaluation (with the models present now; models this plan trains replace the zoo\'s of the same name)', { event: 'note', phase: 'evaluate' });
    for (const s of steps) say(`${shellLine(['psic', ...s.args, '--json'])}   # ${s.id}: ${s.images}`, { event: 'command', phase: 'evaluate', id: s.id, command: shellLine(['psic', ...s.args, '--json']), images: s.images });
    for (const m of plan.missing) say(`# not shipped yet: ${m.name} (${m.kind})`, { event: 'missing', name: m.name, kind: m.kind, section: m.section });
    return 0;
  }
  requireBuiltCli(root);
  return evaluate(steps, plan, models, experiments, opts, progress);
}

/** Only names the runner knows: experiments, sections, step ids and model names. */
function checkOnly(only, shipped, experiments) {
  if (!only) return;
  const known = new Set([...SECTIONS, ...experiments.map((e) => e.name), ...shipped.map((m) => m.name), 'rd-kodak']);
  const unknown = only.filter((n) => !known.has(n) && !/^(privacy-(cifar|celeba)|bavaft-cifar|ugicm)-/.test(n));
  if (unknown.length) throw new PsicError('USAGE', `--only: unknown name(s) ${unknown.join(', ')}; use sections (${SECTIONS.join(', ')}), experiments (${experiments.map((e) => e.name).join(', ')}) or shipped model names`);
}

/** Train the selected experiments that have not finished, in plan order (each after what it starts from). */
async function train(selected, { dryRun, runs, progress, say }) {
  const pending = selected.filter((e) => !isTrained(root, e));
  for (const e of selected.filter((x) => isTrained(root, x))) {
    if (dryRun) say(`# done: ${e.outDir}/model.json exists (${e.name})`, { event: 'done', phase: 'train', id: e.name });
    else progress.emit({ event: 'skip', id: `train ${e.name}`, reason: `${e.outDir}/model.json exists` });
  }
  const willTrain = new Set(pending.map((e) => e.name));
  const needsCifar = pending.some((e) => e.data === 'cifar-train') && !existsSync(resolve(root, cifarTrainDir(runs)));
  const commands = [
    ...(needsCifar ? [{ id: 'cifar10-train', words: cifarExtractArgs(runs), run: () => extractCifar(runs) }] : []),
    ...pending.map((e) => {
      const args = trainingArgs(root, e, willTrain);
      return { id: `train ${e.name}`, words: ['psic', ...args], run: () => runCliPassthrough(root, args) };
    }),
  ];
  for (const [i, c] of commands.entries()) {
    if (dryRun) {
      say(shellLine(c.words), { event: 'command', phase: 'train', id: c.id, command: shellLine(c.words) });
      continue;
    }
    progress.emit({ event: 'start', index: i + 1, total: commands.length, id: c.id, command: shellLine(c.words) });
    const t = await c.run();
    progress.emit({ event: 'done', index: i + 1, total: commands.length, id: c.id, wallSeconds: t.wallSeconds, cpuSeconds: t.cpuSeconds });
  }
}

async function extractCifar(runs) {
  const started = Date.now();
  const [cmd, ...args] = cifarExtractArgs(runs);
  await mkdir(resolve(root, dirname(cifarTrainDir(runs))), { recursive: true });
  const r = spawnSync(cmd, args, { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) throw new PsicError('STEP_FAILED', `${shellLine(cifarExtractArgs(runs))} failed (${r.error?.message ?? `exit ${r.status}`})`);
  return { wallSeconds: (Date.now() - started) / 1000, cpuSeconds: null };
}

async function evaluate(steps, plan, models, experiments, opts, progress) {
  const reportPath = resolve(root, opts.out);
  const resultsDir = join(dirname(reportPath), 'results');
  const resultsLink = relative(dirname(reportPath), resultsDir) || '.';
  await mkdir(resultsDir, { recursive: true });
  // a complete run regenerates every file: nothing from an earlier run stays beside the new ones
  if (!opts.only) for (const f of await readdir(resultsDir)) if (/\.(json|svg)$/.test(f)) await rm(join(resultsDir, f));

  const loadStart = loadavg()[0];
  const started = Date.now();
  const results = [];
  for (const [i, step] of steps.entries()) {
    const command = shellLine(['psic', ...step.args, '--json']);
    progress.emit({ event: 'start', index: i + 1, total: steps.length, id: step.id, command });
    const file = `${relative(root, resultsDir)}/${step.id}.json`;
    const result = { step, file, json: null, wallSeconds: 0, cpuSeconds: null, error: null };
    const stepStarted = Date.now();
    try {
      const r = await runStep(step);
      Object.assign(result, r);
      await writeAtomic(join(resultsDir, `${step.id}.json`), `${JSON.stringify(r.json, null, 1)}\n`);
      progress.emit({ event: 'done', index: i + 1, total: steps.length, id: step.id, wallSeconds: r.wallSeconds, cpuSeconds: r.cpuSeconds, file });
    } catch (err) {
      if (!(err instanceof PsicError)) throw err;
      result.error = err.message;
      result.wallSeconds = (Date.now() - stepStarted) / 1000;
      progress.emit({ event: 'failed', index: i + 1, total: steps.length, id: step.id, wallSeconds: result.wallSeconds, error: err.message });
    }
    results.push(result);
  }

  const lib = await import('./report-lib.mjs');
  const totalCpu = results.every((r) => r.cpuSeconds !== null || r.error) ? results.reduce((s, r) => s + (r.cpuSeconds ?? 0), 0) : null;
  const meta = {
    date: `${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC`,
    machine: { cpu: cpus()[0]?.model?.trim() ?? 'unknown CPU', cores: cpus().length, memGiB: Math.round(totalmem() / 2 ** 30), node: process.version, platform: `${platform()} ${arch()}` },
    evalOnly: opts.evalOnly,
    quick: opts.quick,
    only: opts.only ?? null,
    totalWall: (Date.now() - started) / 1000,
    totalCpu,
    loadStart,
    loadEnd: loadavg()[0],
  };
  const { markdown, charts } = renderReport({ lib, root, meta, results, models, missing: plan.missing, experiments, resultsLink });
  for (const c of charts) await writeAtomic(join(resultsDir, c.file), c.svg);
  await writeAtomic(
    join(resultsDir, 'run.json'),
    `${JSON.stringify({ meta, steps: results.map((r) => ({ id: r.step.id, command: shellLine(['psic', ...r.step.args, '--json']), images: r.step.images, file: r.file, wallSeconds: r.wallSeconds, cpuSeconds: r.cpuSeconds, error: r.error })), missing: plan.missing }, null, 1)}\n`,
  );
  await writeAtomic(reportPath, markdown);
  meta.totalWall = (Date.now() - started) / 1000;
  progress.emit({ event: 'total', steps: results.length, wallSeconds: meta.totalWall, cpuSeconds: totalCpu, report: relative(root, reportPath), failed: results.filter((r) => r.error).map((r) => r.step.id) });
  return results.some((r) => r.error) ? 1 : 0;
}

/** One evaluation: its inputs prepared when it needs them (BAvAFT's image folders), the CLI run with --json. */
async function runStep(step) {
  if (step.prepare?.kind !== 'cifar-test-folders') return runCliJson(root, step.args);
  const folders = await writeCifarTestFolders(resolve(root, step.prepare.archive), step.prepare.perClass);
  try {
    const args = step.args.map((a) => (a === 'CIFAR_TEST_DIR' ? folders.images : a === 'TEMPLATES_FILE' ? folders.templates : a));
    return await runCliJson(root, args);
  } finally {
    await folders.cleanup();
  }
}

/** Write to a temporary file, then rename: a reader never sees half a report. */
async function writeAtomic(path, text) {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  await writeFile(tmp, text);
  await rename(tmp, path);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    if (err instanceof PsicError) {
      process.stderr.write(`experiments: ${err.code}: ${err.message}\n`);
      process.exitCode = err.code === 'USAGE' ? 2 : 1;
    } else {
      process.stderr.write(`experiments: internal error: ${err?.stack ?? String(err)}\n`);
      process.exitCode = 70;
    }
  },
);
