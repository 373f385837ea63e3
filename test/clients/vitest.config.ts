import { defineConfig } from 'vitest/config';

// The real-client suite (`npm run test:clients`): one client at a time (code-server and a
// browser alone load both cores), installs done once in the global setup, which also prints
// the table of results at the end.
export default defineConfig({
  test: {
    include: ['test/clients/**/*.test.ts'],
    globalSetup: ['test/clients/setup.ts'],
    testTimeout: 300_000,
    hookTimeout: 120_000,
    pool: 'forks',
    fileParallelism: false,
    maxWorkers: 1,
  },
});
