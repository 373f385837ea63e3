/** What an upstream is doing, as exai_status, `exai list` and `doctor` show it. */
import type { ServerNotification } from '@modelcontextprotocol/client';
import type { UpstreamState } from '../../workspace/status.js';
import type { WireMessage } from '../../transport/jsonrpc.js';
import type { CatalogKind } from './catalog.js';
import type { Upstream } from './upstream.js';

// The shape is shared with the CLI, which reads it through exai_status (workspace/status.ts).
export type { UpstreamState, UpstreamStatus } from '../../workspace/status.js';

/** Why a request cannot go to an upstream in `state` now, and what to do (the end of one line). */
export function unavailableWhy(state: UpstreamState, lastError: string | null, fix: string | null = null): string {
  const why: Record<UpstreamState, string> = {
    starting: 'is still starting; retry in a moment',
    restarting: lastError?.startsWith('failed to start')
      ? `could not start (${lastError.slice('failed to start: '.length)}); it is retried, retry in a moment`
      : `is restarting after it exited${lastError ? ` (${lastError})` : ''}; retry in a moment`,
    failed: `has failed (${lastError ?? 'it kept crashing'}); ${fix ?? 'fix it'} and save .exai/servers.json to retry${fix ? '' : ', see exai_status for its stderr'}`,
    stopped: 'is stopped',
    idle: 'is not running (the next request starts it)',
    up: 'is up',
  };
  return why[state];
}

/** How the gateway hears from an upstream. */
export interface UpstreamEvents {
  /** The upstream came up or went away: its catalog joins or leaves the aggregate. */
  onState(upstream: Upstream, previous: UpstreamState): void;
  /** The upstream announced a list change and its catalog has been re-read. */
  onListChanged(upstream: Upstream, kind: CatalogKind): void;
  /** Log messages, resource updates and URL-elicitation completions, to pass on to sessions. */
  onNotification(upstream: Upstream, notification: ServerNotification): void;
  /**
   * Every message from the server before exai's SDK client sees it. Returns true when the
   * gateway relays it (answers to relayed requests, their progress, the server's own requests
   * to clients, task notifications); the SDK client gets the rest.
   */
  onMessage(upstream: Upstream, message: WireMessage): boolean;
}
