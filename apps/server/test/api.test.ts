/**
 * The HTTP API over a real socket: round trips with the shipped models, the
 * conditional decode path (modes, keys) through a stand-in adapter, labels
 * through a stand-in semantic target, and every documented bad input, each
 * answered with its 4xx in under a second while the server keeps serving.
 */
import { rmSync } from 'node:fs';
import { connect } from 'node:net';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { writeContainer } from '@psic/entropy';
import { buildServer } from '../src/index.js';
import { TEST_KEY } from './fixtures/plugins.js';
import { makeModelsDir } from './fixtures/models.js';
import { assertKodak, KODAK, PLUGINS, pngHeaderOnly } from './helpers.js';

let app: FastifyInstance;
let base: string;
let modelsDir: string;
const logs: string[] = [];
let kodim: Buffer;
let small: Buffer;

const LIMITS = { requestTimeoutMs: 600, maxImageBytes: 4 * 1024 * 1024, maxStreamBytes: 1024 * 1024 };

async function post(path: string, body: Uint8Array | string, headers: Record<string, string> = {}) {
  const t0 = performance.now();
  const res = await fetch(base + path, { method: 'POST', body: body as BodyInit, headers: { 'content-type': 'application/octet-stream', ...headers } });
  const bytes = Buffer.from(await res.arrayBuffer());
  return { res, bytes, ms: performance.now() - t0, json: () => JSON.parse(bytes.toString()) };
}

async function expectError(p: ReturnType<typeof post>, status: number, codes: string | string[]) {
  const r = await p;
  expect({ status: r.res.status, body: r.bytes.toString().slice(0, 300) }).toMatchObject({ status });
  expect([codes].flat()).toContain(r.json().error.code);
  expect(r.ms).toBeLessThan(1000);
  return r;
}

async function rgb(png: Uint8Array) {
  const { data, info } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height };
}

function psnr(a: Uint8Array, b: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += (a[i] - b[i]) ** 2;
  return 10 * Math.log10((255 * 255) / (sum / a.length));
}

beforeAll(async () => {
  assertKodak();
  modelsDir = await makeModelsDir();
  kodim = await readFile(join(KODAK, 'kodim23.png'));
  small = await sharp(kodim).extract({ left: 300, top: 100, width: 96, height: 80 }).png().toBuffer();
  app = await buildServer({
    threads: 1,
    modelsDir,
    workerImports: [PLUGINS],
    labelTarget: 'test-colours',
    labelCandidates: ['red', 'green', 'blue', 'grey'],
    limits: LIMITS,
    logger: { level: 'info', stream: { write: (line: string) => logs.push(line) } },
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const addr = app.server.address() as { port: number };
  base = `http://127.0.0.1:${addr.port}`;
});

afterAll(async () => {
  await app?.close();
  if (modelsDir) rmSync(modelsDir, { recursive: true, force: true });
});

describe('status and documents', () => {
  it('reports health, models with their modes, and the label target', async () => {
    const health = await (await fetch(`${base}/healthz`)).json();
    expect(health).toMatchObject({ status: 'ok', models: 3, labels: true, jobs: false, pool: { threads: 1, ready: 1 } });
    const models = await (await fetch(`${base}/v1/models`)).json();
    expect(models.default).toBe('hyperprior-q2');
    const byName = Object.fromEntries(models.models.map((m: { name: string }) => [m.name, m]));
    expect(byName['hyperprior-q1']).toMatchObject({ modes: [], quality: 1, backbone: 'bmshj2018-hyperprior' });
    expect(byName['hyperprior-q2']).toMatchObject({ modes: [], quality: 2 });
    expect(byName['locked-tiny']).toMatchObject({ modes: [{ name: 'protected', default: true }, { name: 'full', keyed: true }], quality: null });
    expect(byName['hyperprior-q2'].fingerprint).toMatch(/^[0-9a-f]{16}$/);
    expect(models.labels).toEqual({ target: 'test-colours', candidates: ['red', 'green', 'blue', 'grey'] });
  });

  it('serves the OpenAPI document, its UI and the page', async () => {
    const doc = await (await fetch(`${base}/docs/json`)).json();
    expect(doc.openapi).toMatch(/^3\./);
    for (const path of ['/v1/encode', '/v1/decode', '/v1/models', '/healthz', '/v1/jobs', '/v1/labels']) expect(Object.keys(doc.paths)).toContain(path);
    expect(Object.keys(doc.paths['/v1/encode'].post.requestBody.content)).toContain('image/*');
    const ui = await fetch(`${base}/docs`);
    expect(ui.status).toBe(200);
    const page = await fetch(`${base}/`);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    expect(await page.text()).toContain('<script type="module" src="/app.js">');
    expect((await fetch(`${base}/app.js`)).status).toBe(200);
    expect((await fetch(`${base}/nope`)).status).toBe(404);
  });
});

describe('encode and decode', () => {
  it('round-trips a Kodak image with the default model: PNG of the same size, plausible PSNR, bpp header = file size', async () => {
    const enc = await post('/v1/encode', kodim, { 'content-type': 'image/png' });
    expect(enc.res.status).toBe(200);
    expect(enc.res.headers.get('x-psic-model')).toBe('hyperprior-q2');
    expect(enc.bytes.subarray(0, 4).toString()).toBe('PSIC');
    expect(Number(enc.res.headers.get('x-psic-bpp'))).toBeCloseTo((enc.bytes.length * 8) / (768 * 512), 3);
    const dec = await post('/v1/decode', enc.bytes);
    expect(dec.res.status).toBe(200);
    expect(dec.res.headers.get('content-type')).toBe('image/png');
    expect(dec.res.headers.get('x-psic-mode')).toBe('plain');
    const [a, b] = await Promise.all([rgb(kodim), rgb(dec.bytes)]);
    expect([b.width, b.height]).toEqual([768, 512]);
    expect(psnr(a.data, b.data)).toBeGreaterThan(25);
    // a plain model decodes protected and full to the same image
    const full = await post('/v1/decode?mode=full', enc.bytes);
    expect(full.res.headers.get('x-psic-mode')).toBe('plain');
    expect(full.bytes.equals(dec.bytes)).toBe(true);
  });

  it('picks the model by quality, and refuses modes a plain model lacks', async () => {
    const q1 = await post('/v1/encode?quality=1', small);
    expect(q1.res.headers.get('x-psic-model')).toBe('hyperprior-q1');
    await expectError(post('/v1/decode?mode=human', q1.bytes), 400, 'UNSUPPORTED_MODE');
    await expectError(post('/v1/decode?model=hyperprior-q2', q1.bytes), 422, 'WRONG_MODEL');
    const ok = await post('/v1/decode?model=hyperprior-q1', q1.bytes);
    expect(ok.res.status).toBe(200);
  });
});

describe('conditional decode (stand-in adapter) and keys', () => {
  let stream: Buffer;
  beforeAll(async () => {
    const enc = await post('/v1/encode?model=locked-tiny', small);
    expect(enc.res.status).toBe(200);
    stream = enc.bytes;
  });

  it('decodes protected by default, full only with the right key', async () => {
    const prot = await post('/v1/decode', stream);
    expect(prot.res.headers.get('x-psic-mode')).toBe('protected');
    await expectError(post('/v1/decode?mode=full', stream), 400, 'KEY_REQUIRED');
    await expectError(post('/v1/decode?mode=full', stream, { 'x-psic-key': 'not the key' }), 403, 'WRONG_KEY');
    const full = await post('/v1/decode?mode=full', stream, { 'x-psic-key': TEST_KEY });
    expect(full.res.status).toBe(200);
    expect(full.res.headers.get('x-psic-mode')).toBe('full');
    const [p, f] = await Promise.all([rgb(prot.bytes), rgb(full.bytes)]);
    // the stand-in protects by inverting colours
    let worst = 0;
    for (let i = 0; i < p.data.length; i++) worst = Math.max(worst, Math.abs(p.data[i] + f.data[i] - 255));
    expect(worst).toBeLessThanOrEqual(1);
    await expectError(post('/v1/decode?mode=machine', stream), 400, 'UNSUPPORTED_MODE');
  });

  it('refuses keys in the URL and malformed keys, and never logs a key', async () => {
    await expectError(post(`/v1/decode?mode=full&key=${encodeURIComponent(TEST_KEY)}`, stream), 400, 'KEY_IN_URL');
    await expectError(post('/v1/decode?mode=full', stream, { 'x-psic-key': 'k'.repeat(300) }), 400, 'BAD_KEY');
    await expectError(post('/v1/decode?mode=full', stream, { 'x-psic-key': 'caf\u00e9' }), 400, 'BAD_KEY');
    const all = logs.join('');
    expect(all).toContain('/v1/decode'); // requests are logged...
    expect(all).not.toContain(TEST_KEY); // ...keys are not, neither from the header nor from the URL
    expect(all).not.toContain('not the key');
    expect(all).not.toContain('sesame');
  });
});

describe('labels (stand-in semantic target)', () => {
  it('gives the top-3 zero-shot labels', async () => {
    const red = await sharp({ create: { width: 48, height: 32, channels: 3, background: { r: 230, g: 20, b: 30 } } }).png().toBuffer();
    const r = await post('/v1/labels', red);
    expect(r.res.status).toBe(200);
    const { target, labels } = r.json();
    expect(target).toBe('test-colours');
    expect(labels).toHaveLength(3);
    expect(labels[0].label).toBe('red');
    expect(labels[0].score).toBeGreaterThan(labels[1].score);
  });
});

describe('bad inputs: documented 4xx within a second, server keeps serving', () => {
  it('POST /v1/encode', async () => {
    await expectError(post('/v1/encode', kodim.subarray(0, kodim.length >> 1)), 400, 'BAD_IMAGE');
    await expectError(post('/v1/encode', pngHeaderOnly(20000, 20000)), 413, 'IMAGE_TOO_LARGE');
    await expectError(post('/v1/encode', new Uint8Array(4096).map((_, i) => (i * 7919) % 251)), 415, 'UNSUPPORTED_FORMAT');
    await expectError(post('/v1/encode', Buffer.from('GIF89a\x01\x00\x01\x00\x00\x00\x00;', 'latin1')), 415, 'UNSUPPORTED_FORMAT');
    await expectError(post('/v1/encode', '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>', { 'content-type': 'image/svg+xml' }), 415, 'UNSUPPORTED_FORMAT');
    await expectError(post('/v1/encode', new Uint8Array(0)), 400, 'BAD_IMAGE');
    await expectError(post('/v1/encode?model=nope', small), 400, 'UNKNOWN_MODEL');
    await expectError(post('/v1/encode?quality=9', small), 400, 'BAD_REQUEST');
    await expectError(post('/v1/encode?colour=red', small), 400, 'BAD_REQUEST');
    await expectError(post('/v1/encode', new Uint8Array(LIMITS.maxImageBytes + 1)), 413, 'BODY_TOO_LARGE');
  });

  it('POST /v1/decode', async () => {
    const enc = await post('/v1/encode', small);
    const stream = enc.bytes;
    await expectError(post('/v1/decode', new Uint8Array(2048).map((_, i) => (i * 31337) % 253)), 400, 'BAD_MAGIC');
    await expectError(post('/v1/decode', stream.subarray(0, stream.length - 9)), 400, ['TRUNCATED', 'MALFORMED', 'CHECKSUM']);
    await expectError(post('/v1/decode', stream.subarray(0, 12)), 400, ['TRUNCATED', 'MALFORMED']);
    const flipped = Buffer.from(stream);
    flipped[flipped.length - 20] ^= 0x5a;
    await expectError(post('/v1/decode', flipped), 400, ['CHECKSUM', 'CORRUPT_STREAM']);
    const fingerprint = Buffer.from(await modelFingerprint('hyperprior-q2'), 'hex');
    const huge = writeContainer({ backbone: 'bmshj2018-hyperprior', fingerprint, height: 20000, width: 20000, sections: [new Uint8Array(8), new Uint8Array(8)] }, { maxPixels: 2 ** 30 });
    await expectError(post('/v1/decode', huge), 413, 'TOO_LARGE');
    const foreign = writeContainer({ backbone: 'bmshj2018-hyperprior', fingerprint: new Uint8Array(8).fill(7), height: 80, width: 96, sections: [new Uint8Array(8), new Uint8Array(8)] });
    await expectError(post('/v1/decode', foreign), 422, 'WRONG_MODEL');
    await expectError(post('/v1/decode?mode=sideways', stream), 400, 'UNSUPPORTED_MODE');
    await expectError(post('/v1/decode?mode=NOT%20A%20MODE', stream), 400, 'BAD_REQUEST');
    await expectError(post('/v1/decode', new Uint8Array(LIMITS.maxStreamBytes + 1)), 413, 'BODY_TOO_LARGE');
  });

  it('POST /v1/labels and /v1/jobs', async () => {
    await expectError(post('/v1/labels', pngHeaderOnly(20000, 20000)), 413, 'IMAGE_TOO_LARGE');
    await expectError(post('/v1/labels', new Uint8Array(100).fill(3)), 415, 'UNSUPPORTED_FORMAT');
    await expectError(post('/v1/labels', kodim.subarray(0, 5000)), 400, 'BAD_IMAGE');
    await expectError(post('/v1/jobs', JSON.stringify({ input: 'a', output: 'b' }), { 'content-type': 'application/json' }), 501, 'JOBS_UNAVAILABLE');
  });

  it('a body announced as huge is refused before it is read', async () => {
    const reply = await rawExchange(`POST /v1/encode HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: ${10 * 1024 ** 3}\r\n\r\n`, 'PNG');
    expect(reply.text).toMatch(/^HTTP\/1.1 413/);
    expect(reply.text).toContain('BODY_TOO_LARGE');
    expect(reply.ms).toBeLessThan(1000);
  });

  it('a slow client gets 408 once the request time is up, while others are served', async () => {
    const slow = rawExchange(`POST /v1/encode HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: 100000\r\n\r\n`, 'only a few bytes, then silence');
    const t0 = performance.now();
    const health = await fetch(`${base}/healthz`);
    expect(health.status).toBe(200);
    expect(performance.now() - t0).toBeLessThan(500);
    const reply = await slow;
    expect(reply.text).toMatch(/^HTTP\/1.1 408/);
    expect(reply.text).toContain('REQUEST_TIMEOUT');
    expect(reply.ms).toBeLessThan(1000); // 600 ms limit + the 150 ms check interval
    // slow headers (slowloris) get the same
    const headers = await rawExchange('POST /v1/encode HTTP/1.1\r\nHost: x\r\n', 'X-Slow: 1\r\n');
    expect(headers.text).toMatch(/^HTTP\/1.1 408/);
  });

  it('still serves after all of the above', async () => {
    const health = await (await fetch(`${base}/healthz`)).json();
    expect(health).toMatchObject({ status: 'ok', pool: { ready: 1, restarts: 0 } });
    const enc = await post('/v1/encode', small);
    expect(enc.res.status).toBe(200);
    expect((await post('/v1/decode', enc.bytes)).res.status).toBe(200);
  });
});

async function modelFingerprint(name: string): Promise<string> {
  const models = await (await fetch(`${base}/v1/models`)).json();
  return models.models.find((m: { name: string }) => m.name === name).fingerprint;
}

/** Send raw bytes (head, then `body`, then nothing more) and collect what comes back until the server closes. */
function rawExchange(head: string, body: string): Promise<{ text: string; ms: number }> {
  const { port } = app.server.address() as { port: number };
  return new Promise((resolveReply, reject) => {
    const t0 = performance.now();
    const socket = connect(port, '127.0.0.1', () => {
      socket.write(head);
      socket.write(body);
    });
    let text = '';
    socket.on('data', (d) => (text += d.toString()));
    socket.on('close', () => resolveReply({ text, ms: performance.now() - t0 }));
    socket.on('error', (err) => (text ? resolveReply({ text, ms: performance.now() - t0 }) : reject(err)));
    socket.setTimeout(10_000, () => socket.destroy(new Error('no answer within 10 s')));
  });
}
