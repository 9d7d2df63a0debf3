/**
 * A BullMQ worker process's engine: takes encode jobs from the queue and runs
 * them on its own inference threads (so lock renewal on the event loop is
 * never starved by tensor work). Skips a job whose output already holds a
 * stream of the same model (a re-delivered job after a crash), marks
 * progress in the batch record, and fails bad inputs at once (no retries)
 * while retrying the server's own troubles.
 */
import { open } from 'node:fs/promises';
import { UnrecoverableError, Worker, type Job } from 'bullmq';
import { PsicError, PSIC_MAX_HEADER_BYTES, readContainerHeader } from '@psic/entropy';
import { defaultThreads, resolveLimits, type ServerLimits } from './config.js';
import { statusForCode } from './errors.js';
import { DEFAULT_QUEUE_PREFIX, JOB_QUEUE, JobsService, redisConnection, type EncodeJobData } from './jobs.js';
import { InferencePool } from './pool.js';
import type { EncodeFileResult, ModelSummary } from './protocol.js';

export interface JobWorkerOptions {
  redisUrl: string;
  prefix?: string;
  /** jobs run at once by this process; default: its inference threads */
  concurrency?: number;
  threads?: number;
  backend?: string;
  modelsDir?: string;
  workerImports?: string[];
  limits?: Partial<ServerLimits>;
  /** how long a job's lock lives without renewal: a killed worker's job is retried after this (default 30 s) */
  lockDurationMs?: number;
  /** how often this worker looks for jobs whose lock has expired (default 30 s) */
  stalledIntervalMs?: number;
  /** shown in BullMQ's records of who ran a job */
  name?: string;
  /** one JSON-able event per job step */
  log?: (event: Record<string, unknown>) => void;
}

export interface JobWorker {
  worker: Worker<EncodeJobData>;
  pool: InferencePool;
  close(): Promise<void>;
}

export async function startJobWorker(opts: JobWorkerOptions): Promise<JobWorker> {
  const log = opts.log ?? ((e) => process.stdout.write(`${JSON.stringify(e)}\n`));
  const limits = resolveLimits(opts.limits);
  const threads = opts.threads ?? defaultThreads();
  const concurrency = opts.concurrency ?? threads;
  const pool = new InferencePool({
    size: threads,
    maxQueue: concurrency,
    taskTimeoutMs: limits.taskTimeoutMs,
    worker: {
      backend: opts.backend,
      modelsDir: opts.modelsDir,
      imports: opts.workerImports ?? [],
      limits: { maxDimension: limits.maxDimension, maxPixels: limits.maxPixels },
      maxHeapBytes: limits.maxThreadHeapBytes,
    },
  });
  const { models } = await pool.start();
  const prefix = opts.prefix ?? DEFAULT_QUEUE_PREFIX;
  const book = new JobsService({ redisUrl: opts.redisUrl, prefix });
  const connection = redisConnection(opts.redisUrl, { failFast: false });

  const processor = async (job: Job<EncodeJobData>): Promise<EncodeFileResult | { output: string; skipped: true }> => {
    const data = job.data;
    const t0 = performance.now();
    log({ event: 'active', job: job.id, input: data.input, attempt: job.attemptsStarted ?? job.attemptsMade + 1, pid: process.pid });
    try {
      const model = models.find((m) => m.name === data.model);
      if (!model) throw new PsicError('UNKNOWN_MODEL', `this worker does not serve model "${data.model}"`);
      if (await holdsStreamOf(data.output, model)) {
        await book.markDone(data);
        log({ event: 'skipped', job: job.id, output: data.output, reason: 'output already written by this model' });
        return { output: data.output, skipped: true };
      }
      const result = await pool.run<EncodeFileResult>({ kind: 'encode-file', input: data.input, output: data.output, model: data.model });
      await book.markDone(data);
      log({ event: 'completed', job: job.id, output: data.output, bytes: result.bytes, ms: Math.round(performance.now() - t0), pid: process.pid });
      return result;
    } catch (err) {
      const code = err instanceof PsicError ? err.code : 'INTERNAL';
      const permanent = err instanceof PsicError && statusForCode(code) < 500;
      const lastAttempt = permanent || job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
      log({ event: 'failed', job: job.id, input: data.input, code, error: (err as Error).message, final: lastAttempt });
      if (lastAttempt) await book.markFailed(data, `${code}: ${(err as Error).message}`);
      throw permanent ? new UnrecoverableError(`${code}: ${(err as Error).message}`) : err;
    }
  };

  const worker = new Worker<EncodeJobData>(JOB_QUEUE, processor, {
    connection,
    prefix,
    concurrency,
    name: opts.name,
    lockDuration: opts.lockDurationMs ?? 30_000,
    stalledInterval: opts.stalledIntervalMs ?? 30_000,
    // a job may be orphaned by a few crashed workers before it counts as failed
    maxStalledCount: 3,
  });
  worker.on('error', (err) => log({ event: 'error', error: err.message }));
  await worker.waitUntilReady();
  log({ event: 'ready', pid: process.pid, threads, concurrency, models: models.map((m) => m.name) });

  return {
    worker,
    pool,
    async close() {
      await worker.close();
      await pool.close();
      await book.close();
      connection.disconnect();
    },
  };
}

/** Whether `path` already holds a complete .psic of this model (files appear only by rename, so existing = complete). */
async function holdsStreamOf(path: string, model: ModelSummary): Promise<boolean> {
  let file;
  try {
    file = await open(path, 'r');
  } catch {
    return false;
  }
  try {
    const head = new Uint8Array(PSIC_MAX_HEADER_BYTES);
    const { bytesRead } = await file.read(head, 0, head.length, 0);
    const header = readContainerHeader(head.subarray(0, bytesRead));
    return header.backbone === model.backbone && Buffer.from(header.fingerprint).toString('hex') === model.fingerprint;
  } catch {
    return false;
  } finally {
    await file.close();
  }
}
