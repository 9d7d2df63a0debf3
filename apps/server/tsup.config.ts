import { packageConfig } from '../../tsup.shared.js';

// main.js (npm run serve), worker.js (batch worker process) and inference-worker.js (thread entry) sit beside index.js;
// sharp is native and comes through @psic/core, so it is never bundled.
export default packageConfig(['src/index.ts', 'src/main.ts', 'src/worker.ts', 'src/inference-worker.ts'], {
  dts: { entry: 'src/index.ts' },
  external: ['sharp'],
});
