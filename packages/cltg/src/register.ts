import { adapters, type LicBackbone } from '@psic/core';
import { ADAPTER_NAME, ConditionalSynthesis, type ConditionalSynthesisOptions } from './conditional-synthesis.js';

/** `adapters.get('cltg')(backbone, { modes, ... })` builds a ConditionalSynthesis around any registered backbone. */
if (!adapters.has(ADAPTER_NAME)) {
  adapters.register(ADAPTER_NAME, (backbone: LicBackbone, options?: Record<string, unknown>) => new ConditionalSynthesis(backbone, options as unknown as ConditionalSynthesisOptions));
}
