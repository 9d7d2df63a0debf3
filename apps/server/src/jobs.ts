/**
 * Batch encoding on BullMQ (Redis). A batch is a folder: one queue job per
 * image, so any number of worker processes (worker.ts) on any machines that
 * see the same paths share the work. Delivery is at-least-once, so every
 * step is idempotent:
 *
 * - job ids are `<batch>-<index>`: enqueueing the same batch twice adds nothing;
 * - output names are fixed by the input name (`<stem>.psic`, or
 *   `<file name>.psic` when two inputs share a stem) and written by rename,
 *   so a re-run overwrites a whole file with the same bytes or skips it;
 * - progress is a Redis set of finished indexes (SADD twice counts once) and
 *   a hash of failures, next to the batch record.
 *
 * A worker killed mid-job (even SIGKILL) stops renewing its lock; after
 * `lockDuration` another worker's stalled-job check puts the job back in the
 * queue and it runs again.
 */
import { randomUUID } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { basename, extname, join, resolve, sep } from 'node:path';
import { Queue, type JobsOptions } from 'bullmq';
import { Redis } from 'ioredis';
import { listImages } from '@psic/core';
import { PsicError } from '@psic/entropy';
import type { ModelSummary } from './protocol.js';

export const JOB_QUEUE = 'psic-encode';
export const DEFAULT_QUEUE_PREFIX = 'psic';

export interface EncodeJobData {
  batch: string;
  index: number;
  input: string;
  output: string;
  model: string;
}

export interface BatchStatus {
  batch: string;
  input: string;
  output: string;
  model: string;
  total: number;
  done: number;
  failed: number;
  state: 'running' | 'finished';
  created: string;
  /** the first failures (input file and error), at most 50 */
  failures: { input: string; error: string }[];
  /** the whole queue, all batches: jobs waiting, running, retrying */
  queue: Record<string, number>;
}

export const JOB_OPTIONS: JobsOptions = {
  attempts: 3,
  backoff: { type: 'exponential', delay: 1000 },
  removeOnComplete: { age: 7 * 24 * 3600, count: 100_000 },
  removeOnFail: { age: 30 * 24 * 3600 },
};

const BATCH_ID = /^[A-Za-z0-9_-]{1,64}$/;

export interface JobsServiceOptions {
  redisUrl: string;
  /** BullMQ key prefix; default "psic" */
  prefix?: string;
  /** When set, inputs and outputs must lie inside it (the HTTP API sets it; the CLI does not). */
  jobsRoot?: string;
  /** When set, the model name is checked against it at enqueue time. */
  models?: ModelSummary[];
}

export class JobsService {
  readonly queue: Queue<EncodeJobData>;
  readonly redis: Redis;
  readonly prefix: string;
  private readonly queueConnection: Redis;

  constructor(private readonly opts: JobsServiceOptions) {
    this.prefix = opts.prefix ?? DEFAULT_QUEUE_PREFIX;
    this.redis = redisConnection(opts.redisUrl, { failFast: true });
    this.queueConnection = redisConnection(opts.redisUrl, { failFast: true });
    this.queue = new Queue<EncodeJobData>(JOB_QUEUE, { connection: this.queueConnection, prefix: this.prefix });
    // errors surface on the calls that hit them; an unconnected client must not crash the process
    this.queue.on('error', () => {});
  }

  get canEnqueueFromHttp(): boolean {
    return this.opts.jobsRoot !== undefined;
  }

  private key(batch: string, part = ''): string {
    return `${this.prefix}:batch:${batch}${part}`;
  }

  /** Queue every image directly inside `input`; outputs go to `output`. Returns the batch's status. */
  async enqueueFolder(req: { input: string; output: string; model: string; batch?: string }): Promise<BatchStatus> {
    const batch = req.batch ?? randomUUID();
    if (!BATCH_ID.test(batch)) throw new PsicError('BAD_REQUEST', 'batch id must be 1-64 characters of [A-Za-z0-9_-]');
    if (this.opts.models && !this.opts.models.some((m) => m.name === req.model)) {
      throw new PsicError('UNKNOWN_MODEL', `no model "${req.model}"; served: ${this.opts.models.map((m) => m.name).join(', ')}`);
    }
    const input = this.confine(req.input, 'input');
    const output = this.confine(req.output, 'output');
    const files = await listImages(input);
    const outputs = outputNames(files, output);
    await mkdir(output, { recursive: true });
    await this.redis.hset(this.key(batch), { input, output, model: req.model, total: String(files.length), created: new Date().toISOString() });
    const jobs = files.map((file, index) => ({
      name: 'encode',
      data: { batch, index, input: file, output: outputs[index], model: req.model },
      opts: { ...JOB_OPTIONS, jobId: `${batch}-${index}` },
    }));
    for (let i = 0; i < jobs.length; i += 500) await this.queue.addBulk(jobs.slice(i, i + 500));
    return this.status(batch);
  }

  async status(batch: string): Promise<BatchStatus> {
    if (!BATCH_ID.test(batch)) throw new PsicError('NOT_FOUND', `no batch "${batch}"`);
    const [record, done, failures, counts] = await Promise.all([
      this.redis.hgetall(this.key(batch)),
      this.redis.scard(this.key(batch, ':done')),
      this.redis.hgetall(this.key(batch, ':failed')),
      this.queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'failed'),
    ]);
    if (!record.total) throw new PsicError('NOT_FOUND', `no batch "${batch}"`);
    const total = Number(record.total);
    const failedEntries = Object.entries(failures).map(([input, error]) => ({ input, error }));
    // a job that failed before and then succeeded on a retry counts as done only
    const failed = failedEntries.length;
    return {
      batch,
      input: record.input,
      output: record.output,
      model: record.model,
      total,
      done,
      failed,
      state: done + failed >= total ? 'finished' : 'running',
      created: record.created,
      failures: failedEntries.slice(0, 50),
      queue: counts,
    };
  }

  /** Called by workers after the output file is in place (idempotent). */
  async markDone(job: EncodeJobData): Promise<void> {
    await this.redis.multi().sadd(this.key(job.batch, ':done'), String(job.index)).hdel(this.key(job.batch, ':failed'), job.input).exec();
  }

  /** Called by workers when a job has failed for good. */
  async markFailed(job: EncodeJobData, error: string): Promise<void> {
    const done = await this.redis.sismember(this.key(job.batch, ':done'), String(job.index));
    if (!done) await this.redis.hset(this.key(job.batch, ':failed'), job.input, error);
  }

  async close(): Promise<void> {
    await this.queue.close();
    // connections we passed in are ours to close
    this.queueConnection.disconnect();
    this.redis.disconnect();
  }

  private confine(path: string, what: string): string {
    if (typeof path !== 'string' || path.length === 0) throw new PsicError('BAD_REQUEST', `${what} must be a folder path`);
    const root = this.opts.jobsRoot;
    if (root === undefined) return resolve(path);
    const base = resolve(root);
    const full = resolve(base, path);
    if (full !== base && !full.startsWith(base + sep)) throw new PsicError('BAD_REQUEST', `${what} must be inside the jobs root (give a path relative to it)`);
    return full;
  }
}

/** `<stem>.psic` for each input, `<file name>.psic` for inputs whose stems collide (a.png + a.jpg). */
export function outputNames(files: string[], outDir: string): string[] {
  const stems = files.map((f) => basename(f, extname(f)));
  const count = new Map<string, number>();
  for (const s of stems) count.set(s, (count.get(s) ?? 0) + 1);
  return files.map((f, i) => join(outDir, `${count.get(stems[i])! > 1 ? basename(f) : stems[i]}.psic`));
}

/**
 * An ioredis connection as BullMQ wants it. `failFast`: commands fail after a
 * few retries instead of queueing forever (HTTP handlers, the CLI); workers
 * retry for ever (BullMQ requires maxRetriesPerRequest: null for them).
 */
export function redisConnection(url: string, opts: { failFast: boolean }): Redis {
  const client = new Redis(url, {
    maxRetriesPerRequest: opts.failFast ? 2 : null,
    enableOfflineQueue: true,
    connectTimeout: 5000,
    retryStrategy: (times) => Math.min(times * 200, 2000),
  });
  client.on('error', () => {}); // reported through the failing commands; don't crash on a reconnect
  return client;
}
