export * from './rate-distortion.js';
export * from './similarity.js';
export * from './uaeo.js';
export * from './semantic.js';
