/**
 * The gradient kernels this folder adds on top of @psic/core's (see
 * depthwise-backprop-input.ts and max-pool-grad.ts). The targets call this
 * before each use: it is a few registry lookups when nothing changed, and
 * re-installs the kernels after a selectBackend() put core's back.
 */
import { registerFastDepthwiseBackpropInput } from './depthwise-backprop-input.js';
import { registerFastMaxPoolGrad } from './max-pool-grad.js';

export function registerFastGradientKernels(): void {
  registerFastDepthwiseBackpropInput();
  registerFastMaxPoolGrad();
}
