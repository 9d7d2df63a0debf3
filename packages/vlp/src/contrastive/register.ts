/** Makes the shipped in-house model constructible by name: semanticTargets.get('inhouse-cifar')({ weights?, vocab? }). */
import { semanticTargets } from '@psic/core';
import { PsicError } from '@psic/entropy';
import { loadInhouseTarget } from './load.js';
import { INHOUSE_TARGET_NAME } from './model.js';

export function registerInhouseTarget(): void {
  if (semanticTargets.has(INHOUSE_TARGET_NAME)) return;
  semanticTargets.register(INHOUSE_TARGET_NAME, async (options = {}) => {
    const { weights, vocab } = options;
    if (weights !== undefined && typeof weights !== 'string') {
      throw new PsicError('BAD_OPTIONS', `semantic target "${INHOUSE_TARGET_NAME}": options.weights must be a .safetensors path`);
    }
    if (vocab !== undefined && typeof vocab !== 'string') {
      throw new PsicError('BAD_OPTIONS', `semantic target "${INHOUSE_TARGET_NAME}": options.vocab must be a path`);
    }
    return loadInhouseTarget(weights, { vocab });
  });
}

registerInhouseTarget();
