export * from './rate-distortion.js';
