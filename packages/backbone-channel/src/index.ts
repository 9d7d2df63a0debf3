export * from './channel.js';
export { channelWalk, LRP_GAIN, type ChannelCodingNets, type ChannelWalkResult, type CodeSlice } from './coding.js';
export { sliceSizes, supportChannels } from './slices.js';
export { registerChannelContext } from './register.js';
