/** The small shipped PSIC model of @psic/cltg's fixtures, with its key, as the evaluation tests use it. */
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CodecModel } from '@psic/core';
import { loadConditionalModel, readKeyFile, type ConditionalSynthesis } from '@psic/cltg';

export const CLTG_FIXTURES = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'cltg', 'test', 'fixtures');

export async function loadTinyPsic(): Promise<{ codec: CodecModel; adapter: ConditionalSynthesis; key: Uint8Array }> {
  const loaded = await loadConditionalModel(join(CLTG_FIXTURES, 'psic-tiny.safetensors'));
  return {
    adapter: loaded.model,
    codec: { backbone: loaded.model.backbone, fingerprint: loaded.fingerprint },
    key: await readKeyFile(join(CLTG_FIXTURES, 'psic-tiny.key')),
  };
}
