/**
 * buildServer(opts): the whole HTTP service as a Fastify instance, ready to
 * `listen` (main.ts) or to be driven by `inject` / a real socket in tests.
 * It starts the inference threads and waits until they have loaded the
 * models, so the first request is served warm.
 */
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { PsicError } from '@psic/entropy';
import { defaultThreads, resolveLimits, type ServerLimits, type ServerOptions } from './config.js';
import { codeForFrameworkError, documentedCodes, RetryableError, statusForCode, type ErrorBody } from './errors.js';
import { JobsService } from './jobs.js';
import { InferencePool, type PoolInfo } from './pool.js';
import { codecRoutes } from './routes/codec.js';
import { jobRoutes } from './routes/jobs.js';
import { pageRoutes } from './routes/page.js';
import { statusRoutes } from './routes/status.js';

/** What every route module gets. */
export interface AppContext {
  pool: InferencePool;
  catalogue: PoolInfo;
  limits: ServerLimits;
  jobs: JobsService | undefined;
}

declare module 'fastify' {
  interface FastifyInstance {
    psic: AppContext;
  }
}

const KEY_HEADER = 'x-psic-key';

export async function buildServer(opts: ServerOptions = {}): Promise<FastifyInstance> {
  const limits = resolveLimits(opts.limits);
  const threads = opts.threads ?? defaultThreads();
  if (!Number.isInteger(threads) || threads < 1) throw new PsicError('BAD_CONFIG', `threads must be a whole number >= 1 (got ${threads})`);
  const pool = new InferencePool({
    size: threads,
    maxQueue: limits.maxQueue,
    taskTimeoutMs: limits.taskTimeoutMs,
    worker: {
      backend: opts.backend,
      modelsDir: opts.modelsDir,
      imports: opts.workerImports ?? [],
      labelTarget: opts.labelTarget,
      labelTargetOptions: opts.labelTargetOptions,
      labelCandidates: opts.labelCandidates,
      limits: { maxDimension: limits.maxDimension, maxPixels: limits.maxPixels },
      maxHeapBytes: limits.maxThreadHeapBytes,
    },
  });
  let catalogue: PoolInfo;
  try {
    catalogue = await pool.start();
  } catch (err) {
    await pool.close();
    throw err;
  }
  const jobs = opts.redisUrl ? new JobsService({ redisUrl: opts.redisUrl, jobsRoot: opts.jobsRoot, prefix: opts.queuePrefix, models: catalogue.models }) : undefined;

  const app = Fastify({
    logger:
      opts.logger === false
        ? false
        : {
            level: 'info',
            // the key travels in a header and is never written anywhere; URLs are logged without their query values
            redact: [`req.headers["${KEY_HEADER}"]`],
            serializers: { req: (req: { method: string; url: string; ip?: string }) => ({ method: req.method, url: stripQueryValues(req.url), ip: req.ip }) },
            ...(typeof opts.logger === 'object' ? opts.logger : {}),
          },
    bodyLimit: Math.max(limits.maxImageBytes, limits.maxStreamBytes),
    requestTimeout: limits.requestTimeoutMs,
    // Node checks request timeouts on this interval (30 s by default): check often enough to honour short limits
    http: { connectionsCheckingInterval: Math.max(100, Math.min(1000, Math.floor(limits.requestTimeoutMs / 4))), headersTimeout: Math.min(limits.requestTimeoutMs, 60_000) },
    ajv: { customOptions: { removeAdditional: false, coerceTypes: true } },
    clientErrorHandler: answerClientError,
  });
  app.decorate('psic', { pool, catalogue, limits, jobs });
  // the threads and Redis connections live as long as the app: app.close() ends them (also after a failed start)
  app.addHook('onClose', async () => {
    await pool.close();
    await jobs?.close();
  });

  // every body that isn't JSON is raw bytes (images, .psic streams); the route decides what it accepts
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  app.setErrorHandler((err: FastifyError | PsicError, request, reply) => {
    const code = err instanceof PsicError ? err.code : codeForFrameworkError(err as FastifyError) ?? 'INTERNAL';
    const status = statusForCode(code);
    if (err instanceof RetryableError) reply.header('retry-after', String(err.retryAfterSeconds));
    if (status >= 500 && status !== 503) request.log.error({ err }, 'request failed');
    const message = status >= 500 && status !== 503 ? 'internal error (logged on the server)' : err.message;
    const body: ErrorBody = { error: { code, message } };
    return reply.status(status).type('application/json').send(body);
  });
  app.setNotFoundHandler((request, reply) => {
    const body: ErrorBody = { error: { code: 'NOT_FOUND', message: `no route ${request.method} ${stripQueryValues(request.url)}` } };
    return reply.status(404).send(body);
  });

  try {
    await registerRoutes(app);
  } catch (err) {
    await app.close();
    throw err;
  }
  return app;
}

async function registerRoutes(app: FastifyInstance): Promise<void> {
  await app.register(swagger, {
    openapi: {
      info: {
        title: 'PSIC protection service',
        version: '0.1.0',
        description:
          'Encode images to .psic streams and decode them (protected by default, full with the owner\'s key in the X-PSIC-Key header). ' +
          `Errors are JSON {error: {code, message}}; codes and statuses: ${Object.entries(documentedCodes())
            .map(([c, s]) => `${c} ${s}`)
            .join(', ')}.`,
      },
      tags: [
        { name: 'codec', description: 'encode and decode' },
        { name: 'jobs', description: 'batch jobs on BullMQ' },
        { name: 'status', description: 'models and health' },
      ],
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  await app.register(statusRoutes);
  await app.register(codecRoutes);
  await app.register(jobRoutes);
  await app.register(pageRoutes);
}

/**
 * Errors Node raises before a request exists (slow client past requestTimeout,
 * oversized headers, garbage instead of HTTP): answered in our JSON format,
 * then the connection is closed.
 */
function answerClientError(err: NodeJS.ErrnoException, socket: import('node:net').Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, code, message] =
    err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? [408, 'REQUEST_TIMEOUT', 'the request was not received in time']
      : err.code === 'HPE_HEADER_OVERFLOW'
        ? [431, 'BAD_REQUEST', 'request headers are too large']
        : [400, 'BAD_REQUEST', 'malformed HTTP request'];
  const body = JSON.stringify({ error: { code, message } } satisfies ErrorBody);
  if (socket.writable) {
    socket.write(`HTTP/1.1 ${status} ${status === 408 ? 'Request Timeout' : status === 431 ? 'Request Header Fields Too Large' : 'Bad Request'}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n${body}`);
  }
  socket.destroy();
}

/** "/v1/decode?mode=full&key=x" -> "/v1/decode?mode=…&key=…": logs keep the parameter names, never values. */
export function stripQueryValues(url: string): string {
  const q = url.indexOf('?');
  if (q < 0) return url;
  const names = url
    .slice(q + 1)
    .split('&')
    .map((pair) => `${pair.split('=')[0]}=…`);
  return `${url.slice(0, q)}?${names.join('&')}`;
}
