import { defineConfig } from 'vitest/config';

// Tests start real pm2 daemons, real child processes and real sockets, and spend about half
// their time waiting on them (the whole suite: 321 s of CPU in 336 s of vitest on 2 cores with 2
// workers), so 3 files at once keep both cores busy: 336 s -> 266 s calm, and still green beside
// two CPU hogs (358 s). EXAI_TEST_WORKERS overrides it (measuring).
// On Windows every PM2_HOME shares one pm2 daemon (WINDOWS.md #2, #31): test files must run
// one at a time there, or one file's `pm2 kill` ends another's daemons.
//
// `vitest run --mode stress` (npm run test:stress) adds test/stress and sets EXAI_STRESS=1 for
// the test files: no `VAR=1 cmd` in npm scripts, which cmd.exe cannot run (WINDOWS.md #1).
// EXAI_STRESS=1 in the environment still works (scripts/reliability-report.mjs sets it).

/**
 * Files that start no process, no pm2 and no server: they share one worker process
 * (isolate: false) instead of a fresh fork each, which costs more than their tests (18 files:
 * 12 s -> 6 s, measured). A file that starts anything, or changes process-wide state another
 * file could see, stays out of this list (the default, isolated, is always safe).
 */
const UNIT = [
  'test/catalog-cache.test.ts',
  'test/client-config.test.ts',
  'test/client-config-agents.test.ts',
  'test/client-config-codex.test.ts',
  'test/daemon-file.test.ts',
  'test/era-session.test.ts',
  'test/knock.test.ts',
  'test/launch-unit.test.ts',
  'test/ports.test.ts',
  'test/tables.test.ts',
  'test/transport.test.ts',
  'test/upstream-platform.test.ts',
  'test/upstreams-config.test.ts',
  'test/windows/contention.test.ts',
  'test/windows/npm-scripts.test.ts',
  'test/windows/paths.test.ts',
  'test/windows/ports.test.ts',
  'test/windows/private-dir.test.ts',
  'test/windows/stdout.test.ts',
  'test/windows/test-helpers.test.ts',
];

const WORKERS = Number(process.env.EXAI_TEST_WORKERS) || 3;

export default defineConfig(({ mode }) => {
  const stress = mode === 'stress' || process.env.EXAI_STRESS === '1';
  // The real-client suite runs only through `npm run test:clients` (its own config).
  const exclude = [...(stress ? [] : ['test/stress/**']), 'test/clients/**'];
  return {
    test: {
      env: stress ? { EXAI_STRESS: '1' } : {},
      testTimeout: 60_000,
      hookTimeout: 120_000,
      pool: 'forks',
      maxWorkers: process.platform === 'win32' ? 1 : WORKERS,
      projects: [
        { extends: true, test: { name: 'unit', include: UNIT, isolate: false } },
        { extends: true, test: { name: 'system', include: ['test/**/*.test.ts'], exclude: [...exclude, ...UNIT] } },
      ],
    },
  };
});
