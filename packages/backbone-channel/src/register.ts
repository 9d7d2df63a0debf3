import { backbones, type BackboneConfig } from '@psic/core';
import { CHANNEL_NAME, ChannelContext, DEFAULT_CHANNEL_CONFIG } from './channel.js';

/** Make the backbone constructible by name from a sidecar's config ({ N, M } and optionally slices, maxSupport). */
export function registerChannelContext(): void {
  if (!backbones.has(CHANNEL_NAME)) {
    backbones.register(CHANNEL_NAME, (config: BackboneConfig) => {
      const value = (key: keyof typeof DEFAULT_CHANNEL_CONFIG) => Number(config[key] ?? DEFAULT_CHANNEL_CONFIG[key]);
      return new ChannelContext({ N: value('N'), M: value('M'), slices: value('slices'), maxSupport: value('maxSupport') });
    });
  }
}

registerChannelContext();
