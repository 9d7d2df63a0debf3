import { defineConfig } from 'vitest/config';

/**
 * Shared test settings. PSIC_TORCH=0: package tests exercise the pure tfjs
 * kernels (what users without libtorch run); @psic/backend-torch's own suite
 * tests the torch kernels against them. FORCE_COLOR=0: child processes a
 * test starts (README examples, the CLI) print plain text even under CI,
 * where nx forces colours.
 */
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    env: { PSIC_TORCH: '0', FORCE_COLOR: '0', NO_COLOR: '1' },
  },
});
