import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/bench/**', 'node_modules/**', 'dist/**'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Two cores: files run two at a time; each file uses its own key prefix and database.
    maxWorkers: 2,
    reporters: ['default'],
    globalSetup: ['test/harness/global-setup.ts'],
  },
});
