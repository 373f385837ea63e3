/** What an upstream is doing, as exai_status, `exai list` and `doctor` show it. */
import type { ServerNotification } from '@modelcontextprotocol/sdk/types.js';
import type { WireMessage } from '../../transport/jsonrpc.js';
import type { CatalogKind } from './catalog.js';
import type { Lifecycle } from './config.js';
import type { Upstream } from './upstream.js';

/**
 * A requested stop leads to `stopped` (servers.json edits, daemon shutdown) or `idle` (not
 * running, started by the next request routed to it: a lazy upstream before its first use, or
 * any upstream after its idleTimeout); a crash leads to `restarting`, or `failed` when crashes
 * repeat.
 */
export type UpstreamState = 'starting' | 'up' | 'restarting' | 'failed' | 'stopped' | 'idle';

/** What `exai_status` (and through it `exai list`/`doctor`) shows for one upstream. */
export interface UpstreamStatus {
  name: string;
  state: UpstreamState;
  lifecycle: Lifecycle;
  /** Stops after this long unused (ms); 0 = never. */
  idleTimeoutMs: number;
  pid: number | null;
  /** Restarts after crashes since this configuration was applied. */
  restarts: number;
  /** What it offers: while it is not running (idle), what it offered when it last ran (the catalog cache). */
  tools: number;
  prompts: number;
  resources: number;
  /** The MCP revision exai speaks to it (`2025-11-25` or `2026-07-28`); null while never connected. */
  protocol: string | null;
  /** Why it last stopped or failed to start, one line; null while it never did. */
  lastError: string | null;
  /** The last stderr lines of the process, oldest first. */
  stderrTail: string[];
  /** Lists cut short: the cursor where exai stopped following cursors that never end; null if none. */
  catalogProblem: string | null;
}

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
