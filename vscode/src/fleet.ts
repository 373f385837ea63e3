import { resolve } from 'node:path';
import type { ListRow } from '../../src/fleet/list.js';
import type { UpstreamStatus } from '../../src/workspace/status.js';
import { upstreamTrouble } from '../../src/fleet/upstream-report.js';
import { fetchHealth, type Health } from '../../src/transport/health.js';
import type { ExaiCli } from './cli.js';

export type { ListRow, UpstreamStatus, Health };
export { upstreamTrouble };

/**
 * The fleet as the window shows it: `exai list --json` (every registered workspace, its pm2
 * state and, for a healthy daemon, its upstreams as `exai_status` reports them) plus the
 * current folder's `/health` (sessions). VS Code's stable API shows none of its own server
 * state, so this is all the status there is.
 */
export interface FleetSnapshot {
  rows: ListRow[];
  /** `/health` of each online workspace's daemon, by workspace path. */
  health: Map<string, Health>;
  /** Why `exai list` failed, when it did (the views say so instead of showing nothing). */
  error?: string;
}

/** Why a workspace needs attention, one line; undefined when nothing is wrong. */
export function trouble(row: ListRow): string | undefined {
  if (row.status === 'errored') return `the daemon errored; see its logs`;
  if (row.portHolder) return `port ${row.port} is held by ${row.portHolder}`;
  if (row.upstreamsConfigError) return `.exai/servers.json: ${row.upstreamsConfigError}`;
  for (const u of row.upstreams ?? []) {
    const why = upstreamTrouble(u);
    if (why) return why;
  }
  if (row.status === 'online' && !row.healthy) return 'the daemon does not answer';
  return undefined;
}

export function upstreamCount(row: ListRow): { up: number; total: number } | undefined {
  if (!row.upstreams) return undefined;
  return { up: row.upstreams.filter((u) => u.state === 'up').length, total: row.upstreams.length };
}

export function samePath(a: string, b: string, platform: NodeJS.Platform = process.platform): boolean {
  const norm = (p: string) => (platform === 'win32' || platform === 'darwin' ? resolve(p).toLowerCase() : resolve(p));
  return norm(a) === norm(b);
}

export function rowFor(snapshot: FleetSnapshot, folder: string): ListRow | undefined {
  return snapshot.rows.find((r) => samePath(r.workspace, folder));
}

/** Reads the fleet; never throws (a failure is the snapshot's `error`). */
export async function readFleet(cli: ExaiCli, healthOf: readonly string[]): Promise<FleetSnapshot> {
  let rows: ListRow[];
  try {
    rows = await cli.json<ListRow[]>(['list', '--json'], 60_000);
  } catch (err) {
    return { rows: [], health: new Map(), error: err instanceof Error ? err.message : String(err) };
  }
  const health = new Map<string, Health>();
  await Promise.all(
    rows
      .filter((r) => r.status === 'online' && healthOf.some((f) => samePath(f, r.workspace)))
      .map(async (r) => {
        const h = await fetchHealth(r.port, 2_000).catch(() => undefined);
        if (h) health.set(r.workspace, h);
      }),
  );
  return { rows, health };
}
