/** GET /healthz and GET /v1/models. */
import type { FastifyInstance } from 'fastify';
import { DEFAULT_MODEL, QUALITY_MODELS } from '@psic/zoo';
import type { ModelSummary } from '../protocol.js';

export function defaultModel(models: ModelSummary[]): string {
  return models.some((m) => m.name === DEFAULT_MODEL) ? DEFAULT_MODEL : models[0].name;
}

export async function statusRoutes(app: FastifyInstance): Promise<void> {
  app.get(
    '/healthz',
    {
      schema: {
        tags: ['status'],
        summary: 'liveness and load: 200 when inference threads are up, 503 when inference is broken',
        response: {
          200: { type: 'object', additionalProperties: true },
          503: { type: 'object', additionalProperties: true },
        },
      },
    },
    async (_req, reply) => {
      const { pool, catalogue, jobs } = app.psic;
      const stats = pool.stats();
      const broken = pool.broken;
      return reply.status(broken ? 503 : 200).send({
        status: broken ? 'broken' : stats.ready > 0 ? 'ok' : 'starting',
        ...(broken ? { reason: broken } : {}),
        backend: catalogue.backend,
        runtime: catalogue.runtime,
        ...(catalogue.skipped.length ? { skipped: catalogue.skipped } : {}),
        models: catalogue.models.length,
        labels: catalogue.labels !== null,
        jobs: jobs !== undefined,
        pool: stats,
        rssBytes: process.memoryUsage.rss(),
      });
    },
  );

  app.get(
    '/v1/models',
    {
      schema: {
        tags: ['status'],
        summary: 'served models, their decode modes and the zero-shot label target (null: no labels)',
        response: {
          200: {
            type: 'object',
            properties: {
              default: { type: 'string' },
              models: {
                type: 'array',
                items: {
                  type: 'object',
                  properties: {
                    name: { type: 'string' },
                    backbone: { type: 'string' },
                    fingerprint: { type: 'string' },
                    quality: { type: ['integer', 'null'] },
                    modes: { type: 'array', items: { type: 'object', properties: { name: { type: 'string' }, default: { type: 'boolean' }, keyed: { type: 'boolean' } } } },
                    config: { type: 'object', additionalProperties: true },
                    sidecar: { type: 'object', additionalProperties: true },
                  },
                },
              },
              labels: { type: ['object', 'null'], properties: { target: { type: 'string' }, candidates: { type: 'array', items: { type: 'string' } } } },
            },
          },
        },
      },
    },
    async () => {
      const { catalogue } = app.psic;
      return {
        default: defaultModel(catalogue.models),
        models: catalogue.models.map((m) => ({ ...m, quality: QUALITY_MODELS.includes(m.name) ? QUALITY_MODELS.indexOf(m.name) + 1 : null })),
        labels: catalogue.labels,
      };
    },
  );
}
