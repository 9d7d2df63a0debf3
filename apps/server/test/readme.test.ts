/** The README's usage example runs as written against the built package (dist/). */
import { expect, it } from 'vitest';
import { readmeExample, runExample } from '../../../tools/test-support/readme-example.js';
import { SERVER_ROOT } from './helpers.js';

it('README example encodes and decodes a photo', () => {
  // cwd = the package, so the README's relative photo path resolves as written
  const out = runExample(SERVER_ROOT, readmeExample(SERVER_ROOT).code, { cwd: SERVER_ROOT, timeoutMs: 90_000 });
  expect(out.trim()).toMatch(/^200 0\.\d{4} 200 plain image\/png$/);
});
