/** Pretrained object detectors from npm packages (inference only). */
export * from './coco-labels.js';
export * from './centernet.js';
