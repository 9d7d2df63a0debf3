export * from './npm/index.js';
