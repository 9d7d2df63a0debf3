import { packageConfig } from '../../tsup.shared.js';

// register.js must import the same module instance as index.js.
export default packageConfig(['src/index.ts', 'src/register.ts'], { splitting: true });
