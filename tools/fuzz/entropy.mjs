#!/usr/bin/env node
/**
 * Long-run fuzzer for the untrusted-input readers of @psic/entropy: the .psic
 * container (readContainer / readContainerHeader) and the rANS decoder
 * (decodeWithIndexes). It mutates valid inputs and checks that every failure is
 * a BitstreamError, that no input is slow, and that memory stays bounded.
 *
 *   npm run fuzz:entropy -- --count 100000 --seed 1
 *   node tools/fuzz/entropy.mjs --count 1000000 --seed 7 --target container
 *
 * Options: --count N (100000)  --seed S (1)  --max-ms MS (1000: slower counts as a failure)
 *          --target all|container|rans (all)  --hang-s S (30: watchdog for an input that never returns)
 * Output: a progress line on stderr every 2 s, one JSON summary line on stdout.
 * Exit status: 0 clean; 1 non-typed error, slow input, broken invariant, hang or crash; 2 bad usage.
 *
 * Needs the built package (dist/): `npm run fuzz:entropy` builds it first.
 * The fuzz loop runs in a worker thread so the main thread can notice an input
 * that never returns, print it and stop, instead of hanging with it.
 */
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';

const SHARED_INPUT_CAPACITY = 1 << 20;
// Slots of the shared array through which the worker reports to the watchdog.
const SLOT = { inputs: 0, busy: 1, inputLength: 2, target: 3, nonTyped: 4, slow: 5 };
const TARGET_NAMES = ['container', 'rans'];

// ================================================================ main thread

function runMain() {
  const options = parseArguments(process.argv.slice(2));
  const progress = new Int32Array(new SharedArrayBuffer(Object.keys(SLOT).length * 4));
  const busySince = new Float64Array(new SharedArrayBuffer(8));
  const currentInput = new Uint8Array(new SharedArrayBuffer(SHARED_INPUT_CAPACITY));
  const worker = new Worker(fileURLToPath(import.meta.url), { workerData: { options, progress, busySince, currentInput } });
  const began = Date.now();
  const seconds = () => Number(((Date.now() - began) / 1000).toFixed(2));

  const reportProgress = () => {
    process.stderr.write(
      `[fuzz:entropy] ${Atomics.load(progress, SLOT.inputs)}/${options.count} inputs, ${seconds().toFixed(1)} s, ` +
        `non-typed ${Atomics.load(progress, SLOT.nonTyped)}, slow ${Atomics.load(progress, SLOT.slow)}, ` +
        `rss ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MB\n`,
    );
  };
  const watchdog = setInterval(() => {
    reportProgress();
    const done = Atomics.load(progress, SLOT.inputs);
    const busyMs = Atomics.load(progress, SLOT.busy) ? Date.now() - busySince[0] : 0;
    if (busyMs > options.hangS * 1000) {
      clearInterval(watchdog);
      const length = Math.min(Atomics.load(progress, SLOT.inputLength), SHARED_INPUT_CAPACITY, 4096);
      const hang = {
        target: TARGET_NAMES[Atomics.load(progress, SLOT.target)],
        input: done,
        busyMs,
        hex: Buffer.from(currentInput.subarray(0, length)).toString('hex'),
      };
      process.stdout.write(JSON.stringify({ ok: false, seed: options.seed, inputs: done, hang, elapsedS: seconds() }) + '\n');
      process.exitCode = 1;
      void worker.terminate();
    }
  }, 2000);

  worker.on('message', (summary) => {
    clearInterval(watchdog);
    reportProgress();
    process.stdout.write(JSON.stringify({ ...summary, elapsedS: seconds() }) + '\n');
    process.exitCode = summary.ok ? 0 : 1;
  });
  worker.on('error', (error) => {
    clearInterval(watchdog);
    process.stderr.write(`[fuzz:entropy] the fuzzer itself crashed: ${error?.stack ?? error}\n`);
    process.exitCode = 1;
  });
}

function parseArguments(argv) {
  const options = { count: 100_000, seed: 1, maxMs: 1000, target: 'all', hangS: 30 };
  const keys = { '--count': 'count', '--seed': 'seed', '--max-ms': 'maxMs', '--target': 'target', '--hang-s': 'hangS' };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split('=', 2);
    const key = keys[flag];
    if (!key) usage(`unknown option ${argv[i]}`);
    const value = inline ?? argv[++i];
    if (value === undefined) usage(`${flag} needs a value`);
    options[key] = key === 'target' ? value : Number(value);
  }
  for (const key of ['count', 'seed', 'maxMs', 'hangS']) {
    if (!Number.isSafeInteger(options[key]) || options[key] < 0) usage(`${key} must be a non-negative integer`);
  }
  if (!['all', 'container', 'rans'].includes(options.target)) usage('--target must be all, container or rans');
  return options;
}

function usage(message) {
  process.stderr.write(
    `entropy fuzzer: ${message}\n` +
      'usage: node tools/fuzz/entropy.mjs [--count N] [--seed S] [--max-ms MS] [--target all|container|rans] [--hang-s S]\n',
  );
  process.exit(2);
}

// ================================================================ worker thread

async function runWorker({ options, progress, busySince, currentInput }) {
  const entropy = await import('@psic/entropy');
  const rng = makeRng(options.seed);
  const stats = newStats();
  const targets = [];
  if (options.target !== 'rans') targets.push(containerTarget(entropy, rng));
  if (options.target !== 'container') {
    const missing = ['encodeWithIndexes', 'decodeWithIndexes', 'CdfTableSet', 'pmfToQuantizedCdf'].filter(
      (name) => typeof entropy[name] !== 'function',
    );
    if (missing.length === 0) targets.push(ransTarget(entropy, rng));
    else stats.skipped.rans = `@psic/entropy does not export ${missing.join(', ')} yet`;
  }
  if (targets.length === 0) {
    process.stderr.write(`entropy fuzzer: nothing to fuzz (${stats.skipped.rans})\n`);
    process.exit(2);
  }

  for (let n = 0; n < options.count; n++) {
    const target = targets[n % targets.length];
    const { input, mutation } = target.next();
    // Publish the input before running it, so the watchdog can show a hang.
    if (input.length <= SHARED_INPUT_CAPACITY) currentInput.set(input);
    Atomics.store(progress, SLOT.inputLength, input.length);
    Atomics.store(progress, SLOT.target, TARGET_NAMES.indexOf(target.name));
    busySince[0] = Date.now();
    Atomics.store(progress, SLOT.busy, 1);
    const began = performance.now();
    let outcome;
    try {
      outcome = { violation: target.run(input) };
    } catch (error) {
      outcome = { error };
    }
    const ms = performance.now() - began;
    Atomics.store(progress, SLOT.busy, 0);

    record(stats, entropy, { target: target.name, n, input, mutation, outcome, ms, options });
    Atomics.store(progress, SLOT.inputs, n + 1);
    Atomics.store(progress, SLOT.nonTyped, stats.nonTyped);
    Atomics.store(progress, SLOT.slow, stats.slow);
    if ((n & 1023) === 0) stats.rssMaxMB = Math.max(stats.rssMaxMB, process.memoryUsage().rss / 2 ** 20);
  }
  parentPort.postMessage(summarize(stats, options));
}

function newStats() {
  const rss = process.memoryUsage().rss / 2 ** 20;
  return { inputs: 0, nonTyped: 0, slow: 0, invariantViolations: 0, maxMs: 0, rssStartMB: rss, rssMaxMB: rss, targets: {}, skipped: {}, samples: [] };
}

function record(stats, entropy, { target, n, input, mutation, outcome, ms, options }) {
  const t = (stats.targets[target] ??= { inputs: 0, accepted: 0, errors: {}, nonTyped: 0, slow: 0, maxMs: 0, mutations: {} });
  const keepSample = (kind, detail) => {
    if (stats.samples.length >= 20) return;
    stats.samples.push({ kind, target, input: n, mutation, detail, hex: Buffer.from(input.subarray(0, 256)).toString('hex') });
  };
  stats.inputs++;
  t.inputs++;
  t.mutations[mutation] = (t.mutations[mutation] ?? 0) + 1;
  stats.maxMs = Math.max(stats.maxMs, ms);
  t.maxMs = Math.max(t.maxMs, ms);
  if (ms > options.maxMs) {
    stats.slow++;
    t.slow++;
    keepSample('slow', `${ms.toFixed(1)} ms`);
  }
  if (!('error' in outcome)) {
    t.accepted++;
    if (outcome.violation) {
      stats.invariantViolations++;
      keepSample('invariant', outcome.violation);
    }
  } else if (outcome.error instanceof entropy.BitstreamError) {
    t.errors[outcome.error.code] = (t.errors[outcome.error.code] ?? 0) + 1;
  } else {
    stats.nonTyped++;
    t.nonTyped++;
    keepSample('non-typed', String(outcome.error?.stack ?? outcome.error).slice(0, 600));
  }
}

function summarize(stats, options) {
  const targets = {};
  for (const [name, t] of Object.entries(stats.targets)) targets[name] = { ...t, maxMs: round(t.maxMs) };
  for (const [name, reason] of Object.entries(stats.skipped)) targets[name] = { skipped: reason };
  const peakRssMB = Math.max(process.resourceUsage().maxRSS / 1024, stats.rssMaxMB);
  return {
    ok: stats.nonTyped === 0 && stats.slow === 0 && stats.invariantViolations === 0,
    seed: options.seed,
    inputs: stats.inputs,
    nonTyped: stats.nonTyped,
    slow: stats.slow,
    invariantViolations: stats.invariantViolations,
    maxMsPerInput: round(stats.maxMs),
    peakRssMB: Math.round(peakRssMB),
    rssGrowthMB: Math.round(process.memoryUsage().rss / 2 ** 20 - stats.rssStartMB),
    targets,
    samples: stats.samples,
  };
}

const round = (x) => Number(x.toFixed(3));

// ================================================================ randomness

/** mulberry32 plus the few helpers the generators need; one seed reproduces a whole run. */
function makeRng(seed) {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
  const int = (n) => Math.floor(next() * n);
  return {
    next,
    int,
    chance: (p) => next() < p,
    pick: (items) => items[int(items.length)],
    bytes: (length) => Uint8Array.from({ length }, () => int(256)),
    /** Small lengths usually, large ones now and then. */
    length: (max) => Math.min(max, next() < 0.9 ? int(64) : int(max + 1)),
  };
}

/** Generic byte-level mutations, shared by both targets. Returns [bytes, mutation name]. */
function mutateBytes(rng, source) {
  const bytes = source.slice();
  const at = rng.int(bytes.length + 1);
  switch (rng.int(8)) {
    case 0:
      for (let i = 0, n = 1 + rng.int(4); i < n && bytes.length; i++) bytes[rng.int(bytes.length)] ^= 1 << rng.int(8);
      return [bytes, 'bit-flip'];
    case 1:
      for (let i = 0, n = 1 + rng.int(4); i < n && bytes.length; i++) bytes[rng.int(bytes.length)] = rng.pick([0, 0x7f, 0x80, 0xff, rng.int(256)]);
      return [bytes, 'byte-set'];
    case 2:
      return [concat(bytes.subarray(0, at), rng.bytes(1 + rng.int(16)), bytes.subarray(at)), 'insert'];
    case 3:
      return [concat(bytes.subarray(0, at), bytes.subarray(at + 1 + rng.int(16))), 'delete'];
    case 4:
      return [bytes.subarray(0, rng.int(bytes.length)), 'truncate'];
    case 5:
      return [concat(bytes, rng.bytes(1 + rng.int(16))), 'extend'];
    case 6: {
      // Copy a run of the input over another place: keeps plausible-looking structure.
      const from = rng.int(bytes.length + 1);
      const run = source.subarray(from, from + 1 + rng.int(16));
      bytes.set(run.subarray(0, Math.max(0, bytes.length - at)), Math.min(at, bytes.length));
      return [bytes, 'overwrite-run'];
    }
    default:
      return [rng.bytes(rng.length(4096)), 'random-bytes'];
  }
}

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((sum, p) => sum + p.length, 0));
  let pos = 0;
  for (const p of parts) {
    out.set(p, pos);
    pos += p.length;
  }
  return out;
}

// ================================================================ container target

const INTERESTING_U32 = [0, 1, 2, 63, 64, 65, 127, 128, 16_384, 65_535, 65_536, 65_537, 2 ** 28, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1];
const NAME_CHARS = 'abcdefghijklmnopqrstuvwxyz0123456789._-';

function containerTarget(entropy, rng) {
  const { writeContainer, readContainer, readContainerHeader, crc32, BitstreamError } = entropy;
  const pool = Array.from({ length: 24 }, () => writeContainer(randomContainer(rng)));
  let served = 0;

  /** Rewrites the last 4 bytes as the CRC of the rest, so a mutation reaches field validation. */
  const restamp = (bytes) => {
    if (bytes.length >= 4) {
      new DataView(bytes.buffer, bytes.byteOffset, bytes.length).setUint32(bytes.length - 4, crc32(bytes.subarray(0, bytes.length - 4)));
    }
    return bytes;
  };

  return {
    name: 'container',
    next() {
      if (++served % 500 === 0) pool[rng.int(pool.length)] = writeContainer(randomContainer(rng));
      const kind = rng.int(20);
      if (kind === 0) return { input: rng.pick(pool), mutation: 'none' };
      if (kind <= 3) return { input: restamp(absurdHeader(rng)), mutation: 'absurd-header' };
      if (kind <= 5) return { input: restamp(spliceVarint(rng, rng.pick(pool))), mutation: 'varint-splice' };
      const [bytes, mutation] = mutateBytes(rng, rng.pick(pool));
      return rng.chance(0.75) ? { input: restamp(bytes.slice()), mutation: `${mutation}+crc` } : { input: bytes, mutation };
    },
    run(input) {
      try {
        readContainerHeader(input);
      } catch (error) {
        if (!(error instanceof BitstreamError)) throw error;
      }
      const container = readContainer(input);
      // Accepted bytes must be the one canonical encoding of what was read.
      if (!Buffer.from(writeContainer(container)).equals(input)) return 'accepted a non-canonical container';
      const header = readContainerHeader(input);
      if (header.width !== container.width || header.backbone !== container.backbone) return 'header peek disagrees with readContainer';
      return undefined;
    },
  };
}

function randomContainer(rng) {
  const height = 1 + (rng.chance(0.8) ? rng.int(2048) : rng.int(2 ** 16));
  const width = 1 + rng.int(Math.min(2 ** 16, Math.floor(2 ** 28 / height)));
  const sectionCount = rng.chance(0.9) ? rng.int(6) : rng.int(65);
  return {
    backbone: Array.from({ length: 1 + (rng.chance(0.9) ? rng.int(16) : rng.int(64)) }, () => rng.pick(NAME_CHARS)).join(''),
    fingerprint: rng.bytes(8),
    height,
    width,
    sections: Array.from({ length: sectionCount }, () => rng.bytes(rng.chance(0.98) ? rng.length(300) : rng.int(70_000))),
  };
}

/** Header fields straight from boundary values, including 2^31 x 2^31 images and 2^32-1 lengths. */
function absurdHeader(rng) {
  const varint = () => (rng.chance(0.85) ? leb(rng.pick(INTERESTING_U32)) : oddVarint(rng));
  const nameLength = rng.pick([0, 1, 3, 64, 65, 255]);
  const presentName = rng.chance(0.5) ? nameLength : rng.int(nameLength + 1);
  const name = Array.from({ length: presentName }, () => rng.pick([0x61, 0x7a, 0x30, 0x2e, 0x5f, 0x2d, 0x41, 0x20, 0xff]));
  const sections = [];
  for (let i = 0, n = rng.int(5); i < n; i++) sections.push(...varint(), ...rng.bytes(rng.int(8)));
  return Uint8Array.from([
    0x50, 0x53, 0x49, 0x43,
    rng.chance(0.9) ? 1 : rng.int(256),
    rng.chance(0.9) ? 0 : rng.int(256),
    nameLength,
    ...name,
    ...rng.bytes(rng.chance(0.9) ? 8 : rng.int(8)),
    ...varint(),
    ...varint(),
    ...varint(),
    ...sections,
    0, 0, 0, 0,
  ]);
}

/** Replaces bytes somewhere after the fingerprint with a varint-looking run. */
function spliceVarint(rng, source) {
  const at = Math.min(source.length, 15 + rng.int(Math.max(1, source.length - 15)));
  return concat(source.subarray(0, at), Uint8Array.from(oddVarint(rng)), source.subarray(at + rng.int(6)));
}

/** Overlong, over-32-bit or unterminated varints. */
function oddVarint(rng) {
  return Array.from({ length: 1 + rng.int(7) }, () => rng.pick([0x00, 0x01, 0x0f, 0x10, 0x7f, 0x80, 0x8f, 0xff]));
}

function leb(value) {
  const out = [];
  while (value >= 0x80) {
    out.push((value & 0x7f) | 0x80);
    value >>>= 7;
  }
  out.push(value);
  return out;
}

// ================================================================ rANS target

function ransTarget(entropy, rng) {
  const { decodeWithIndexes } = entropy;
  const pool = Array.from({ length: 16 }, () => randomRansCase(entropy, rng));
  let served = 0;
  let current = pool[0];
  return {
    name: 'rans',
    next() {
      if (++served % 500 === 0) pool[rng.int(pool.length)] = randomRansCase(entropy, rng);
      current = rng.pick(pool);
      if (rng.chance(0.02)) return { input: current.stream, mutation: 'none' };
      const [bytes, mutation] = mutateBytes(rng, current.stream);
      return { input: bytes, mutation };
    },
    run(input) {
      const { indexes, tables, values, stream } = current;
      const decoded = decodeWithIndexes(input, indexes, tables);
      if (decoded.length !== indexes.length) return `decoded ${decoded.length} symbols for ${indexes.length} indexes`;
      if (input === stream && !sameValues(decoded, values)) return 'an unmutated stream did not decode to its values';
      return undefined;
    },
  };
}

/** A valid stream: random tables from random PMFs, random symbols within them. */
function randomRansCase(entropy, rng) {
  const { CdfTableSet, pmfToQuantizedCdf, encodeWithIndexes } = entropy;
  const tableSpecs = Array.from({ length: 1 + rng.int(4) }, () => {
    const symbols = 1 + rng.int(rng.chance(0.8) ? 16 : 256);
    const weights = Array.from({ length: symbols }, () => (rng.chance(0.1) ? 1e-9 : rng.next() + 1e-3));
    const tailMass = rng.pick([1e-9, 1e-6, 1e-3]);
    const total = weights.reduce((a, b) => a + b, 0) / (1 - tailMass);
    const pmf = Float64Array.from(weights, (w) => w / total);
    const offset = -rng.int(symbols + 1);
    return { cdf: pmfToQuantizedCdf(pmf, tailMass), offset, symbols };
  });
  const tables = new CdfTableSet(tableSpecs.map(({ cdf, offset }) => ({ cdf, offset })));
  const count = rng.chance(0.9) ? rng.int(512) : rng.int(20_000);
  const indexes = Int32Array.from({ length: count }, () => rng.int(tableSpecs.length));
  const values = Int32Array.from(indexes, (index) => {
    const { offset, symbols } = tableSpecs[index];
    // Mostly in range; now and then far outside, to exercise the escape path.
    return rng.chance(0.97) ? offset + rng.int(symbols) : offset + rng.pick([-1, symbols, -1000, 70_000]);
  });
  const stream = encodeWithIndexes(values, indexes, tables);
  return { indexes, tables, values, stream };
}

function sameValues(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

// Last, so every constant above is initialised before either side starts.
if (isMainThread) runMain();
else await runWorker(workerData);
