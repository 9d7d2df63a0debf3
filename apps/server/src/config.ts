/**
 * Server settings: embedded defaults that fit one modest machine, each
 * overridable by buildServer's options (tests) or an environment variable
 * (`npm run serve`, containers). Limits exist so no request can make the
 * server allocate, wait or compute without bound.
 */
import { availableParallelism } from 'node:os';
import { PsicError } from '@psic/entropy';

export interface ServerLimits {
  /** Largest image upload to /v1/encode and /v1/labels, bytes. */
  maxImageBytes: number;
  /** Largest .psic upload to /v1/decode, bytes. */
  maxStreamBytes: number;
  /** Largest width or height, of an uploaded image or a stream's header. */
  maxDimension: number;
  /** Largest width x height; bounds the float tensors one request may need. */
  maxPixels: number;
  /** Time budget of one inference task once a thread runs it (the thread is restarted past it), ms. */
  taskTimeoutMs: number;
  /** Time allowed to receive a whole request (slow clients get 408), ms. */
  requestTimeoutMs: number;
  /** Requests that may wait for an inference thread; one more gets 503 + Retry-After. */
  maxQueue: number;
  /**
   * A thread whose tensor heap (wasm memory, which never shrinks) has grown past
   * this after a task is replaced, giving the memory back: one large image must
   * not pin its peak for the life of the server. Bytes.
   */
  maxThreadHeapBytes: number;
}

export const DEFAULT_LIMITS: Readonly<ServerLimits> = Object.freeze({
  maxImageBytes: 32 * 1024 * 1024,
  maxStreamBytes: 8 * 1024 * 1024,
  maxDimension: 4096,
  maxPixels: 4 * 1024 * 1024,
  taskTimeoutMs: 60_000,
  requestTimeoutMs: 30_000,
  maxQueue: 16,
  maxThreadHeapBytes: 768 * 1024 * 1024,
});

export interface ServerOptions {
  limits?: Partial<ServerLimits>;
  /** Inference worker threads; default: one fewer than the cores, at least 1. */
  threads?: number;
  /** tfjs backend in the inference threads: auto, wasm, cpu, tensorflow (default auto / PSIC_BACKEND). */
  backend?: string;
  /** Folder of .safetensors + .json sidecars to serve; default: the models shipped in @psic/zoo. */
  modelsDir?: string;
  /**
   * Modules every inference thread imports before loading models, so they can
   * register backbones, adapters (@psic/cltg) or semantic targets (@psic/vlp).
   * Package names or absolute paths.
   */
  workerImports?: string[];
  /** Registered semantic target whose zero-shot labels the page shows; none: labels hidden. */
  labelTarget?: string;
  /** Options for the target's factory, e.g. { weights, config } for @psic/vlp's 'clip'. */
  labelTargetOptions?: Record<string, unknown>;
  /** Zero-shot label candidates (class names); default: a short list of everyday scenes and objects. */
  labelCandidates?: string[];
  /** Redis URL for /v1/jobs (BullMQ); none: the jobs endpoints answer 501. */
  redisUrl?: string;
  /** Folder under which /v1/jobs may read inputs and write outputs; required for jobs. */
  jobsRoot?: string;
  /** BullMQ key prefix (tests use a fresh one each run). */
  queuePrefix?: string;
  /** false: no logs; an object: merged into the default (JSON at info, key header redacted, query values stripped), e.g. { level, stream }. */
  logger?: false | Record<string, unknown>;
}

function integer(name: string, value: number | undefined): number | undefined {
  if (value !== undefined && !Number.isInteger(value)) throw new PsicError('BAD_CONFIG', `${name} must be a whole number (got ${value})`);
  return value;
}

function jsonObject(name: string, raw: string | undefined): Record<string, unknown> | undefined {
  if (raw === undefined || raw === '') return undefined;
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    throw new PsicError('BAD_CONFIG', `${name} must be a JSON object`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new PsicError('BAD_CONFIG', `${name} must be a JSON object`);
  return value as Record<string, unknown>;
}

export function defaultThreads(): number {
  return Math.max(1, Math.min(4, availableParallelism() - 1));
}

export function resolveLimits(partial: Partial<ServerLimits> = {}): ServerLimits {
  const limits = { ...DEFAULT_LIMITS, ...partial };
  for (const [k, v] of Object.entries(limits)) {
    if (!Number.isFinite(v) || v <= 0) throw new PsicError('BAD_CONFIG', `server limit ${k} must be a positive number (got ${v})`);
  }
  if (!Number.isInteger(limits.maxQueue)) throw new PsicError('BAD_CONFIG', `server limit maxQueue must be an integer (got ${limits.maxQueue})`);
  return limits;
}

/** Settings from the environment, for `npm run serve` and apps/server/dist/main.js. */
export function optionsFromEnv(env: Record<string, string | undefined> = process.env): ServerOptions & { port: number; host: string } {
  const num = (name: string): number | undefined => {
    const raw = env[name];
    if (raw === undefined || raw === '') return undefined;
    const n = Number(raw);
    if (!Number.isFinite(n) || n <= 0) throw new PsicError('BAD_CONFIG', `${name} must be a positive number (got ${raw})`);
    return n;
  };
  const list = (name: string): string[] | undefined =>
    env[name]
      ?.split(',')
      .map((s) => s.trim())
      .filter(Boolean);
  const limits: Partial<ServerLimits> = {};
  const fromEnv: [keyof ServerLimits, string][] = [
    ['maxImageBytes', 'PSIC_MAX_IMAGE_BYTES'],
    ['maxStreamBytes', 'PSIC_MAX_STREAM_BYTES'],
    ['maxDimension', 'PSIC_MAX_DIMENSION'],
    ['maxPixels', 'PSIC_MAX_PIXELS'],
    ['taskTimeoutMs', 'PSIC_TASK_TIMEOUT_MS'],
    ['requestTimeoutMs', 'PSIC_REQUEST_TIMEOUT_MS'],
    ['maxQueue', 'PSIC_MAX_QUEUE'],
    ['maxThreadHeapBytes', 'PSIC_MAX_THREAD_HEAP_BYTES'],
  ];
  for (const [key, name] of fromEnv) {
    const v = num(name);
    if (v !== undefined) limits[key] = v;
  }
  return {
    port: num('PORT') ?? 8080,
    host: env.HOST ?? '127.0.0.1',
    limits,
    threads: integer('PSIC_SERVER_THREADS', num('PSIC_SERVER_THREADS')),
    backend: env.PSIC_BACKEND,
    modelsDir: env.PSIC_MODELS_DIR,
    workerImports: list('PSIC_WORKER_IMPORTS'),
    labelTarget: env.PSIC_LABEL_TARGET || undefined,
    labelTargetOptions: jsonObject('PSIC_LABEL_OPTIONS', env.PSIC_LABEL_OPTIONS),
    labelCandidates: list('PSIC_LABEL_CANDIDATES'),
    redisUrl: env.REDIS_URL || undefined,
    jobsRoot: env.PSIC_JOBS_ROOT || undefined,
  };
}
