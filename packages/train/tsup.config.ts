import { packageConfig } from '../../tsup.shared.js';

// the data-parallel worker is loaded by URL at run time, so it is its own entry
export default packageConfig(['src/index.ts', 'src/data-parallel-worker.ts']);
