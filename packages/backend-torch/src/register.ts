/**
 * Side-effect entry: `import '@psic/backend-torch/register'` after importing
 * the tfjs backends turns the torch kernels on with default options (or logs
 * one line and leaves tfjs as it is when the addon is unavailable).
 */
import { enableTorchKernels } from './index.js';

enableTorchKernels();
