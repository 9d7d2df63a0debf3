/**
 * Cheap checks on the event loop before a request takes a queue slot: is the
 * body an image format we decode, how big does its header say it is, which
 * served model wrote this .psic. Nothing here decodes pixels or entropy
 * streams (sharp reads headers on libuv's pool; the .psic header is a few
 * bytes), so a hostile body is refused in milliseconds even when every
 * inference thread is busy.
 */
import sharp from 'sharp';
import { PsicError, readContainerHeader, type PsicHeader } from '@psic/entropy';
import type { ServerLimits } from './config.js';
import type { ModelSummary } from './protocol.js';

/** sharp's format names we accept; GIF, SVG, PDF, raw and the rest are refused. */
const ACCEPTED_FORMATS = new Set(['png', 'jpeg', 'webp', 'tiff', 'heif']);

export interface ImageInfo {
  format: string;
  width: number;
  height: number;
}

export async function inspectImage(body: Uint8Array, limits: ServerLimits): Promise<ImageInfo> {
  if (body.length === 0) throw new PsicError('BAD_IMAGE', 'empty body: send the image bytes as the request body');
  let meta: sharp.Metadata;
  try {
    meta = await sharp(body, { limitInputPixels: false }).metadata();
  } catch (err) {
    throw new PsicError('UNSUPPORTED_FORMAT', `not an image this server reads (PNG, JPEG, WebP, AVIF, TIFF): ${(err as Error).message}`);
  }
  const format = meta.format ?? 'unknown';
  if (!ACCEPTED_FORMATS.has(format)) throw new PsicError('UNSUPPORTED_FORMAT', `${format} images are not accepted; send PNG, JPEG, WebP, AVIF or TIFF`);
  if (format === 'heif' && meta.compression !== 'av1') throw new PsicError('UNSUPPORTED_FORMAT', 'HEIF images are accepted only as AVIF');
  const { width, height } = meta;
  if (!width || !height) throw new PsicError('BAD_IMAGE', 'the image has no size');
  checkSize(width, height, limits, 'image');
  return { format: format === 'heif' ? 'avif' : format, width, height };
}

export function checkSize(width: number, height: number, limits: Pick<ServerLimits, 'maxDimension' | 'maxPixels'>, what: string): void {
  if (width > limits.maxDimension || height > limits.maxDimension || width * height > limits.maxPixels) {
    throw new PsicError('IMAGE_TOO_LARGE', `${what} is ${width}x${height}; this server takes at most ${limits.maxDimension} per side and ${limits.maxPixels} pixels`);
  }
}

/**
 * The header of a .psic body, checked against the size limits, and the served
 * model that wrote it (WRONG_MODEL when none did, or when `wanted` names another).
 */
export function inspectStream(body: Uint8Array, limits: ServerLimits, models: ModelSummary[], wanted?: string): { header: PsicHeader; model: ModelSummary } {
  const header = readContainerHeader(body, { maxDimension: limits.maxDimension, maxPixels: limits.maxPixels, maxBytes: limits.maxStreamBytes });
  const fingerprint = Buffer.from(header.fingerprint).toString('hex');
  const writer = models.find((m) => m.backbone === header.backbone && m.fingerprint === fingerprint);
  if (wanted !== undefined && !models.some((m) => m.name === wanted)) {
    throw new PsicError('UNKNOWN_MODEL', `no model "${wanted}"; served: ${models.map((m) => m.name).join(', ')}`);
  }
  if (!writer || (wanted !== undefined && writer.name !== wanted)) {
    throw new PsicError(
      'WRONG_MODEL',
      `stream was written by ${header.backbone} with weights ${fingerprint}, ` +
        (wanted !== undefined ? `not by ${wanted}` : `which this server does not serve (served: ${models.map((m) => `${m.name} ${m.fingerprint}`).join(', ')})`),
    );
  }
  return { header, model: writer };
}
