import { defineConfig } from 'vitest/config';

/**
 * Shared test settings. PSIC_TORCH=0: package tests exercise the pure tfjs
 * kernels (what users without libtorch run); @psic/backend-torch's own suite
 * tests the torch kernels against them.
 */
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    env: { PSIC_TORCH: '0' },
  },
});
