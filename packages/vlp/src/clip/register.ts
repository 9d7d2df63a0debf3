/** Makes CLIP constructible by name: semanticTargets.get('clip')({ weights, config?, vocab? }). */
import { semanticTargets } from '@psic/core';
import { PsicError } from '@psic/entropy';
import { ClipTarget } from './clip-target.js';

export function registerClipTarget(): void {
  if (semanticTargets.has('clip')) return;
  semanticTargets.register('clip', async (options = {}) => {
    const { weights, config, vocab } = options;
    if (typeof weights !== 'string') {
      throw new PsicError('BAD_OPTIONS', 'semantic target "clip" needs options.weights, the path of a .safetensors file');
    }
    if (config !== undefined && (typeof config !== 'string' && (typeof config !== 'object' || config === null))) {
      throw new PsicError('BAD_OPTIONS', 'semantic target "clip": options.config must be a config.json path or a config object');
    }
    if (vocab !== undefined && typeof vocab !== 'string') {
      throw new PsicError('BAD_OPTIONS', 'semantic target "clip": options.vocab must be a path');
    }
    return ClipTarget.load({ weights, config: config as never, vocab });
  });
}

registerClipTarget();
