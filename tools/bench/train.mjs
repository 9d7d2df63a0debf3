#!/usr/bin/env node
/**
 * `npm run bench:train`: the project's training step against the same step
 * in PyTorch, on this machine, in one run.
 *
 * For each size (N=64/M=96 and N=128/M=192, batch 8 x 128^2) it runs the real
 * `trainStep` of @psic/train on a bmshj2018-hyperprior (tools/bench/train-step.mjs,
 * default backend: what `psic train` picks) and tools/bench/train_hyperprior.py
 * (the same architecture, loss, clipping and two Adam steps in Debian's
 * python3-torch), alternating child processes so both see the same machine
 * load, and prints JSON lines: one per runtime and one with
 * `ratio = pytorch_s / project_s` (>= 1 means the project is at least as fast).
 *
 *   npm run bench:train [-- --sizes 64x96,128x192 --steps 5 --warmup 2 --backend auto]
 *
 * PyTorch is skipped with a clear line when `/usr/bin/python3 -c "import torch"`
 * fails (set PYTHON to another interpreter). It runs with 2 threads and
 * OMP_WAIT_POLICY=PASSIVE, the settings @psic/backend-torch uses; the BLAS it
 * links (Debian's libblas.so.3 alternative: OpenBLAS when libopenblas0-pthread
 * is installed) is printed.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, realpathSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const here = dirname(fileURLToPath(import.meta.url));
const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '64x96,128x192' },
    steps: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '2' },
    backend: { type: 'string', default: 'auto' },
    batch: { type: 'string', default: '8' },
    crop: { type: 'string', default: '128' },
  },
});
const python = process.env.PYTHON ?? '/usr/bin/python3';

const probe = spawnSync(python, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8' });
const hasTorch = probe.status === 0;
if (!hasTorch) {
  console.log(JSON.stringify({ bench: 'train', runtime: 'pytorch', skipped: `PyTorch not importable by ${python} (apt-get install python3-torch libopenblas0-pthread, or set PYTHON)` }));
}

for (const size of values.sizes.split(',')) {
  const [N, M] = size.split('x').map(Number);
  const project = runProject(N, M);
  console.log(JSON.stringify(project));
  if (!hasTorch) continue;
  const pytorch = runPytorch(N, M);
  console.log(JSON.stringify(pytorch));
  if (project.median_s && pytorch.median_s) {
    console.log(JSON.stringify({
      bench: 'train', N, M, project_s: project.median_s, pytorch_s: pytorch.median_s,
      ratio: +(pytorch.median_s / project.median_s).toFixed(3), load_avg: +loadavg()[0].toFixed(2),
    }));
  }
}

function runProject(N, M) {
  const args = [join(here, 'train-step.mjs'), '--backend', values.backend, '--sizes', `${N}x${M}`, '--steps', values.steps,
    '--warmup', values.warmup, '--batch', values.batch, '--crop', values.crop];
  const child = spawnSync(process.execPath, args, { encoding: 'utf8', maxBuffer: 1 << 24 });
  return lastJson(child, { bench: 'train-step', runtime: 'project', N, M });
}

function runPytorch(N, M) {
  const args = [join(here, 'train_hyperprior.py'), '--N', N, '--M', M, '--steps', values.steps, '--warmup', values.warmup,
    '--batch', values.batch, '--size', values.crop, '--threads', 2].map(String);
  const env = { ...process.env, OMP_WAIT_POLICY: process.env.OMP_WAIT_POLICY ?? 'PASSIVE' };
  const child = spawnSync(python, args, { encoding: 'utf8', env });
  const line = lastJson(child, { bench: 'train-step', runtime: 'pytorch', N, M });
  return { ...line, blas: blasLibrary() ?? line.blas };
}

function lastJson(child, context) {
  const line = (child.stdout ?? '').trim().split('\n').filter((l) => l.startsWith('{')).pop();
  if (child.status !== 0 || !line) {
    return { ...context, error: ((child.stderr || child.stdout) ?? '').trim().split('\n').slice(-3).join(' | ') };
  }
  return { ...JSON.parse(line), runtime: context.runtime };
}

/** Which BLAS Debian's alternatives point libblas.so.3 at (PyTorch's CPU convolutions depend on it). */
function blasLibrary() {
  const path = '/usr/lib/x86_64-linux-gnu/libblas.so.3';
  if (!existsSync(path)) return undefined;
  const target = realpathSync(path);
  return target.includes('openblas') ? `OpenBLAS (${target})` : target;
}
