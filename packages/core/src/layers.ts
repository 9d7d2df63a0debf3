/**
 * Layers with CompressAI-compatible variable names and PyTorch semantics on
 * NHWC tensors: Conv2d, ConvTranspose2d, GDN / inverse GDN, ReLU, LeakyReLU,
 * Sequential, plus the PyTorch <-> tfjs weight-layout helpers.
 */
export * from './layers/module.js';
export * from './layers/conv.js';
export * from './layers/non-negative.js';
export * from './layers/gdn.js';
export * from './layers/activations.js';
export * from './layers/sequential.js';
export * from './layers/torch-layout.js';
export * from './layers/balle-transforms.js';
