import { defineConfig } from 'vitest/config';

// Tests start real pm2 daemons, real child processes and real sockets. On a 2-core machine
// more than two files at once only makes every readiness wait longer, so cap the workers.
// On Windows every PM2_HOME shares one pm2 daemon (WINDOWS.md #2, #31): test files must run
// one at a time there, or one file's `pm2 kill` ends another's daemons.
//
// `vitest run --mode stress` (npm run test:stress) adds test/stress and sets EXAI_STRESS=1 for
// the test files: no `VAR=1 cmd` in npm scripts, which cmd.exe cannot run (WINDOWS.md #1).
// EXAI_STRESS=1 in the environment still works (scripts/reliability-report.mjs sets it).
export default defineConfig(({ mode }) => {
  const stress = mode === 'stress' || process.env.EXAI_STRESS === '1';
  return {
    test: {
      include: ['test/**/*.test.ts'],
      // The real-client suite runs only through `npm run test:clients` (its own config).
      exclude: [...(stress ? [] : ['test/stress/**']), 'test/clients/**'],
      env: stress ? { EXAI_STRESS: '1' } : {},
      testTimeout: 60_000,
      hookTimeout: 120_000,
      pool: 'forks',
      maxWorkers: process.platform === 'win32' ? 1 : 2,
    },
  };
});
