import { defineConfig } from 'vitest/config';

// Tests start real pm2 daemons, real child processes and real sockets. On a 2-core machine
// more than two files at once only makes every readiness wait longer, so cap the workers.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The real-client suite runs only through `npm run test:clients` (its own config).
    exclude: [...(process.env.EXAI_STRESS ? [] : ['test/stress/**']), 'test/clients/**'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    maxWorkers: 2,
  },
});
