#!/usr/bin/env node
/**
 * End-to-end codec benchmark: encode (read the image file, pad, g_a, h_a,
 * entropy coding, write the .psic) and decode (read the .psic, entropy
 * decoding, g_s, write the PNG) of each backbone (scale hyperprior,
 * checkerboard, channel-context; N=128/M=192) with random weights, or of a
 * shipped model with --model, on onnxruntime
 * (`onnx`) and on tfjs-wasm (`tfjs`, PSIC_TORCH=0: the pure tfjs kernels) in
 * the same run. Each runtime x image runs in its own process, so the peak RSS
 * printed is that configuration's. One JSON line each: median / min seconds
 * of --runs runs after one warm-up run (the first run, printed as first_s,
 * also builds and loads the ONNX graphs).
 *
 *   npm run build && npm run bench:codec
 *   node tools/bench/codec.mjs [--runs 5] [--sizes 768x512,1920x1080] [--runtimes onnx,tfjs,tfjs-torch]
 *                              [--archs bmshj2018-hyperprior,he2021-checkerboard,minnen2020-channel] [--model NAME,...]
 *                              [--threads 2] [--tile-pixels 1500000] [--arena-pixels 600000] [--N 128 --M 192]
 *
 * Images: 768x512 is Kodak kodim01; larger sizes are mosaics of the Kodak
 * photos at their own resolution (tiled in reading order, cropped), written
 * to a temporary folder, so they hold real photographic detail.
 * `tfjs-torch` adds tfjs-wasm with the @psic/backend-torch kernels.
 * Decode time differs by backbone in the entropy path: the checkerboard
 * decodes its anchors then the non-anchors (two passes of the context
 * network), the channel-context model its slices one after the other.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    sizes: { type: 'string', default: '768x512,1920x1080' },
    runtimes: { type: 'string', default: 'onnx,tfjs' },
    archs: { type: 'string', default: 'bmshj2018-hyperprior,he2021-checkerboard,minnen2020-channel' },
    model: { type: 'string' },
    threads: { type: 'string' },
    'tile-pixels': { type: 'string' },
    'arena-pixels': { type: 'string' },
    N: { type: 'string', default: '128' },
    M: { type: 'string', default: '192' },
    // internal: one configuration in this process
    worker: { type: 'boolean' },
    image: { type: 'string' },
    runtime: { type: 'string' },
    arch: { type: 'string' },
  },
});

const here = fileURLToPath(new URL('.', import.meta.url));
const photos = resolve(here, '../../../shared/data/photos');

if (values.worker) await worker();
else await main();

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'psic-bench-codec-'));
  try {
    for (const size of values.sizes.split(',')) {
      const [width, height] = size.split('x').map(Number);
      const image = await benchImage(dir, width, height);
      // a subject is an architecture with random weights, or a shipped model (--model)
      const subjects = values.model ? values.model.split(',').map((m) => ['--model', m]) : values.archs.split(',').map((a) => ['--arch', a]);
      for (const [subject, runtime] of subjects.flatMap((s) => values.runtimes.split(',').map((r) => [s, r]))) {
        const args = [fileURLToPath(import.meta.url), '--worker', ...subject, '--image', image, '--runtime', runtime, '--runs', values.runs, '--N', values.N, '--M', values.M];
        if (values.threads) args.push('--threads', values.threads);
        if (values['tile-pixels']) args.push('--tile-pixels', values['tile-pixels']);
        if (values['arena-pixels']) args.push('--arena-pixels', values['arena-pixels']);
        // tfjs: the pure tfjs kernels; onnx: as the CLI runs it (no libtorch kernels, they would only cost memory)
        const torch = runtime === 'tfjs-torch' ? (process.env.PSIC_TORCH ?? '') : runtime === 'tfjs' ? '0' : process.env.PSIC_TORCH || '0';
        const env = { ...process.env, PSIC_TORCH: torch };
        const line = await runChild(args, env);
        process.stdout.write(`${line}\n`);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** kodim01 for 768x512; a mosaic of the Kodak photos for other sizes. */
async function benchImage(dir, width, height) {
  if (width === 768 && height === 512) return join(photos, 'kodim01.png');
  const sharp = (await import('sharp')).default;
  const files = readdirSync(photos).filter((f) => /^kodim\d+\.png$/.test(f)).sort();
  const tiles = [];
  let i = 0;
  for (let top = 0; top < height; top += 512) {
    for (let left = 0; left < width; left += 768) {
      const input = await sharp(join(photos, files[i++ % files.length])).resize(768, 512, { fit: 'cover' }).png().toBuffer();
      tiles.push({ input, top, left });
    }
  }
  const path = join(dir, `mosaic-${width}x${height}.png`);
  await sharp({ create: { width, height, channels: 3, background: '#000' } }).composite(tiles).png().toFile(path);
  return path;
}

function runChild(args, env) {
  return new Promise((resolveLine, reject) => {
    const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolveLine(out.trim()) : reject(new Error(`worker ${args.join(' ')} exited with ${code}`))));
  });
}

async function worker() {
  const { selectBackend, readImage, encodeImage, decodeImage, encodePng, writeFileAtomic } = await import('@psic/core');
  const runtime = values.runtime;
  const backend = await selectBackend('wasm', { log: () => {} });
  let model;
  if (values.model) {
    const { loadModel } = await import('@psic/zoo');
    model = await loadModel(values.model);
  } else {
    const { backbones } = await import('@psic/core');
    await Promise.all(['@psic/backbone-hyperprior', '@psic/backbone-checkerboard', '@psic/backbone-channel'].map((p) => import(p)));
    const backbone = backbones.get(values.arch)({ N: Number(values.N), M: Number(values.M) });
    model = { backbone, fingerprint: new Uint8Array(8).fill(7) };
  }
  const { N, M } = model.backbone.config;
  if (runtime === 'onnx') {
    const { withOnnxRuntime } = await import('@psic/onnx');
    model = withOnnxRuntime(model, {
      threads: values.threads ? Number(values.threads) : undefined,
      maxTilePixels: values['tile-pixels'] ? Number(values['tile-pixels']) : undefined,
      arenaMaxPixels: values['arena-pixels'] ? Number(values['arena-pixels']) : undefined,
    });
  }
  const dir = mkdtempSync(join(tmpdir(), 'psic-bench-run-'));
  const psic = join(dir, 'out.psic');
  const png = join(dir, 'out.png');
  const runs = Number(values.runs);
  const enc = [];
  const dec = [];
  const cpu0 = process.cpuUsage();
  let img;
  try {
    for (let r = 0; r <= runs; r++) {
      let t0 = performance.now();
      img = await readImage(values.image);
      await writeFileAtomic(psic, await encodeImage(model, img));
      enc.push((performance.now() - t0) / 1000);
      t0 = performance.now();
      const decoded = await decodeImage(model, new Uint8Array(await readFile(psic)));
      await writeFileAtomic(png, await encodePng(decoded));
      dec.push((performance.now() - t0) / 1000);
    }
    const cpu = process.cpuUsage(cpu0);
    const bytes = (await stat(psic)).size;
    const summary = (xs) => {
      const rest = xs.slice(1).sort((a, b) => a - b);
      return { median_s: +rest[Math.floor(rest.length / 2)].toFixed(3), min_s: +rest[0].toFixed(3), first_s: +xs[0].toFixed(3) };
    };
    console.log(
      JSON.stringify({
        bench: 'codec',
        architecture: model.backbone.name,
        model: values.model ?? null,
        runtime: runtime === 'tfjs-torch' ? 'tfjs' : runtime,
        tfjs_backend: backend,
        torch_kernels: runtime === 'onnx' ? null : process.env.PSIC_TORCH !== '0',
        threads: runtime === 'onnx' ? model.runtime.transforms.runner.threads : null,
        image: `${img.width}x${img.height}`,
        N,
        M,
        runs,
        encode: summary(enc),
        decode: summary(dec),
        bytes,
        bpp: +((bytes * 8) / (img.width * img.height)).toFixed(4),
        peak_rss_mb: Math.round(process.resourceUsage().maxRSS / 1024),
        cpu_s_per_run: +((cpu.user + cpu.system) / 1e6 / (runs + 1)).toFixed(3),
        load_avg: +loadavg()[0].toFixed(2),
      }),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
