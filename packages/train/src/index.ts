export * from './adam.js';
export * from './checkpoint.js';
export * from './data.js';
export * from './jsonl.js';
export * from './progress.js';
export * from './rng.js';
export * from './trainer.js';
