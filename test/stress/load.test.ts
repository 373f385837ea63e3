/**
 * Load at full size (EXAI_STRESS=1, `npm run test:stress`): 20 workspaces spawned at once
 * from 20 processes, and one daemon serving 50 concurrent sessions x 200 calls each.
 */
import { defineLoadSuite } from '../reliability/load-suite.js';

defineLoadSuite({
  suite: 'load (stress)',
  spawn: {
    title: '[L1] 20 workspaces spawned at once from 20 processes: 20 distinct ports, 20 healthy daemons, a registry with 20 entries, one pm2 daemon',
    workspaces: 20,
  },
  sessions: {
    title: '[L2] one daemon, 50 concurrent sessions x 200 calls each: every response matches its own request, none lost',
    sessions: 50,
    calls: 200,
  },
  timeoutMs: 300_000,
});
