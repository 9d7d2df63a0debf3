export * from './modes.js';
export * from './condition.js';
export * from './key-file.js';
export * from './fourier.js';
export * from './linear.js';
export * from './conditional-synthesis.js';
export * from './model-file.js';
export * from './codec.js';
import './register.js';
