// Vitest configuration: one global setup that makes sure `dist/` is built before tests that run
// the compiled CLI in child processes.

import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    globalSetup: ['./test/global-setup.ts'],
  },
});
