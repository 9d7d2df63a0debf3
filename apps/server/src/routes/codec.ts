/**
 * POST /v1/encode (image -> .psic), POST /v1/decode (.psic -> PNG) and
 * POST /v1/labels (image -> top-3 zero-shot labels). Each checks its body on
 * the event loop (format, header size, writer model), then hands the work to
 * an inference thread.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { PsicError } from '@psic/entropy';
import { QUALITY_MODELS } from '@psic/zoo';
import { inspectImage, inspectStream } from '../inspect.js';
import type { DecodeResult, EncodeResult, LabelsResult } from '../protocol.js';
import { binaryDoc, errorSchema, modelNameSchema, modeSchema } from './schemas.js';
import { defaultModel } from './status.js';

const KEY_HEADER = 'x-psic-key';
const MAX_KEY_LENGTH = 256;

const errors = { 400: errorSchema, 413: errorSchema, 415: errorSchema, 422: errorSchema, 503: errorSchema };

/** The body as a fresh, transferable copy (Fastify's buffer may share a pooled slab). */
function bodyBytes(request: FastifyRequest): Uint8Array {
  const body = request.body;
  if (!Buffer.isBuffer(body)) throw new PsicError('BAD_REQUEST', 'send the file bytes as the request body (any content type but application/json)');
  return new Uint8Array(body);
}

/** The key from X-PSIC-Key: printable ASCII, 1..256 characters. Never in the URL. */
export function keyFrom(request: FastifyRequest<{ Querystring: Record<string, unknown> }>): string | undefined {
  if ('key' in (request.query ?? {})) throw new PsicError('KEY_IN_URL', 'send the key in the X-PSIC-Key header, never in the URL (URLs end up in logs and histories)');
  const raw = request.headers[KEY_HEADER];
  if (raw === undefined) return undefined;
  const key = Array.isArray(raw) ? raw.join(',') : raw;
  if (key.length === 0 || key.length > MAX_KEY_LENGTH || !/^[\x20-\x7e]+$/.test(key)) {
    throw new PsicError('BAD_KEY', `X-PSIC-Key must be 1-${MAX_KEY_LENGTH} printable ASCII characters`);
  }
  return key;
}

export async function codecRoutes(app: FastifyInstance): Promise<void> {
  const { pool, limits } = app.psic;
  const models = () => app.psic.catalogue.models;

  function chooseModel(name: string | undefined, quality: number | undefined): string {
    if (name !== undefined && quality !== undefined) throw new PsicError('USAGE', 'give either model or quality, not both');
    if (quality !== undefined) {
      const byQuality = QUALITY_MODELS[quality - 1];
      if (!byQuality || !models().some((m) => m.name === byQuality)) throw new PsicError('USAGE', `quality must be 1..${QUALITY_MODELS.length}`);
      return byQuality;
    }
    if (name === undefined) return defaultModel(models());
    if (!models().some((m) => m.name === name)) throw new PsicError('UNKNOWN_MODEL', `no model "${name}"; served: ${models().map((m) => m.name).join(', ')}`);
    return name;
  }

  app.post<{ Querystring: { model?: string; quality?: number } }>(
    '/v1/encode',
    {
      bodyLimit: limits.maxImageBytes,
      schema: {
        tags: ['codec'],
        summary: 'compress an image (PNG, JPEG, WebP, AVIF, TIFF body) to a .psic stream',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { model: modelNameSchema, quality: { type: 'integer', minimum: 1, maximum: QUALITY_MODELS.length } },
        },
        response: errors,
      },
      config: { swaggerTransform: binaryDoc({ 'image/*': 'the image file' }, { 'application/octet-stream': 'the .psic stream; X-PSIC-Bpp, X-PSIC-Width/Height, X-PSIC-Model headers' }) },
    },
    async (request, reply) => {
      const image = bodyBytes(request);
      const model = chooseModel(request.query.model, request.query.quality);
      const info = await inspectImage(image, limits);
      const r = await pool.run<EncodeResult>({ kind: 'encode', image, model }, { transfer: [image.buffer as ArrayBuffer] });
      return reply
        .header('content-disposition', 'attachment; filename="image.psic"')
        .header('x-psic-model', r.model)
        .header('x-psic-width', String(r.width))
        .header('x-psic-height', String(r.height))
        .header('x-psic-bpp', ((r.stream.length * 8) / (r.width * r.height)).toFixed(4))
        .header('x-psic-input-format', info.format)
        .type('application/octet-stream')
        .send(Buffer.from(r.stream.buffer, r.stream.byteOffset, r.stream.byteLength));
    },
  );

  app.post<{ Querystring: { model?: string; mode?: string; key?: string } }>(
    '/v1/decode',
    {
      bodyLimit: limits.maxStreamBytes,
      schema: {
        tags: ['codec'],
        summary: 'decompress a .psic stream to PNG; mode protected (default) | full (key in X-PSIC-Key) | human | machine',
        description:
          'A plain model (no conditional decoder) decodes one way: protected, full or no mode give that image and X-PSIC-Mode: plain; other modes are 400 UNSUPPORTED_MODE. ' +
          'A conditional model decodes in the modes it lists in /v1/models (no mode: its default); a keyed mode (full) needs the key (400 KEY_REQUIRED), and a model that can check keys answers 403 WRONG_KEY.',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { model: modelNameSchema, mode: modeSchema, key: { type: 'string' } },
        },
        headers: { type: 'object', properties: { 'x-psic-key': { type: 'string', description: "the owner's key (mode=full); never logged" } } },
        response: { ...errors, 403: errorSchema },
      },
      config: { swaggerTransform: binaryDoc({ 'application/octet-stream': 'the .psic stream' }, { 'image/png': 'the decoded image; X-PSIC-Mode says which mode was produced' }) },
    },
    async (request, reply) => {
      const key = keyFrom(request as FastifyRequest<{ Querystring: Record<string, unknown> }>);
      const stream = bodyBytes(request);
      const { model } = inspectStream(stream, limits, models(), request.query.model);
      const r = await pool.run<DecodeResult>({ kind: 'decode', stream, model: model.name, mode: request.query.mode, key }, { transfer: [stream.buffer as ArrayBuffer] });
      return reply
        .header('x-psic-mode', r.mode)
        .header('x-psic-model', r.model)
        .header('x-psic-width', String(r.width))
        .header('x-psic-height', String(r.height))
        .header('cache-control', 'no-store')
        .type('image/png')
        .send(Buffer.from(r.png.buffer, r.png.byteOffset, r.png.byteLength));
    },
  );

  app.post(
    '/v1/labels',
    {
      bodyLimit: limits.maxImageBytes,
      schema: {
        tags: ['codec'],
        summary: "top-3 zero-shot labels of an image by the server's semantic target (what the attacked model sees); 501 when none is configured",
        response: {
          200: {
            type: 'object',
            properties: {
              target: { type: 'string' },
              labels: { type: 'array', items: { type: 'object', properties: { label: { type: 'string' }, score: { type: 'number' } } } },
            },
          },
          ...errors,
          501: errorSchema,
        },
      },
      config: { swaggerTransform: binaryDoc({ 'image/*': 'the image file' }, {}) },
    },
    async (request) => {
      if (!app.psic.catalogue.labels) throw new PsicError('LABELS_UNAVAILABLE', 'no semantic target is configured on this server (PSIC_LABEL_TARGET)');
      const image = bodyBytes(request);
      await inspectImage(image, limits);
      return pool.run<LabelsResult>({ kind: 'labels', image }, { transfer: [image.buffer as ArrayBuffer] });
    },
  );
}
