/** The README's usage example must run as written (against the built package). */
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { readmeExample, runExample } from '../../../tools/test-support/readme-example.js';

const PACKAGE_DIR = fileURLToPath(new URL('..', import.meta.url));

it('README example runs and prints what it says', () => {
  const { code } = readmeExample(PACKAGE_DIR);
  const promised = /console\.log\(.*\); \/\/ (.*)\n/.exec(code)?.[1];
  expect(promised, 'the example says what it prints').toBeTruthy();
  expect(runExample(PACKAGE_DIR, code)).toContain(promised!);
});
