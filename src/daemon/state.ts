import type { Health } from '../transport/health.js';
import { appName, type Workspace } from '../workspace/identity.js';
import { EXAI_VERSION } from '../common/version.js';
import { monotonicNow } from '../common/clock.js';
import type { UpstreamStatus } from '../workspace/status.js';

/** One open MCP connection, as the status tool and metrics see it. */
export interface SessionInfo {
  readonly id: string;
  readonly openedAt: number;
  /** JSON-RPC requests this session sent. */
  requests: number;
  /**
   * The protocol revision its opening asked for: initialize's protocolVersion (2025-11-25 or an
   * older one) or 2026-07-28 (whose requests need no initialize). Set once it opened: a client,
   * not a one-request probe, which keeps the daemon from idling; and which era each client
   * speaks (`exai_status`, the log).
   */
  protocolVersion?: string;
  /** How the client reaches it: a WebSocket (the shim, the extension) or Streamable HTTP. */
  readonly transport: SessionTransportKind;
}

export type SessionTransportKind = 'ws' | 'http';

/** Opened sessions by the protocol revision their client asked for, newest first (`exai_status`). */
export function sessionProtocols(state: Pick<DaemonState, 'sessions'>): { protocolVersion: string; sessions: number }[] {
  const counts = new Map<string, number>();
  for (const s of state.sessions.values()) if (s.protocolVersion) counts.set(s.protocolVersion, (counts.get(s.protocolVersion) ?? 0) + 1);
  return [...counts].sort(([a], [b]) => b.localeCompare(a)).map(([protocolVersion, sessions]) => ({ protocolVersion, sessions }));
}

/** Open sessions by transport, for /health, `exai_status`, `exai list` and the pm2 metrics. */
export function sessionCounts(state: Pick<DaemonState, 'sessions'>): Record<SessionTransportKind, number> {
  const counts = { ws: 0, http: 0 };
  for (const s of state.sessions.values()) counts[s.transport]++;
  return counts;
}

/**
 * What the daemon knows about itself, in one plain object that every part reads: the
 * handshake checks, /health, `exai_status`, and later the upstream gateway and pm2 metrics.
 * Mutated only by the part named in each field's comment.
 */
export interface DaemonState {
  readonly workspace: Workspace;
  readonly home: string;
  /** The bound port; set by the server once it listens. */
  port: number;
  readonly pid: number;
  readonly version: string;
  /** monotonicNow() when the daemon started (uptime is measured on the monotonic clock). */
  readonly startedAt: number;
  /** The launch spec's digest (src/workspace/launch-env.ts `launchDigest`); set once at start. */
  launchDigest: string | undefined;
  /** Idle timeout in ms from the launch spec, 0 = never. */
  idleTimeoutMs: number;
  /** The pm2 app name (the registry's: tagged under a non-default EXAI_HOME). */
  appName: string;
  /** Open sessions by id; session.ts adds and removes them. */
  readonly sessions: Map<string, SessionInfo>;
  /** Totals since start. */
  readonly counters: {
    /** Sessions ever opened (session.ts). */
    sessionsOpened: number;
    /** JSON-RPC requests received over all sessions (session.ts). */
    requests: number;
    /** Handshakes refused with 401/403/404/400 (server.ts). */
    rejectedHandshakes: number;
  };
  /**
   * The upstream MCP servers' status, for `exai_status`. The upstream gateway replaces this
   * function when it starts; until then there are none.
   */
  upstreams: () => UpstreamStatus[];
  /** Why `.exai/servers.json` is unusable, one line; null when it is fine or absent (gateway). */
  upstreamsConfigError: () => string | null;
}

export function createDaemonState(workspace: Workspace, home: string, port: number): DaemonState {
  return {
    workspace,
    home,
    port,
    pid: process.pid,
    version: EXAI_VERSION,
    startedAt: monotonicNow(),
    launchDigest: undefined,
    idleTimeoutMs: 0,
    appName: appName(workspace, home),
    sessions: new Map(),
    counters: { sessionsOpened: 0, requests: 0, rejectedHandshakes: 0 },
    upstreams: () => [],
    upstreamsConfigError: () => null,
  };
}

export function uptimeMs(state: DaemonState): number {
  return Math.round(monotonicNow() - state.startedAt);
}

/** What `/health` advertises (Health.transports); WebSocket and Streamable HTTP, both on `/mcp`. */
export const TRANSPORTS: readonly string[] = ['ws', 'http'];

/** The `GET /health` body (DESIGN.md "Daemon wire contract"). */
export function healthBody(state: DaemonState): Health {
  return {
    ok: true,
    version: state.version,
    id: state.workspace.id,
    pid: state.pid,
    port: state.port,
    uptimeMs: uptimeMs(state),
    sessions: state.sessions.size,
    sessionsByTransport: sessionCounts(state),
    home: state.home,
    transports: [...TRANSPORTS],
    ...(state.launchDigest ? { spec: state.launchDigest } : {}),
  };
}
