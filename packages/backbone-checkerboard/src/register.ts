import { backbones, type BackboneConfig } from '@psic/core';
import { Checkerboard, CHECKERBOARD_NAME } from './checkerboard.js';

/** Make the backbone constructible by name from a sidecar's config (e.g. { N: 192, M: 192 }). */
export function registerCheckerboard(): void {
  if (!backbones.has(CHECKERBOARD_NAME)) {
    backbones.register(CHECKERBOARD_NAME, (config: BackboneConfig) => new Checkerboard({ N: Number(config.N ?? 192), M: Number(config.M ?? 192) }));
  }
}

registerCheckerboard();
