export * from './checkerboard.js';
export { anchorMask, checkerboardKernelMask, CheckerboardMaskedConv2d, ANCHOR_PARITY, NON_ANCHOR_PARITY } from './context.js';
export { checkerboardWalk, type CheckerboardCodingNets, type CodePass, type WalkResult } from './coding.js';
export { registerCheckerboard } from './register.js';
