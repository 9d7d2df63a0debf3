#!/usr/bin/env node
/**
 * Copy a training run's best weights into the model zoo with a sidecar that
 * records how they were made (architecture, config, lambda, data, steps,
 * validation figures, fingerprint).
 *
 *   node tools/zoo/ship-model.mjs --run runs/hyperprior-q1 --name hyperprior-q1 [--weights best|model]
 *        [--prior-steps N --init-note TEXT]   (a run started with --init from another run's weights)
 */
import { copyFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fingerprintHex, fingerprintWeights, writeSidecar } from '@psic/core';

const { values } = parseArgs({ options: { run: { type: 'string' }, name: { type: 'string' }, weights: { type: 'string', default: 'best' }, 'prior-steps': { type: 'string', default: '0' }, 'init-note': { type: 'string' } } });
if (!values.run || !values.name) {
  console.error('usage: ship-model.mjs --run DIR --name NAME [--weights best|model]');
  process.exit(2);
}
const weightsFile = join(values.run, `${values.weights}.safetensors`);
const sidecar = JSON.parse(readFileSync(join(values.run, `${values.weights}.json`), 'utf8'));
const log = readFileSync(join(values.run, 'train.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
const start = log.filter((r) => r.type === 'start').pop();
const { architecture, config, init } = start.meta;
const steps = Number(values['prior-steps']) + (sidecar.step ?? sidecar.steps);
const out = join('packages/zoo/models', `${values.name}.safetensors`);
copyFileSync(weightsFile, out);
const fingerprint = fingerprintHex(fingerprintWeights(readFileSync(out)));
await writeSidecar(out.replace(/\.safetensors$/, '.json'), {
  name: values.name,
  architecture,
  config,
  lambda: start.options.lambda,
  data: 'imagenet-samples (../shared/data/imagenet-samples), random 128x128 crops with flips',
  steps,
  batch: start.options.batchSize,
  // every (re)start of the run, in order: the step it began at and its learning rate
  schedule: log.filter((r) => r.type === 'start').map((r) => ({ fromStep: r.step, learningRate: r.options.learningRate, clipNorm: r.options.clipNorm ?? null })),
  initialisedFrom: values['init-note'] ?? init ?? (start.meta.initMatching ? `warm start: the tensors of ${start.meta.initMatching} whose names and shapes match (the rest random)` : null),
  validation: { ...sidecar.validation, note: 'estimated rate on centre 256x256 crops of the first 4 Kodak images' },
  trainedWith: start.meta.backend,
  weights: `${values.name}.safetensors`,
  fingerprint,
});
console.log(JSON.stringify({ shipped: out, steps, fingerprint, validation: sidecar.validation }));
