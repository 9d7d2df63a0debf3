/**
 * Capacity limits: with one inference thread and a queue of one, extra
 * requests get 503 + Retry-After at once (no unbounded backlog); a task past
 * its time budget gets 422 TIME_BUDGET, its thread is replaced, and the
 * server goes on serving. A thread whose tensor heap outgrew its budget
 * (here: any) is replaced after answering, to give the memory back.
 */
import sharp from 'sharp';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { buildServer } from '../src/index.js';

let app: FastifyInstance;
let base: string;
let big: Buffer;
let tiny: Buffer;

beforeAll(async () => {
  // noise compresses badly and takes the whole 4-megapixel budget: seconds of work on any CPU
  const noise = Buffer.alloc(2048 * 2048 * 3);
  for (let i = 0, s = 1; i < noise.length; i++) noise[i] = (s = (s * 1103515245 + 12345) >>> 0) >>> 24;
  big = await sharp(noise, { raw: { width: 2048, height: 2048, channels: 3 } }).png({ compressionLevel: 1 }).toBuffer();
  tiny = await sharp({ create: { width: 32, height: 32, channels: 3, background: { r: 40, g: 120, b: 200 } } }).png().toBuffer();
  app = await buildServer({ threads: 1, backend: 'wasm', limits: { maxQueue: 1, taskTimeoutMs: 1000, maxThreadHeapBytes: 1 }, logger: false });
  await app.listen({ port: 0, host: '127.0.0.1' });
  base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
});

afterAll(async () => {
  await app?.close();
});

async function encode(body: Buffer) {
  const t0 = performance.now();
  const res = await fetch(`${base}/v1/encode`, { method: 'POST', body: body as unknown as BodyInit, headers: { 'content-type': 'image/png' } });
  const json = res.headers.get('content-type')?.includes('json') ? await res.json() : (await res.arrayBuffer(), undefined);
  return { status: res.status, code: json?.error?.code as string | undefined, retryAfter: res.headers.get('retry-after'), ms: performance.now() - t0 };
}

it('answers 503 + Retry-After beyond the queue and 422 past the time budget, then recovers', async () => {
  const results = await Promise.all([encode(big), encode(big), encode(big), encode(big)]);
  const busy = results.filter((r) => r.status === 503);
  const overBudget = results.filter((r) => r.status === 422);
  expect(results.every((r) => r.status === 503 || r.status === 422), JSON.stringify(results)).toBe(true);
  expect(busy.length).toBeGreaterThanOrEqual(1);
  for (const r of busy) {
    expect(r.code).toBe('BUSY');
    expect(Number(r.retryAfter)).toBeGreaterThanOrEqual(1);
    expect(r.ms).toBeLessThan(1000);
  }
  expect(overBudget.length).toBeGreaterThanOrEqual(1);
  for (const r of overBudget) expect(r.code).toBe('TIME_BUDGET');

  // the replaced thread comes back and small work fits the budget again
  const deadline = Date.now() + 60_000;
  let health;
  do {
    await new Promise((r) => setTimeout(r, 200));
    health = await (await fetch(`${base}/healthz`)).json();
  } while ((health.pool.ready < 1 || health.pool.busy > 0 || health.pool.queued > 0) && Date.now() < deadline);
  expect(health).toMatchObject({ status: 'ok', pool: { ready: 1 } });
  expect(health.pool.restarts).toBeGreaterThanOrEqual(1);
  // on a loaded machine the fresh thread's first task can still be warming up (wasm compile): allow a retry
  let ok = await encode(tiny);
  for (let attempt = 1; attempt < 3 && ok.status === 422; attempt++) ok = await encode(tiny);
  expect(ok.status).toBe(200);
  const after = await (await fetch(`${base}/healthz`)).json();
  expect(after.pool.recycled).toBeGreaterThanOrEqual(1);
});
