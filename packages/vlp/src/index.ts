export * from './npm/index.js';
export * from './clip/index.js';
export { similarity, cosineLogits, l2Normalize, type SemanticTarget } from './target.js';
export * from './contrastive/index.js';
export * from './detect/index.js';
