/**
 * What a workspace daemon's `exai_status` tool returns as structured content: one shape, written
 * by the daemon (daemon/builtins.ts) and read by `exai spawn`, `exai list`, `exai doctor` and the
 * VS Code extension (supervisor/health.ts `daemonStatus`). Here, beside the other files both
 * sides share, because the daemon must not import the CLI's modules nor the CLI the daemon's.
 */

/** When an upstream runs: `eager` starts with the daemon, `lazy` on the first request routed to it. */
export type Lifecycle = 'eager' | 'lazy';

/**
 * A requested stop leads to `stopped` (servers.json edits, daemon shutdown) or `idle` (not
 * running, started by the next request routed to it: a lazy upstream before its first use, or
 * any upstream after its idleTimeout); a crash leads to `restarting`, or `failed` when crashes
 * repeat.
 */
export type UpstreamState = 'starting' | 'up' | 'restarting' | 'failed' | 'stopped' | 'idle';

/** One of the workspace's own MCP servers (.exai/servers.json), as `exai_status` shows it. */
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
  /** The MCP revision exai speaks to it (`2025-11-25` or `2026-07-28`); null while it is not up, idle or starting with a known catalog. */
  protocol: string | null;
  /** Why it last stopped or failed to start, one line; null while it never did. */
  lastError: string | null;
  /** While failed: what to change in servers.json, when exai knows (a revision its `"protocol"` pins and the server refuses); else null. */
  fix: string | null;
  /** The last stderr lines of the process, oldest first. */
  stderrTail: string[];
  /** Lists cut short: the cursor where exai stopped following cursors that never end; null if none. */
  catalogProblem: string | null;
}

/** `exai_status`'s structured content. */
export interface ExaiStatus {
  workspace: string;
  id: string;
  name: string;
  port: number;
  pid: number;
  version: string;
  uptimeMs: number;
  sessions: number;
  /** `sessions` by transport: WebSocket (shims, the extension) and Streamable HTTP. */
  sessionsByTransport: { ws: number; http: number };
  /**
   * Opened sessions by the protocol revision their client asked for (2026-07-28, 2025-11-25 or
   * an older 2025-era one), newest first; a daemon of an older exai leaves it out.
   */
  sessionsByProtocol?: { protocolVersion: string; sessions: number }[];
  upstreams: UpstreamStatus[];
  /** Why `.exai/servers.json` is unusable; null when it is fine or absent. */
  upstreamsConfigError: string | null;
}

/**
 * `exai_status`'s structured content as the CLI reads it, or undefined when it is not one. A
 * daemon of an older exai (before an upgrade restarts it) may leave out fields added since: the
 * two the CLI reports from (`upstreams`, `upstreamsConfigError`) are filled in as "none".
 */
export function readExaiStatus(content: unknown): ExaiStatus | undefined {
  if (typeof content !== 'object' || content === null) return undefined;
  const status = content as Partial<ExaiStatus>;
  if (typeof status.version !== 'string') return undefined;
  return { ...(status as ExaiStatus), upstreams: Array.isArray(status.upstreams) ? status.upstreams : [], upstreamsConfigError: status.upstreamsConfigError ?? null };
}
