/** Pretrained models shipped inside npm packages, loaded offline, as semantic targets. */
export * from './package-files.js';
export * from './graph-rewrite.js';
export * from './preprocess.js';
export * from './face-attributes.js';
export * from './human-face.js';
export * from './face-api-nets.js';
export * from './face-api-face.js';
export * from './keras-graph.js';
export * from './depthwise-backprop-input.js';
export * from './max-pool-grad.js';
export * from './gradient-kernels.js';
export * from './mobilenet-v2.js';
export * from './mobilenet-target.js';
export * from './register.js';
