import { defineConfig, type Options } from 'tsup';

/** Every package builds the same way: ESM + .d.ts for Node 20; `entry` lists extra entry points (a CLI, a side-effect module). */
export function packageConfig(entry: string[] = ['src/index.ts'], overrides: Options = {}) {
  return defineConfig({ entry, format: ['esm'], dts: true, clean: true, sourcemap: true, target: 'node20', ...overrides });
}
