#!/usr/bin/env node
/**
 * Training-step throughput of a scale-hyperprior-shaped network
 * (train-step-net.mjs) on tfjs backends, with and without @psic/backend-torch,
 * and the same network in PyTorch for reference.
 *
 *   npm run build --workspace @psic/backend-torch   # or: cd packages/backend-torch && npx tsup
 *   (cd packages/backend-torch && npm run build:native)
 *   node tools/bench/train-step-torch.mjs [--configs wasm,wasm+torch,cpu+torch,pytorch]
 *        [--shapes 128x192,64x96] [--batch 8] [--size 128] [--steps 3] [--warmup 1] [--profile]
 *
 * Configurations: wasm (plain tfjs-wasm; Conv2DBackpropFilter, which wasm
 * lacks, computed from wasm StridedSlice + BatchMatMul kernels, one matmul
 * per filter tap), wasm-cpubridge (that kernel bridged to the cpu backend's
 * JS loops, as @psic/core does today: far slower, small shapes only),
 * wasm+torchconv (only the conv kernels in torch), wasm+torch (convs,
 * large element-wise ops and Sum in torch), cpu+torch, cpu (plain, very
 * slow), pytorch / pytorch-passive / pytorch-1t (python3-torch, same graph;
 * see runPython).
 * Each configuration × shape runs in its own child process, one at a time.
 * A step is forward + backward + Adam update. Output: one JSON line per run
 * with the median seconds per step and the 1-minute load average before and
 * after (the machine is shared). --profile adds per-kernel totals for one step.
 */
import { spawnSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const options = parseArguments(process.argv.slice(2));

if (options.worker) {
  const { runWorker } = await import('./train-step-torch-worker.mjs');
  const result = await runWorker(options);
  console.log(JSON.stringify(result));
} else {
  for (const [N, M] of options.shapes) {
    for (const config of options.configs) {
      const load = loadavg()[0];
      const child = config.startsWith('pytorch') ? runPython(config, N, M) : runNodeWorker(config, N, M);
      const line = child.stdout.trim().split('\n').filter((l) => l.startsWith('{')).pop();
      if (child.status !== 0 || !line) {
        console.log(JSON.stringify({ config, N, M, error: (child.stderr || child.stdout).trim().split('\n').slice(-3).join(' | ') }));
        continue;
      }
      console.log(JSON.stringify({ ...JSON.parse(line), load1Before: round(load), load1After: round(loadavg()[0]) }));
    }
  }
}

function runNodeWorker(config, N, M) {
  const args = [fileURLToPath(import.meta.url), '--worker', '--config', config, '--N', N, '--M', M,
    '--batch', options.batch, '--size', options.size, '--steps', options.steps, '--warmup', options.warmup];
  if (options.profile) args.push('--profile');
  return spawnSync(process.execPath, args.map(String), { encoding: 'utf8', maxBuffer: 1 << 24 });
}

/**
 * pytorch: 2 threads, libgomp's default wait policy (as in FACTS.md);
 * pytorch-passive: OMP_WAIT_POLICY=PASSIVE (what @psic/backend-torch sets);
 * pytorch-1t: one thread. On a loaded machine the default policy's
 * spinning barrier can make 2 threads several times slower than 1.
 */
function runPython(config, N, M) {
  const script = join(root, 'packages', 'backend-torch', 'bench', 'train_step_reference.py');
  const threads = config === 'pytorch-1t' ? 1 : process.env.PSIC_TORCH_THREADS ?? 2;
  const args = [script, '--N', N, '--M', M, '--batch', options.batch, '--size', options.size,
    '--steps', options.steps, '--warmup', options.warmup, '--threads', threads];
  const env = { ...process.env };
  if (config === 'pytorch-passive') env.OMP_WAIT_POLICY = 'PASSIVE';
  // Debian's python3-torch: the system interpreter, not a pyenv shim.
  const child = spawnSync(process.env.PYTHON ?? '/usr/bin/python3', args.map(String), { encoding: 'utf8', env });
  if (child.stdout) child.stdout = child.stdout.replace('"config": "pytorch"', `"config": "${config}"`);
  return child;
}

function round(v) {
  return Math.round(v * 100) / 100;
}

function parseArguments(argv) {
  const o = { configs: ['wasm+torchconv', 'wasm+torch', 'cpu+torch', 'pytorch', 'pytorch-passive', 'pytorch-1t'], shapes: [[128, 192], [64, 96]], batch: 8, size: 128,
    steps: 3, warmup: 1, profile: false, worker: false, config: undefined, N: 128, M: 192 };
  for (let i = 0; i < argv.length; i++) {
    const key = argv[i].replace(/^--/, '');
    if (key === 'profile' || key === 'worker') { o[key] = true; continue; }
    const value = argv[++i];
    if (value === undefined) throw new Error(`--${key} needs a value`);
    if (key === 'configs') o.configs = value.split(',');
    else if (key === 'shapes') o.shapes = value.split(',').map((s) => s.split('x').map(Number));
    else if (key === 'config') o.config = value;
    else if (key in o) o[key] = Number(value);
    else throw new Error(`unknown option --${key}`);
  }
  return o;
}
