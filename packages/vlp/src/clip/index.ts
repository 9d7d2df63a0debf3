export { ClipTokenizer, bytesToUnicode, START_OF_TEXT, END_OF_TEXT } from './tokenizer.js';
export { cleanText, fixText, basicClean, whitespaceClean } from './text-clean.js';
export { VIT_B_32, parseClipConfig, configFromShapes, expectedShapes, visionHeads, type ClipConfig } from './config.js';
export { parseClipWeights, readClipWeights, readClipConfig, type ClipStateDict } from './weights.js';
export { ClipModel, randomClipStateDict } from './model.js';
export { CLIP_MEAN, CLIP_STD, clipGeometry, preprocessRgb8, preprocessTensor, resizeBicubicRgb8, roundHalfEven, type ClipGeometry } from './preprocess.js';
export { ClipTarget, type ClipLoadOptions } from './clip-target.js';
export { registerClipTarget } from './register.js';
