/**
 * A fixed set of inference threads behind a bounded queue.
 *
 * - At most `size` tasks run (one per thread) and at most `maxQueue` wait;
 *   one more is refused at once with BUSY and a Retry-After estimate, so load
 *   beyond capacity never becomes an unbounded backlog.
 * - A task that runs past its time budget gets TIME_BUDGET and its thread is
 *   terminated and replaced (tensor code can't be interrupted any other way).
 * - A thread that dies fails its task (INTERNAL) and is replaced; a thread
 *   that can't start three times running marks the pool broken.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { PsicError } from '@psic/entropy';
import { RetryableError } from './errors.js';
import type { InferenceWorkerOptions, LabelInfo, ModelSummary, Task, TaskResult, WorkerMessage } from './protocol.js';

export interface PoolOptions {
  size: number;
  maxQueue: number;
  taskTimeoutMs: number;
  worker: InferenceWorkerOptions;
}

export interface PoolInfo {
  backend: string;
  runtime: string;
  models: ModelSummary[];
  /** models of the folder that are not served, and why */
  skipped: { name: string; reason: string }[];
  labels: LabelInfo | null;
}

export interface PoolStats {
  threads: number;
  ready: number;
  busy: number;
  queued: number;
  maxQueue: number;
  completed: number;
  failed: number;
  restarts: number;
  /** threads replaced to give back the memory a large task left behind */
  recycled: number;
  meanTaskMs: number;
}

interface Pending {
  task: Task;
  transfer: ArrayBuffer[];
  resolve: (r: TaskResult) => void;
  reject: (e: Error) => void;
  timeoutMs: number;
}

interface Slot {
  worker: Worker;
  ready: boolean;
  current?: Pending & { id: number; timer: NodeJS.Timeout; started: number };
}

const MAX_START_FAILURES = 3;

export class InferencePool {
  private readonly slots = new Set<Slot>();
  private readonly queue: Pending[] = [];
  private nextId = 1;
  private closed = false;
  private startFailures = 0;
  private brokenReason: string | undefined;
  private info: PoolInfo | undefined;
  private readonly firstReady: Promise<PoolInfo>;
  private resolveFirstReady!: (info: PoolInfo) => void;
  private rejectFirstReady!: (err: Error) => void;
  private counts = { completed: 0, failed: 0, restarts: 0, recycled: 0, taskMs: 0 };

  constructor(private readonly opts: PoolOptions) {
    this.firstReady = new Promise((resolve, reject) => {
      this.resolveFirstReady = resolve;
      this.rejectFirstReady = reject;
    });
    this.firstReady.catch(() => {}); // observed by start(); avoid an unhandled rejection if nobody awaits
    for (let i = 0; i < opts.size; i++) this.spawn();
  }

  /** Resolves once one thread has loaded the models (the catalogue comes from it). */
  start(): Promise<PoolInfo> {
    return this.firstReady;
  }

  get catalogue(): PoolInfo | undefined {
    return this.info;
  }

  /** Run a task; rejects with BUSY (RetryableError) when the queue is full. */
  run<T extends TaskResult>(task: Task, opts: { transfer?: ArrayBuffer[]; timeoutMs?: number } = {}): Promise<T> {
    if (this.closed) return Promise.reject(new RetryableError('NOT_READY', 'the server is shutting down', 5));
    if (this.brokenReason) return Promise.reject(new RetryableError('NOT_READY', `inference is unavailable: ${this.brokenReason}`, 30));
    if (this.queue.length >= this.opts.maxQueue) {
      return Promise.reject(new RetryableError('BUSY', `all ${this.opts.size} inference threads are busy and ${this.queue.length} requests are waiting; retry later`, this.retryAfterSeconds()));
    }
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ task, transfer: opts.transfer ?? [], resolve: resolve as (r: TaskResult) => void, reject, timeoutMs: opts.timeoutMs ?? this.opts.taskTimeoutMs });
      this.dispatch();
    });
  }

  stats(): PoolStats {
    const slots = [...this.slots];
    const done = this.counts.completed + this.counts.failed;
    return {
      threads: this.opts.size,
      ready: slots.filter((s) => s.ready).length,
      busy: slots.filter((s) => s.current).length,
      queued: this.queue.length,
      maxQueue: this.opts.maxQueue,
      completed: this.counts.completed,
      failed: this.counts.failed,
      restarts: this.counts.restarts,
      recycled: this.counts.recycled,
      meanTaskMs: done ? this.counts.taskMs / done : 0,
    };
  }

  get broken(): string | undefined {
    return this.brokenReason;
  }

  /** Seconds until a queue slot is likely free: waiting + running work spread over the threads. */
  retryAfterSeconds(): number {
    const s = this.stats();
    const perTask = s.meanTaskMs || 1000;
    return Math.max(1, Math.ceil(((s.queued + s.busy) * perTask) / this.opts.size / 1000));
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const p of this.queue.splice(0)) p.reject(new RetryableError('NOT_READY', 'the server is shutting down', 5));
    this.rejectFirstReady(new PsicError('NOT_READY', 'the pool was closed before a thread was ready'));
    await Promise.all([...this.slots].map((s) => this.retire(s, new RetryableError('NOT_READY', 'the server is shutting down', 5))));
  }

  private spawn(): void {
    const worker = createInferenceWorker(this.opts.worker);
    const slot: Slot = { worker, ready: false };
    this.slots.add(slot);
    worker.on('message', (msg: WorkerMessage) => this.onMessage(slot, msg));
    worker.on('error', (err) => this.onExit(slot, `inference thread failed: ${err.message}`));
    worker.on('exit', (code) => this.onExit(slot, `inference thread exited (${code})`));
  }

  private onMessage(slot: Slot, msg: WorkerMessage): void {
    switch (msg.type) {
      case 'ready':
        slot.ready = true;
        this.startFailures = 0;
        if (!this.info) {
          this.info = { backend: msg.backend, runtime: msg.runtime, models: msg.models, skipped: msg.skipped, labels: msg.labels };
          this.resolveFirstReady(this.info);
        }
        this.dispatch();
        return;
      case 'fatal': {
        const err = new PsicError(msg.error.code, msg.error.message);
        if (!this.info) this.rejectFirstReady(err);
        this.startFailures = MAX_START_FAILURES; // a thread that can't load its models won't do better next time
        this.fail(`an inference thread could not start: ${msg.error.code}: ${msg.error.message}`);
        void this.retire(slot, err);
        return;
      }
      case 'result':
      case 'error': {
        const current = slot.current;
        if (!current || current.id !== msg.id) return; // answer of a task that already timed out
        clearTimeout(current.timer);
        slot.current = undefined;
        this.counts.taskMs += performance.now() - current.started;
        if (msg.type === 'result') {
          this.counts.completed++;
          current.resolve(msg.result);
        } else {
          this.counts.failed++;
          current.reject(new PsicError(msg.error.code, msg.error.message));
        }
        if (msg.recycle && !this.closed) {
          this.counts.recycled++;
          void this.retire(slot, new PsicError('INTERNAL', 'recycled'));
          this.spawn();
        }
        this.dispatch();
        return;
      }
    }
  }

  private onExit(slot: Slot, reason: string): void {
    if (!this.slots.has(slot)) return; // retired on purpose
    this.slots.delete(slot);
    if (slot.current) {
      clearTimeout(slot.current.timer);
      this.counts.failed++;
      slot.current.reject(new PsicError('INTERNAL', reason));
    }
    if (!slot.ready) this.startFailures++;
    if (this.startFailures >= MAX_START_FAILURES) {
      this.fail(reason);
      return;
    }
    this.replace();
  }

  private fail(reason: string): void {
    this.brokenReason ??= reason;
    if (!this.info) this.rejectFirstReady(new PsicError('NOT_READY', reason));
    for (const p of this.queue.splice(0)) p.reject(new RetryableError('NOT_READY', `inference is unavailable: ${reason}`, 30));
  }

  private replace(): void {
    if (this.closed || this.brokenReason) return;
    this.counts.restarts++;
    this.spawn();
  }

  /** Stop a thread: its task (if any) fails with `err`. */
  private async retire(slot: Slot, err: Error): Promise<void> {
    this.slots.delete(slot);
    if (slot.current) {
      clearTimeout(slot.current.timer);
      this.counts.failed++;
      slot.current.reject(err);
      slot.current = undefined;
    }
    await slot.worker.terminate();
  }

  private dispatch(): void {
    for (const slot of this.slots) {
      if (this.queue.length === 0) return;
      if (!slot.ready || slot.current) continue;
      const pending = this.queue.shift()!;
      const id = this.nextId++;
      const timer = setTimeout(() => {
        const budget = (pending.timeoutMs / 1000).toFixed(pending.timeoutMs < 1000 ? 3 : 0);
        void this.retire(slot, new PsicError('TIME_BUDGET', `the ${pending.task.kind} took longer than its ${budget} s budget`));
        this.replace();
        this.dispatch();
      }, pending.timeoutMs);
      slot.current = { ...pending, id, timer, started: performance.now() };
      try {
        slot.worker.postMessage({ id, task: pending.task }, pending.transfer);
      } catch (err) {
        clearTimeout(timer);
        slot.current = undefined;
        pending.reject(err as Error);
      }
    }
  }
}

/**
 * Start the thread: dist/inference-worker.js when running built, or the
 * TypeScript source through tsx's loader when running from src/ (tests, dev).
 */
function createInferenceWorker(workerData: InferenceWorkerOptions): Worker {
  const here = import.meta.url;
  if (here.endsWith('.ts')) {
    const entry = new URL('./inference-worker.ts', here).href;
    const tsxApi = pathToFileURL(createRequire(here).resolve('tsx/esm/api').replace(/\.cjs$/, '.mjs')).href;
    const boot = `import(${JSON.stringify(tsxApi)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); })`;
    return new Worker(boot, { eval: true, workerData });
  }
  const entry = new URL('./inference-worker.js', here);
  if (!existsSync(fileURLToPath(entry))) throw new Error(`missing ${fileURLToPath(entry)}: build @psic/server (npx tsup) first`);
  return new Worker(entry, { workerData });
}
