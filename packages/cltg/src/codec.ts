/**
 * Decoding a .psic stream under a condition. The stream is the plain
 * backbone's (core's encodeImage writes it; the fingerprint names the whole
 * conditional model file), so every mode decodes the very same y-hat; only
 * the synthesis hook differs.
 */
import { decodeImage, type CodecModel, type RgbImage } from '@psic/core';
import type { ContainerLimits } from '@psic/entropy';
import type { ConditionalSynthesis, ConditionInput } from './conditional-synthesis.js';

export async function decodeWithCondition(
  codec: CodecModel,
  adapter: ConditionalSynthesis,
  bytes: Uint8Array,
  condition: ConditionInput,
  limits?: ContainerLimits,
): Promise<RgbImage> {
  if (codec.backbone !== adapter.backbone) throw new Error('the adapter wraps another backbone than the codec model');
  // β first: a missing key or an unknown mode fails before any decoding work
  const beta = adapter.conditionTensor(condition);
  try {
    return await decodeImage(codec, bytes, { hook: adapter.hook(beta), limits });
  } finally {
    beta.dispose();
  }
}
