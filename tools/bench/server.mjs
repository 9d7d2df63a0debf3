#!/usr/bin/env node
/**
 * Load test of the HTTP service (the built apps/server/dist/main.js).
 *
 *   npm run build -- --projects=@psic/server && npm run bench:server
 *   node tools/bench/server.mjs [--duration 60] [--connections 8] [--image PATH] [--threads N] [--max-queue N]
 *
 * Starts the server as a child process on a free loopback port, sends one
 * warm-up request, then autocannon keeps `--connections` clients POSTing the
 * same image (default Kodak kodim01, 768x512 PNG) to /v1/encode for
 * `--duration` seconds. The server's resident memory is sampled every 100 ms
 * (and its kernel high-water mark read at the end). Output: JSON lines on
 * stdout — the run's settings, latency percentiles, throughput, status
 * counts, memory — and a final `verdict` line checking the targets:
 * zero 5xx other than 503 (backpressure), peak RSS under 1.5 GB. Exit
 * status 1 when a target is missed.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { loadavg } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const MAIN = join(ROOT, 'apps/server/dist/main.js');
const RSS_LIMIT_BYTES = 1.5 * 1024 ** 3;
const options = parseArguments(process.argv.slice(2));

if (!existsSync(MAIN)) {
  process.stderr.write(`bench:server: ${MAIN} is missing; build it first: npm run build -- --projects=@psic/server\n`);
  process.exit(2);
}
const image = readFileSync(options.image);
const port = await freePort();
const env = { ...process.env, PORT: String(port), HOST: '127.0.0.1' };
if (options.threads) env.PSIC_SERVER_THREADS = String(options.threads);
if (options.maxQueue) env.PSIC_MAX_QUEUE = String(options.maxQueue);
const server = spawn(process.execPath, [MAIN], { env, stdio: ['ignore', 'pipe', 'pipe'] });
let serverLog = '';
server.stdout.on('data', (d) => (serverLog = (serverLog + d).slice(-20_000)));
server.stderr.on('data', (d) => (serverLog = (serverLog + d).slice(-20_000)));
const stopServer = () => {
  if (server.exitCode === null) server.kill('SIGTERM');
};
process.on('exit', stopServer);

try {
  await waitForServer(`http://127.0.0.1:${port}/healthz`, 120_000);
  const url = `http://127.0.0.1:${port}/v1/encode`;
  const health = await (await fetch(`http://127.0.0.1:${port}/healthz`)).json();
  const warm = await fetch(url, { method: 'POST', body: image, headers: { 'content-type': 'application/octet-stream' } });
  if (warm.status !== 200) throw new Error(`warm-up request failed: ${warm.status} ${await warm.text()}`);
  const psicBytes = (await warm.arrayBuffer()).byteLength;

  let peakSampled = 0;
  const sampler = setInterval(() => (peakSampled = Math.max(peakSampled, rssOf(server.pid))), 100);
  const result = await autocannon({
    url,
    method: 'POST',
    connections: options.connections,
    duration: options.duration,
    timeout: 300, // s: a queued request may wait behind connections x encode time
    headers: { 'content-type': 'application/octet-stream' },
    body: image,
  });
  clearInterval(sampler);
  const peak = Math.max(peakSampled, highWaterMark(server.pid));

  const statuses = Object.fromEntries(Object.entries(result.statusCodeStats).map(([code, { count }]) => [code, count]));
  const fiveXxNot503 = Object.entries(statuses).filter(([code]) => code.startsWith('5') && code !== '503').reduce((n, [, c]) => n + c, 0);
  const ok = statuses['200'] ?? 0;
  const base = { bench: 'server', endpoint: '/v1/encode', image: relative(ROOT, options.image), image_bytes: image.length, psic_bytes: psicBytes };
  print({ ...base, measure: 'settings', connections: options.connections, duration_s: result.duration, threads: health.pool.threads, max_queue: health.pool.maxQueue, backend: health.backend, load_avg: round(loadavg()[0], 2) });
  print({
    ...base,
    measure: 'latency_ms',
    p50: result.latency.p50,
    p90: result.latency.p90,
    p99: result.latency.p99,
    max: result.latency.max,
    mean: round(result.latency.average),
  });
  print({ ...base, measure: 'throughput', ok_per_s: round(ok / result.duration, 3), responses: Object.values(statuses).reduce((a, b) => a + b, 0), ok });
  print({ ...base, measure: 'statuses', ...statuses, errors: result.errors, timeouts: result.timeouts, resets: result.resets });
  print({ ...base, measure: 'memory', peak_rss_mb: round(peak / 1024 ** 2, 1), sampled_peak_rss_mb: round(peakSampled / 1024 ** 2, 1) });
  const pass = fiveXxNot503 === 0 && result.errors === 0 && result.timeouts === 0 && peak < RSS_LIMIT_BYTES && ok > 0;
  print({ ...base, measure: 'verdict', pass, five_xx_not_503: fiveXxNot503, errors: result.errors, timeouts: result.timeouts, peak_rss_under_1_5gb: peak < RSS_LIMIT_BYTES });
  process.exitCode = pass ? 0 : 1;
} catch (err) {
  process.stderr.write(`bench:server: ${err.message}\n--- server output ---\n${serverLog}\n`);
  process.exitCode = 1;
} finally {
  stopServer();
}

// ---------------------------------------------------------------- helpers

function print(object) {
  process.stdout.write(JSON.stringify(object) + '\n');
}

function round(x, digits = 1) {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** Current resident set of a process, bytes (worker threads included: they share the process). */
function rssOf(pid) {
  return statusField(pid, 'VmRSS');
}

/** The kernel's record of the process's peak resident set, bytes. */
function highWaterMark(pid) {
  return statusField(pid, 'VmHWM');
}

function statusField(pid, field) {
  try {
    const line = readFileSync(`/proc/${pid}/status`, 'utf8')
      .split('\n')
      .find((l) => l.startsWith(`${field}:`));
    return line ? Number(line.split(/\s+/)[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

function freePort() {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port: p } = srv.address();
      srv.close(() => resolvePort(p));
    });
  });
}

async function waitForServer(url, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (server.exitCode !== null) throw new Error(`server exited with ${server.exitCode}`);
    try {
      const res = await fetch(url);
      if (res.status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`server not ready after ${timeoutMs} ms`);
}

function parseArguments(argv) {
  const opts = { duration: 60, connections: 8, image: resolve(ROOT, '../shared/data/photos/kodim01.png'), threads: undefined, maxQueue: undefined };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    const int = () => {
      const n = Number(value);
      if (!Number.isInteger(n) || n <= 0) throw new Error(`${flag} needs a positive integer`);
      return n;
    };
    if (flag === '--duration') opts.duration = int();
    else if (flag === '--connections') opts.connections = int();
    else if (flag === '--threads') opts.threads = int();
    else if (flag === '--max-queue') opts.maxQueue = int();
    else if (flag === '--image') opts.image = resolve(value);
    else throw new Error(`unknown option ${flag}; see the comment at the top of tools/bench/server.mjs`);
  }
  return opts;
}
