export * from './dct.js';
export * from './trigger-net.js';
export * from './attack-loss.js';
export * from './bavaft-step.js';
export * from './train-bavaft.js';
export * from './model-files.js';
export * from './labelled-images.js';
export * from './evaluate.js';
