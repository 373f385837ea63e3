/** What an upstream is doing, as exai_status, `exai list` and `doctor` show it. */
import type { UpstreamState } from '../../workspace/status.js';

// The shape is shared with the CLI, which reads it through exai_status (workspace/status.ts).
export type { UpstreamState, UpstreamStatus } from '../../workspace/status.js';

/** Why a request cannot go to an upstream in `state` now, and what to do (the end of one line). */
export function unavailableWhy(state: UpstreamState, lastError: string | null): string {
  const why: Record<UpstreamState, string> = {
    starting: 'is still starting; retry in a moment',
    restarting: lastError?.startsWith('failed to start')
      ? `could not start (${lastError.slice('failed to start: '.length)}); it is retried, retry in a moment`
      : `is restarting after it exited${lastError ? ` (${lastError})` : ''}; retry in a moment`,
    failed: `has failed (${lastError ?? 'it kept crashing'}); fix it and save .exai/servers.json to retry, see exai_status for its stderr`,
    stopped: 'is stopped',
    idle: 'is not running (the next request starts it)',
    up: 'is up',
  };
  return why[state];
}
