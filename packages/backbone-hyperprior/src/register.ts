import { backbones, type BackboneConfig } from '@psic/core';
import { Hyperprior, type HyperpriorArchitecture } from './hyperprior.js';

/** Make both architectures constructible by name from a sidecar's config (e.g. { N: 128, M: 192 }). */
for (const architecture of ['bmshj2018-hyperprior', 'mbt2018-mean'] as HyperpriorArchitecture[]) {
  if (!backbones.has(architecture)) {
    backbones.register(architecture, (config: BackboneConfig) => new Hyperprior({ N: Number(config.N), M: Number(config.M), architecture }));
  }
}
