export * from './psnr.js';
export * from './ms-ssim.js';
export * from './bpp.js';
