#!/usr/bin/env node
/**
 * rANS throughput benchmark for @psic/entropy (the built dist/).
 *
 *   npm run bench:entropy
 *   node tools/bench/entropy.mjs [--symbols 10000000] [--runs 5] [--seed 1]
 *
 * 64 Gaussian tables laid out as CompressAI's GaussianConditional does (scales
 * log-spaced from 0.11 to 256, support ±ceil(scale · 6.11), tail mass 1e-9 on
 * the escape symbol). Each symbol picks a random table and a value drawn from
 * that Gaussian, rounded. Encode and decode are timed single-threaded: one
 * warm-up, then the median of --runs runs; every decode is checked against the
 * input. Output: one JSON line per measure on stdout. `msym_per_s` is from wall
 * time; `cpu_msym_per_s` from the process's CPU time, which other load on a
 * shared machine disturbs less (`load_avg` says how busy the machine was).
 */
import { loadavg } from 'node:os';
import { CdfTableSet, decodeWithIndexes, defaultScaleTable, encodeWithIndexes, gaussianCdfTable } from '@psic/entropy';

const options = parseArguments(process.argv.slice(2));
const SCALE_MIN = 0.11;
const SCALE_MAX = 256;
const LEVELS = 64;
const TAIL_MASS = 1e-9;

const rng = mulberry32(options.seed);
const scales = Array.from(defaultScaleTable(SCALE_MIN, SCALE_MAX, LEVELS));
const tables = new CdfTableSet(scales.map((scale) => gaussianCdfTable(scale, TAIL_MASS)));

const { values, indexes } = drawSymbols(options.symbols);
const count = values.length;

const encodeTimes = { wall: [], cpu: [] };
let stream;
for (let run = 0; run <= options.runs; run++) {
  const result = timed(() => encodeWithIndexes(values, indexes, tables));
  stream = result.value;
  if (run > 0) record(encodeTimes, result); // run 0 is the warm-up
}

const decodeTimes = { wall: [], cpu: [] };
for (let run = 0; run <= options.runs; run++) {
  const result = timed(() => decodeWithIndexes(stream, indexes, tables));
  if (run > 0) record(decodeTimes, result);
  const decoded = result.value;
  for (let i = 0; i < count; i++) {
    if (decoded[i] !== values[i]) throw new Error(`decode mismatch at symbol ${i}: ${decoded[i]} != ${values[i]}`);
  }
}

const base = { bench: 'entropy', symbols: count, runs: options.runs };
for (const [measure, times] of [['encode', encodeTimes], ['decode', decodeTimes]]) {
  const ms = median(times.wall);
  print({
    ...base,
    measure,
    msym_per_s: round(count / ms / 1000),
    cpu_msym_per_s: round(count / median(times.cpu) / 1000),
    median_ms: round(ms),
    min_ms: round(Math.min(...times.wall)),
    load_avg: round(loadavg()[0], 2),
  });
}
const actual = (stream.length * 8) / count;
const ideal = idealBits(values, indexes, tables) / count;
print({ ...base, measure: 'bits_per_symbol', actual: round(actual, 5), ideal: round(ideal, 5), overhead_pct: round((actual / ideal - 1) * 100, 4), bytes: stream.length });

// ---------------------------------------------------------------- helpers

function timed(fn) {
  const cpuBefore = process.cpuUsage();
  const began = performance.now();
  const value = fn();
  const wall = performance.now() - began;
  const cpu = process.cpuUsage(cpuBefore);
  return { value, wall, cpu: (cpu.user + cpu.system) / 1000 };
}

function record(times, { wall, cpu }) {
  times.wall.push(wall);
  times.cpu.push(cpu);
}

function print(object) {
  process.stdout.write(JSON.stringify(object) + '\n');
}

function round(v, digits = 3) {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

function median(xs) {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Random table per symbol, value ~ round(N(0, scale of that table)). */
function drawSymbols(n) {
  const values = new Int32Array(n);
  const indexes = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const t = Math.floor(rng() * LEVELS);
    indexes[i] = t;
    values[i] = Math.round(scales[t] * gaussian());
  }
  return { values, indexes };
}

/** -log2 p of every symbol under the quantised tables; escapes add their bypass bits. */
function idealBits(values, indexes, set) {
  let bits = 0;
  for (let i = 0; i < values.length; i++) {
    const { cdf, offset } = tableCache(set, indexes[i]);
    const n = cdf.length - 2;
    const s = values[i] - offset;
    if (s >= 0 && s < n) {
      bits -= Math.log2((cdf[s + 1] - cdf[s]) / 65536);
    } else {
      const raw = s < 0 ? -2 * s - 1 : 2 * (s - n);
      const k = raw === 0 ? 0 : Math.floor(Math.log2(raw)) + 1;
      bits += -Math.log2((cdf[n + 1] - cdf[n]) / 65536) + 6 + Math.max(0, k - 1);
    }
  }
  return bits;
}

function tableCache(set, t) {
  tableCache.cache ??= new Map();
  let table = tableCache.cache.get(t);
  if (!table) tableCache.cache.set(t, (table = set.table(t)));
  return table;
}

/** Box-Muller from the seeded generator. */
function gaussian() {
  const u = 1 - rng();
  const v = rng();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function parseArguments(argv) {
  const parsed = { symbols: 10_000_000, runs: 5, seed: 1 };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split('=', 2);
    const key = flag.replace(/^--/, '');
    const value = Number(inline ?? argv[++i]);
    if (!(key in parsed) || !Number.isSafeInteger(value) || value < 1) {
      process.stderr.write('usage: node tools/bench/entropy.mjs [--symbols N] [--runs R] [--seed S]\n');
      process.exit(2);
    }
    parsed[key] = value;
  }
  return parsed;
}
