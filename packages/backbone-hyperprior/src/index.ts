export * from './hyperprior.js';
import './register.js';
export * from './compressai.js';
