export * from './errors.js';
export * from './cdf.js';
export * from './rans.js';
export * from './crc32.js';
export * from './container.js';
export * from './entropy-bottleneck.js';
export * from './gaussian-conditional.js';
export * from './erfc.js';
