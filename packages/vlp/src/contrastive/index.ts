/** The in-house contrastive image-text model (a small CLIP trained on CIFAR-10 captions) and its data / evaluation helpers. */
export * from './config.js';
export { BatchNorm2d, LayerNorm, Linear, SeedSequence } from './layers.js';
export * from './resize.js';
export { ImageTower } from './image-tower.js';
export { TextTower, TokenVocabulary, UNKNOWN_ROW, type EncodedTexts } from './text-tower.js';
export * from './model.js';
export { symmetricInfoNce, contrastiveTargets } from './loss.js';
export * from './prompts.js';
export * from './captions.js';
export * from './tar.js';
export * from './cifar.js';
export * from './augment.js';
export * from './zero-shot.js';
export * from './load.js';
export { registerInhouseTarget } from './register.js';
import './register.js';
