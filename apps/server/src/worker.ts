/**
 * `node apps/server/dist/worker.js`: one batch worker process. Start as many
 * as you like, on any machines that reach the same Redis and see the same
 * paths. Settings: REDIS_URL (required), PSIC_WORKER_CONCURRENCY,
 * PSIC_SERVER_THREADS, PSIC_JOBS_LOCK_MS, PSIC_JOBS_STALLED_MS,
 * PSIC_QUEUE_PREFIX, PSIC_MODELS_DIR, PSIC_WORKER_IMPORTS, PSIC_MAX_*.
 * Events are JSON lines on stdout. SIGTERM / SIGINT finish the running jobs,
 * then exit; after SIGKILL the running jobs are re-run by another worker.
 */
import { PsicError } from '@psic/entropy';
import { optionsFromEnv } from './config.js';
import { startJobWorker } from './job-worker.js';

async function main(): Promise<void> {
  const env = process.env;
  const opts = optionsFromEnv(env);
  if (!opts.redisUrl) throw new PsicError('BAD_CONFIG', 'set REDIS_URL, e.g. redis://127.0.0.1:6379');
  const positive = (name: string): number | undefined => {
    const v = env[name];
    if (v === undefined || v === '') return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n <= 0) throw new PsicError('BAD_CONFIG', `${name} must be a positive integer (got ${v})`);
    return n;
  };
  const w = await startJobWorker({
    redisUrl: opts.redisUrl,
    prefix: env.PSIC_QUEUE_PREFIX || undefined,
    concurrency: positive('PSIC_WORKER_CONCURRENCY'),
    threads: opts.threads,
    backend: opts.backend,
    modelsDir: opts.modelsDir,
    workerImports: opts.workerImports,
    limits: opts.limits,
    lockDurationMs: positive('PSIC_JOBS_LOCK_MS'),
    stalledIntervalMs: positive('PSIC_JOBS_STALLED_MS'),
    name: env.PSIC_WORKER_NAME || `worker-${process.pid}`,
  });
  const stop = async () => {
    await w.close();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
}

main().catch((err: unknown) => {
  process.stderr.write(err instanceof PsicError ? `psic-worker: ${err.code}: ${err.message}\n` : `psic-worker: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exit(1);
});
