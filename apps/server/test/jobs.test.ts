/**
 * Batch jobs on a real redis-server with two worker processes: a folder
 * enqueued over HTTP is encoded completely although the worker that took the
 * first image is SIGKILLed in the middle of it (the other re-runs it after
 * the lock expires); enqueueing the same batch again adds nothing; `psic
 * batch --wait` enqueues from the command line and reports completion.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { readContainer } from '@psic/entropy';
import { buildServer } from '../src/index.js';
import { assertKodak, KODAK, requireTool, SERVER_ROOT, startRedis, stopChild, tsNodeArgs, waitForLine, type RedisHandle } from './helpers.js';

const redisBin = requireTool('redis-server', 'redis-server', 'batch jobs test');
const IMAGES = ['kodim03.png', 'kodim05.png', 'kodim15.png', 'kodim20.png'];

interface WorkerProc {
  name: string;
  child: ChildProcess;
  events: Record<string, unknown>[];
}

describe.skipIf(!redisBin)('batch jobs on BullMQ', () => {
  let redis: RedisHandle;
  let app: FastifyInstance;
  let base: string;
  let root: string;
  const prefix = `psic-test-${process.pid}-${Date.now()}`;
  const workers: WorkerProc[] = [];

  function startWorker(name: string): WorkerProc {
    const child = spawn(process.execPath, tsNodeArgs('src/worker.ts'), {
      cwd: SERVER_ROOT,
      env: {
        ...process.env,
        REDIS_URL: redis.url,
        PSIC_QUEUE_PREFIX: prefix,
        PSIC_SERVER_THREADS: '1',
        PSIC_JOBS_LOCK_MS: '2000',
        PSIC_JOBS_STALLED_MS: '1000',
        PSIC_WORKER_NAME: name,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const proc: WorkerProc = { name, child, events: [] };
    let buf = '';
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      const lines = buf.split('\n');
      buf = lines.pop()!;
      for (const l of lines) if (l.startsWith('{')) proc.events.push(JSON.parse(l));
    });
    child.stderr!.on('data', (d: Buffer) => process.stderr.write(`[${name}] ${d}`));
    workers.push(proc);
    return proc;
  }

  beforeAll(async () => {
    assertKodak();
    redis = await startRedis(redisBin!);
    root = mkdtempSync(join(tmpdir(), 'psic-jobs-'));
    mkdirSync(join(root, 'in'));
    for (const f of IMAGES) copyFileSync(join(KODAK, f), join(root, 'in', f));
    const [a, b] = [startWorker('A'), startWorker('B')];
    [app] = await Promise.all([
      buildServer({ threads: 1, redisUrl: redis.url, jobsRoot: root, queuePrefix: prefix, logger: false }),
      waitForLine(a.child, /"event":"ready"/, 60_000, 'worker A'),
      waitForLine(b.child, /"event":"ready"/, 60_000, 'worker B'),
    ]);
    await app.listen({ port: 0, host: '127.0.0.1' });
    base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
  });

  afterAll(async () => {
    await Promise.all(workers.map((w) => stopChild(w.child)));
    await app?.close();
    await redis?.stop();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  async function status(batch: string) {
    return (await fetch(`${base}/v1/jobs/${batch}`)).json();
  }

  async function waitFinished(batch: string, timeoutMs: number) {
    const deadline = Date.now() + timeoutMs;
    let s = await status(batch);
    while (s.state !== 'finished' && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 250));
      s = await status(batch);
    }
    return s;
  }

  it('finishes every image although a worker is SIGKILLed mid-job', async () => {
    const res = await fetch(`${base}/v1/jobs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ input: 'in', output: 'out', batch: 'kodak-1' }),
    });
    expect(res.status).toBe(202);
    expect(await res.json()).toMatchObject({ batch: 'kodak-1', total: IMAGES.length, state: 'running' });

    // the first worker to start a job dies with it
    const victim = await new Promise<{ worker: WorkerProc; job: string; output: string }>((resolveVictim, reject) => {
      const timer = setTimeout(() => reject(new Error('no worker started a job within 30 s')), 30_000);
      const poll = setInterval(() => {
        for (const w of workers) {
          const active = w.events.find((e) => e.event === 'active');
          if (active) {
            clearInterval(poll);
            clearTimeout(timer);
            const index = Number(String(active.job).split('-').pop());
            const output = join(root, 'out', IMAGES[index].replace('.png', '.psic'));
            w.child.kill('SIGKILL');
            resolveVictim({ worker: w, job: String(active.job), output });
            return;
          }
        }
      }, 5);
    });
    // had the job already finished, the test would prove nothing
    expect(victim.worker.events.some((e) => e.event === 'completed' && e.job === victim.job)).toBe(false);
    expect(existsSync(victim.output)).toBe(false);

    const final = await waitFinished('kodak-1', 90_000);
    expect(final).toMatchObject({ total: IMAGES.length, done: IMAGES.length, failed: 0, state: 'finished' });
    const survivor = workers.find((w) => w !== victim.worker)!;
    expect(survivor.events.some((e) => e.event === 'completed' && e.job === victim.job)).toBe(true);
    // every output is a complete, valid stream, and the re-run one decodes to the photo
    const outputs = readdirSync(join(root, 'out')).sort();
    expect(outputs).toEqual(IMAGES.map((f) => f.replace('.png', '.psic')).sort());
    for (const f of outputs) expect(() => readContainer(readFileSync(join(root, 'out', f)))).not.toThrow();
    const dec = await fetch(`${base}/v1/decode`, { method: 'POST', body: readFileSync(victim.output) });
    expect(dec.status).toBe(200);
    const { info } = await sharp(Buffer.from(await dec.arrayBuffer())).toBuffer({ resolveWithObject: true });
    expect([info.width, info.height]).toEqual([768, 512]);
  });

  it('enqueueing the same batch again adds no work', async () => {
    const before = workers.find((w) => w.child.exitCode === null && w.child.signalCode === null)!.events.length;
    const res = await fetch(`${base}/v1/jobs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ input: 'in', output: 'out', batch: 'kodak-1' }),
    });
    expect(res.status).toBe(202);
    const s = await res.json();
    expect(s).toMatchObject({ done: IMAGES.length, state: 'finished' });
    expect(s.queue.waiting + s.queue.active).toBe(0);
    await new Promise((r) => setTimeout(r, 300));
    expect(workers.find((w) => w.child.exitCode === null && w.child.signalCode === null)!.events.length).toBe(before);
  });

  it('refuses paths outside the jobs root and reports unknown batches', async () => {
    const res = await fetch(`${base}/v1/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ input: '../..', output: 'out' }) });
    expect(res.status).toBe(400);
    expect((await res.json()).error.code).toBe('BAD_REQUEST');
    const missing = await fetch(`${base}/v1/jobs/nope`);
    expect(missing.status).toBe(404);
  });

  it('psic batch --wait enqueues a folder from the command line', async () => {
    const dir = join(root, 'cli-in');
    mkdirSync(dir);
    await sharp(join(KODAK, 'kodim01.png')).extract({ left: 0, top: 0, width: 128, height: 96 }).toFile(join(dir, 'a.png'));
    await sharp(join(KODAK, 'kodim02.png')).extract({ left: 0, top: 0, width: 128, height: 96 }).jpeg().toFile(join(dir, 'b.jpg'));
    const run = promisify(execFile);
    const { stdout } = await run(
      process.execPath,
      tsNodeArgs('test/fixtures/run-cli-command.ts', 'batch', dir, join(root, 'cli-out'), '--redis', redis.url, '--prefix', prefix, '--quality', '1', '--wait', '--json'),
      { cwd: SERVER_ROOT, timeout: 60_000 },
    );
    const lines = stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(lines[0]).toMatchObject({ queued: 2, model: 'hyperprior-q1' });
    expect(lines.at(-1)).toMatchObject({ state: 'finished', done: 2, failed: 0, total: 2 });
    expect(readdirSync(join(root, 'cli-out')).sort()).toEqual(['a.psic', 'b.psic']);
  });
});
