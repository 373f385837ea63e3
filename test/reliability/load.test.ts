/**
 * Load, always-run subset (the full sizes run in test/stress/load.test.ts): a handful of
 * workspaces spawned at once from separate processes, and one daemon serving concurrent
 * sessions that pipeline calls with colliding ids.
 */
import { defineLoadSuite } from './load-suite.js';

defineLoadSuite({
  suite: 'load (always-run subset)',
  spawn: {
    title: '[L1] 5 workspaces spawned at once from 5 processes: 5 ports, 5 healthy daemons, 5 registry entries, one pm2 daemon',
    workspaces: 5,
  },
  sessions: {
    title: '[L2] one daemon, 10 concurrent sessions x 20 pipelined calls: every reply matches its own request, none lost',
    sessions: 10,
    calls: 20,
  },
});
