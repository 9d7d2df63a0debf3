/** POST /v1/jobs (enqueue a folder) and GET /v1/jobs/:batch (progress, failures). */
import type { FastifyInstance } from 'fastify';
import { PsicError } from '@psic/entropy';
import { RetryableError } from '../errors.js';
import type { JobsService } from '../jobs.js';
import { errorSchema, modelNameSchema } from './schemas.js';
import { defaultModel } from './status.js';

const statusSchema = {
  type: 'object',
  properties: {
    batch: { type: 'string' },
    input: { type: 'string' },
    output: { type: 'string' },
    model: { type: 'string' },
    total: { type: 'integer' },
    done: { type: 'integer' },
    failed: { type: 'integer' },
    state: { type: 'string', enum: ['running', 'finished'] },
    created: { type: 'string' },
    failures: { type: 'array', items: { type: 'object', properties: { input: { type: 'string' }, error: { type: 'string' } } } },
    queue: { type: 'object', additionalProperties: { type: 'integer' } },
  },
} as const;

/** Redis being down is the server's temporary trouble (503), not the client's mistake. */
async function withRedis<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof PsicError) throw err;
    throw new RetryableError('NOT_READY', `the job queue is unreachable: ${(err as Error).message}`, 5);
  }
}

export async function jobRoutes(app: FastifyInstance): Promise<void> {
  const jobsFor = (needRoot: boolean): JobsService => {
    const jobs = app.psic.jobs;
    if (!jobs) throw new PsicError('JOBS_UNAVAILABLE', 'batch jobs are off: start the server with REDIS_URL (and PSIC_JOBS_ROOT)');
    if (needRoot && !jobs.canEnqueueFromHttp) throw new PsicError('JOBS_UNAVAILABLE', 'enqueueing over HTTP needs PSIC_JOBS_ROOT, the folder jobs may read and write');
    return jobs;
  };

  app.post<{ Body: { input: string; output: string; model?: string; batch?: string } }>(
    '/v1/jobs',
    {
      bodyLimit: 64 * 1024,
      schema: {
        tags: ['jobs'],
        summary: 'encode every image of a folder (paths relative to PSIC_JOBS_ROOT) into another, on the BullMQ workers',
        body: {
          type: 'object',
          required: ['input', 'output'],
          additionalProperties: false,
          properties: {
            input: { type: 'string', minLength: 1, maxLength: 4096 },
            output: { type: 'string', minLength: 1, maxLength: 4096 },
            model: modelNameSchema,
            batch: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$', description: 'reuse an id to make the request idempotent' },
          },
        },
        response: { 202: statusSchema, 400: errorSchema, 501: errorSchema, 503: errorSchema },
      },
    },
    async (request, reply) => {
      const jobs = jobsFor(true);
      const { input, output, batch } = request.body;
      const model = request.body.model ?? defaultModel(app.psic.catalogue.models);
      const status = await withRedis(() => jobs.enqueueFolder({ input, output, model, batch }));
      return reply.status(202).header('location', `/v1/jobs/${status.batch}`).send(status);
    },
  );

  app.get<{ Params: { batch: string } }>(
    '/v1/jobs/:batch',
    {
      schema: {
        tags: ['jobs'],
        summary: 'progress of a batch: done, failed (with the errors), state',
        params: { type: 'object', properties: { batch: { type: 'string' } } },
        response: { 200: statusSchema, 404: errorSchema, 501: errorSchema, 503: errorSchema },
      },
    },
    async (request) => withRedis(() => jobsFor(false).status(request.params.batch)),
  );
}
