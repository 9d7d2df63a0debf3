/**
 * The one decode path of the server (HTTP, page, jobs): a .psic stream plus
 * the caller's mode and key -> an image and the mode actually produced.
 *
 * - A plain model (no conditional decoder) decodes the stream as is and
 *   reports mode 'plain' for `protected`, `full` or no mode (a key is
 *   ignored: there is nothing to unlock); any other mode is UNSUPPORTED_MODE.
 * - A conditional model decodes under the condition: no mode means its
 *   default mode; a keyed mode (PSIC's `full`) needs a key (KEY_REQUIRED)
 *   and a model that can check keys refuses a wrong one (WRONG_KEY); a mode
 *   it doesn't have is UNSUPPORTED_MODE. A key sent with a keyless mode is
 *   ignored.
 *
 * The key is only ever passed to the model; it is never logged or echoed.
 */
import { decodeImage, type RgbImage } from '@psic/core';
import { PsicError, type ContainerLimits } from '@psic/entropy';
import { defaultModeOf, type ServedModel } from './served-model.js';

export interface DecodeStreamOptions {
  mode?: string;
  key?: string;
  model: ServedModel;
  limits?: ContainerLimits;
}

/** Modes a plain model answers (with its one decoding). */
const PLAIN_ALIASES = new Set(['protected', 'full']);

export async function decodeStream(bytes: Uint8Array, opts: DecodeStreamOptions): Promise<{ image: RgbImage; mode: string }> {
  const { model, key, limits } = opts;
  const conditional = model.conditional;
  if (!conditional) {
    if (opts.mode !== undefined && !PLAIN_ALIASES.has(opts.mode)) {
      throw new PsicError('UNSUPPORTED_MODE', `model ${model.name} has no conditional decoder: it decodes one way ("plain"), which protected and full both return; it has no ${opts.mode} mode`);
    }
    return { image: await decodeImage(model, bytes, { limits }), mode: 'plain' };
  }
  const spec = opts.mode === undefined ? defaultModeOf(conditional) : conditional.modes.find((m) => m.name === opts.mode);
  if (!spec) throw new PsicError('UNSUPPORTED_MODE', `model ${model.name} decodes as ${conditional.modes.map((m) => m.name).join(', ')}; not ${opts.mode}`);
  if (spec.keyed) {
    if (!key) throw new PsicError('KEY_REQUIRED', `mode ${spec.name} needs the owner's key in the X-PSIC-Key header`);
    if (conditional.checkKey && !conditional.checkKey(key)) throw new PsicError('WRONG_KEY', `the key does not unlock this model's ${spec.name} image`);
  }
  const image = await conditional.decode(bytes, spec.keyed ? { mode: spec.name, key } : { mode: spec.name }, limits);
  return { image, mode: spec.name };
}
