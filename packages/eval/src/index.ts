export * from './psnr.js';
export * from './ms-ssim.js';
export * from './bpp.js';
export * from './reference-codecs.js';
export * from './codec-eval.js';
export * from './semantic-metrics.js';
