import { packageConfig } from '../../tsup.shared.js';

// @psic/train is used (Adam, the training loop, PairDataset) but not yet listed in package.json's
// dependencies; keep it external so it is never bundled into dist
export default packageConfig(['src/index.ts'], { external: ['@psic/train'] });
