export * from './hyperprior.js';
import './register.js';
