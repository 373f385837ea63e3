/**
 * The one line `spawn`, `exai list` and `doctor` show for an upstream in trouble
 * (fleet/upstream-report.ts), from exai_status's upstream entries.
 */
import { describe, expect, it } from 'vitest';
import { upstreamTrouble } from '../src/fleet/upstream-report.js';
import type { UpstreamStatus } from '../src/workspace/status.js';

const base: UpstreamStatus = {
  name: 'srv',
  state: 'up',
  lifecycle: 'eager',
  idleTimeoutMs: 0,
  pid: 1,
  restarts: 0,
  tools: 1,
  prompts: 0,
  resources: 0,
  protocol: '2025-11-25',
  lastError: null,
  fix: null,
  stderrTail: [],
  catalogProblem: null,
};

describe('upstreamTrouble', () => {
  it('is silent for an upstream that is up, idle, or starting without an error', () => {
    expect(upstreamTrouble(base)).toBeUndefined();
    expect(upstreamTrouble({ ...base, state: 'idle', lastError: 'exited (code 1)' })).toBeUndefined();
    expect(upstreamTrouble({ ...base, state: 'starting' })).toBeUndefined();
  });

  it('counts the restarts of one that kept crashing, and says one with a known fix cannot start', () => {
    expect(upstreamTrouble({ ...base, state: 'failed', restarts: 4, lastError: 'failed to start: command "x" not found' })).toBe(
      'upstream srv failed after 4 restart(s): failed to start: command "x" not found',
    );
    const refused = { ...base, state: 'failed' as const, protocol: null, lastError: 'failed to start: it refuses MCP 2025-11-25, which its "protocol" pins', fix: 'set its "protocol" to "auto" or "2026-07-28"' };
    expect(upstreamTrouble(refused)).toBe('upstream srv cannot start: it refuses MCP 2025-11-25, which its "protocol" pins');
    expect(upstreamTrouble({ ...base, state: 'restarting', lastError: 'exited (code 1)' })).toBe('upstream srv did not start: exited (code 1)');
  });
});
