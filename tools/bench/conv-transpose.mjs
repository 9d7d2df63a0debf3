#!/usr/bin/env node
/**
 * Conv2DBackpropInput (tf.conv2dTranspose / the input gradient of tf.conv2d):
 * the backend's original kernel vs packages/core/src/kernels/conv2d-backprop-input.ts.
 *
 *   node tools/bench/conv-transpose.mjs [--backend wasm|cpu] [--runs 5] [--budget 20]
 *                                       [--only codec|decode|grad] [--strategies]
 *
 * The kernel source is bundled on the fly with esbuild (tfjs kept external),
 * so no build of @psic/core is needed. Cases: the training codec's synthesis
 * layers (scale hyperprior N=64 / M=96, batch 8, 128² crops; k5 s2 pad 2,
 * output padding 1), the input gradients of its analysis convs, and a
 * 768x512 single-image synthesis chain with N=128 / M=192 (each layer and
 * the whole chain). Every case: two warm-ups (one if slow), then up to --runs timed runs
 * (fewer if one run exceeds --budget seconds); the median wall ms and the
 * median CPU ms (process.cpuUsage, user + system) are reported, with the load
 * average, since the machine is shared. Each line also gives the largest
 * difference between the two kernels relative to the largest |value|.
 * --strategies also times the 'stacked' and 'phases' decompositions directly.
 * Output: one JSON line per case on stdout.
 */
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const require = createRequire(join(root, 'packages', 'core', 'package.json'));
const opts = parseArguments(process.argv.slice(2));

const tf = await import(pathToFileURL(require.resolve('@tensorflow/tfjs-core')).href);
await import(pathToFileURL(require.resolve('@tensorflow/tfjs-backend-cpu')).href);
if (opts.backend === 'wasm') {
  const wasm = await import(pathToFileURL(require.resolve('@tensorflow/tfjs-backend-wasm')).href);
  wasm.setWasmPaths(`${dirname(require.resolve('@tensorflow/tfjs-backend-wasm'))}/`);
}
const K = await loadKernel();
await tf.setBackend(opts.backend);
await tf.ready();
const info = { backend: tf.getBackend(), node: process.version, load_avg: loadavg().map((v) => +v.toFixed(2)) };
if (opts.backend === 'wasm') {
  info.simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
  info.threads = await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT');
}
console.log(JSON.stringify({ bench: 'conv-transpose', ...info }));

/** A transposed conv (NHWC in, filter [k, k, out, in]) with PyTorch padding k//2 and output padding s-1. */
function tconv(n, h, w, cin, cout, k = 5, s = 2) {
  return { n, h, w, cin, cout, k, s, pad: Math.floor(k / 2), outShape: [n, h * s, w * s, cout] };
}

const codec = [
  ['synthesis 8²x96 -> 16²x64', tconv(8, 8, 8, 96, 64)],
  ['synthesis 16² -> 32² x64', tconv(8, 16, 16, 64, 64)],
  ['synthesis 32² -> 64² x64', tconv(8, 32, 32, 64, 64)],
  ['synthesis 64²x64 -> 128²x3', tconv(8, 64, 64, 64, 3)],
];
// conv2d(x [n, H, W, cin], f [5, 5, cin, cout], 2, pad 2): its input gradient is a transposed conv of dy [n, H/2, W/2, cout]
const grads = [
  ['dx of analysis conv 128²x64 <- 64²x64', tconv(8, 64, 64, 64, 64)],
  ['dx of analysis conv 64²x64 <- 32²x64', tconv(8, 32, 32, 64, 64)],
  ['dx of analysis conv 32²x64 <- 16²x96', tconv(8, 16, 16, 96, 64)],
];
const decode = [
  ['decode 48x32x192 -> 96x64x128', tconv(1, 32, 48, 192, 128)],
  ['decode 96x64 -> 192x128 x128', tconv(1, 64, 96, 128, 128)],
  ['decode 192x128 -> 384x256 x128', tconv(1, 128, 192, 128, 128)],
  ['decode 384x256x128 -> 768x512x3', tconv(1, 256, 384, 128, 3)],
];

const groups = { codec, grad: grads, decode };
for (const [name, cases] of Object.entries(groups)) {
  if (opts.only && opts.only !== name) continue;
  for (const [label, c] of cases) benchLayer(label, c);
  if (name === 'decode') benchChain('decode chain 768x512 (4 layers)', decode.map(([, c]) => c));
}

function makeInputs(c) {
  const x = tf.randomNormal([c.n, c.h, c.w, c.cin], 0, 1, 'float32', 1);
  const f = tf.randomNormal([c.k, c.k, c.cout, c.cin], 0, 1 / Math.sqrt(c.cin * c.k * c.k), 'float32', 2);
  return { x, f };
}

function run(c, x, f) {
  return tf.conv2dTranspose(x, f, c.outShape, c.s, c.pad);
}

function benchLayer(label, c) {
  const { x, f } = makeInputs(c);
  const line = { case: label, in: [c.n, c.h, c.w, c.cin], out: c.outShape, k: c.k, s: c.s };
  K.unregisterFastConv2dBackpropInput([opts.backend]);
  const orig = time(() => run(c, x, f));
  K.registerFastConv2dBackpropInput([opts.backend]);
  const fast = time(() => run(c, x, f));
  line.original = orig.stats;
  line.fast = fast.stats;
  line.speedup_wall = +(orig.stats.wall_ms / fast.stats.wall_ms).toFixed(2);
  line.speedup_cpu = +(orig.stats.cpu_ms / fast.stats.cpu_ms).toFixed(2);
  line.max_rel_diff = relDiff(orig.values, fast.values);
  if (opts.strategies) {
    const attrs = { inputShape: c.outShape, strides: c.s, pad: c.pad, dataFormat: 'NHWC' };
    for (const strategy of ['stacked', 'phases']) {
      const r = time(() => K.conv2dBackpropInputViaConv(x, f, attrs, strategy));
      line[strategy] = r.stats;
    }
  }
  line.load_avg = loadavg().map((v) => +v.toFixed(2));
  tf.dispose([x, f]);
  console.log(JSON.stringify(line));
}

function benchChain(label, cs) {
  const inputs = cs.map(makeInputs);
  const chain = () => {
    let y = inputs[0].x;
    cs.forEach((c, i) => {
      const next = run(c, y, inputs[i].f);
      if (i > 0) y.dispose();
      // the next layer's input has its channel count; keep values bounded
      y = i + 1 < cs.length ? tf.tidy(() => tf.tanh(next)) : next;
      if (i + 1 < cs.length) next.dispose();
    });
    return y;
  };
  K.unregisterFastConv2dBackpropInput([opts.backend]);
  const orig = time(chain);
  K.registerFastConv2dBackpropInput([opts.backend]);
  const fast = time(chain);
  const line = {
    case: label,
    original: orig.stats,
    fast: fast.stats,
    speedup_wall: +(orig.stats.wall_ms / fast.stats.wall_ms).toFixed(2),
    speedup_cpu: +(orig.stats.cpu_ms / fast.stats.cpu_ms).toFixed(2),
    max_rel_diff: relDiff(orig.values, fast.values),
    load_avg: loadavg().map((v) => +v.toFixed(2)),
  };
  tf.dispose(inputs.flatMap((i) => [i.x, i.f]));
  console.log(JSON.stringify(line));
}

/** One warm-up, then timed runs; each run ends with dataSync so the work is done. */
function time(f) {
  const wall = [];
  const cpu = [];
  let values;
  // two warm-ups (JIT, heap growth), one if a run is slow anyway
  for (let w = 0; w < 2; w++) {
    const t0 = performance.now();
    const warm = f();
    values = warm.dataSync().slice();
    warm.dispose();
    if (performance.now() - t0 > 2000) break;
  }
  let spent = 0;
  for (let r = 0; r < opts.runs && (r < 1 || spent < opts.budget * 1000); r++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const y = f();
    y.dataSync();
    const t1 = performance.now();
    const dc = process.cpuUsage(c0);
    y.dispose();
    wall.push(t1 - t0);
    cpu.push((dc.user + dc.system) / 1000);
    spent += t1 - t0;
  }
  return { values, stats: { wall_ms: +median(wall).toFixed(1), cpu_ms: +median(cpu).toFixed(1), runs: wall.length } };
}

function relDiff(a, b) {
  let m = 0;
  let s = 0;
  for (let i = 0; i < a.length; i++) {
    m = Math.max(m, Math.abs(a[i] - b[i]));
    s = Math.max(s, Math.abs(a[i]));
  }
  return +(m / s).toExponential(2);
}

function median(v) {
  const s = [...v].sort((p, q) => p - q);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** Bundle the kernel's TypeScript source (tfjs external, so it shares the engine) and import it. */
async function loadKernel() {
  const esbuild = require('esbuild');
  const outdir = join(root, 'node_modules', '.cache', 'psic-bench');
  mkdirSync(outdir, { recursive: true });
  const outfile = join(outdir, `conv2d-backprop-input-${process.pid}.mjs`);
  await esbuild.build({
    entryPoints: [join(root, 'packages', 'core', 'src', 'kernels', 'conv2d-backprop-input.ts')],
    bundle: true,
    platform: 'node',
    format: 'esm',
    external: ['@tensorflow/*'],
    outfile,
    logLevel: 'warning',
  });
  const mod = await import(pathToFileURL(outfile).href);
  (await import('node:fs')).rmSync(outfile);
  return mod;
}

function parseArguments(argv) {
  const o = { backend: 'wasm', runs: 5, budget: 20, only: undefined, strategies: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--backend') o.backend = argv[++i];
    else if (a === '--runs') o.runs = Number(argv[++i]);
    else if (a === '--budget') o.budget = Number(argv[++i]);
    else if (a === '--only') o.only = argv[++i];
    else if (a === '--strategies') o.strategies = true;
    else throw new Error(`unknown argument ${a}`);
  }
  return o;
}
