export * from './backend.js';
export * from './layers.js';
export * from './safetensors.js';
export * from './registry.js';
export * from './backbone.js';
export * from './fixed-point.js';
