/** JSON schemas shared by the routes (validation and the OpenAPI document at /docs). */
import type { FastifySchema } from 'fastify';
import type { SwaggerTransform } from '@fastify/swagger';
import { DECODE_MODES, MODE_PATTERN } from '../protocol.js';

export const errorSchema = {
  type: 'object',
  properties: { error: { type: 'object', properties: { code: { type: 'string' }, message: { type: 'string' } } } },
} as const;

/** Names of shipped or user models: the registry's alphabet. */
export const modelNameSchema = { type: 'string', pattern: '^[A-Za-z0-9._-]{1,64}$' } as const;

export const modeSchema = { type: 'string', pattern: MODE_PATTERN, description: `a mode of the model (${DECODE_MODES.join(', ')}, ...); default: its default mode` } as const;

/**
 * Raw-byte bodies and responses can't be JSON-validated by Fastify; this
 * per-route transform puts them in the OpenAPI document only.
 */
export function binaryDoc(request: Record<string, string>, response: Record<string, string>): SwaggerTransform<FastifySchema> {
  return ({ schema, url }) => ({
    url,
    schema: {
      ...schema,
      body: { content: Object.fromEntries(Object.entries(request).map(([type, description]) => [type, { schema: { type: 'string', format: 'binary', description } }])) },
      response:
        Object.keys(response).length === 0
          ? schema.response
          : {
              ...(schema.response as Record<string, unknown>),
              200: {
                description: 'OK',
                content: Object.fromEntries(Object.entries(response).map(([type, description]) => [type, { schema: { type: 'string', format: 'binary', description } }])),
              },
            },
    },
  });
}
