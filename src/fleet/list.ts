import { currentDaemonFile, ownHealthy } from '../supervisor/own-health.js';
import { isIdleMarked } from '../workspace/idle-marker.js';
import { readToken } from '../workspace/token.js';
import { probeDaemon } from '../supervisor/health.js';
import type { ExaiStatus } from '../workspace/status.js';
import type { Pm2 } from '../supervisor/pm2.js';
import { describePortHolder } from '../supervisor/port-owner.js';
import { probePort } from '../supervisor/ports.js';
import type { RegistryEntry } from '../supervisor/registry.js';
import { exaiProcesses, workspaceStatus } from './processes.js';
import { serverVariables } from './upstream-report.js';

/** One row of `exai list --json` (DESIGN.md "CLI"). */
export interface ListRow {
  workspace: string;
  id: string;
  name: string;
  port: number;
  pid: number | null;
  status: string;
  restarts: number;
  memory: number;
  cpu: number;
  uptimeMs: number;
  healthy: boolean;
  version?: ExaiStatus['version'];
  /** Open client sessions by transport (only when healthy; `exai list`'s own probe not counted). */
  sessions?: ExaiStatus['sessionsByTransport'];
  /** The workspace's own MCP servers, as its daemon reports them (only when healthy). */
  upstreams?: ExaiStatus['upstreams'];
  /** Why `.exai/servers.json` is unusable, when it is. */
  upstreamsConfigError?: string;
  /** Variables servers.json reads that the daemon's recorded environment lacks (`--pass-env` them). */
  unsetVariables?: string[];
  /** Who holds the port when the daemon exited because it was taken (the next `spawn` moves it). */
  portHolder?: string;
}

/** Registry entries joined with pm2's view and a real authenticated ping, all in parallel. */
export async function listRows(home: string, pm2: Pm2, entries: RegistryEntry[], timeoutMs = 1_500): Promise<ListRow[]> {
  const procs = await exaiProcesses(pm2, home);
  return Promise.all(
    entries.map(async (entry): Promise<ListRow> => {
      const proc = procs.get(entry.name);
      const env = proc?.pm2_env as { status?: string; pm_uptime?: number; restart_time?: number; exit_code?: number } | undefined;
      const status = workspaceStatus(entry, proc, isIdleMarked(home, entry.id));
      // A daemon that is not running may find its port taken when it next starts (the start moves it).
      const portHolder = status !== 'online' && (await probePort(entry.port).catch(() => 'free')) !== 'free' ? await describePortHolder(entry.port) : undefined;
      let healthy = false;
      let version: string | undefined;
      let sessions: ListRow['sessions'];
      let daemon: ExaiStatus | undefined;
      const token = readToken(home, entry.id);
      const unset = serverVariables(home, entry.id, entry.workspace).unset;
      if (status === 'online' && entry.ownDaemon) {
        // A workspace's own daemon: its declared readiness check is its health.
        healthy = await ownHealthy(entry, currentDaemonFile(entry).own, timeoutMs);
      } else if (status === 'online' && token) {
        const probe = await probeDaemon({ port: entry.port, id: entry.id, token, timeoutMs, withStatus: true });
        healthy = probe.state === 'healthy';
        if (probe.state === 'healthy') {
          version = probe.health.version;
          // /health is read before the probe opens its own session: only clients are counted.
          sessions = probe.health.sessionsByTransport ?? { ws: probe.health.sessions, http: 0 };
          daemon = probe.status;
        }
      }
      return {
        workspace: entry.workspace,
        id: entry.id,
        name: entry.name,
        port: entry.port,
        pid: status === 'online' && proc?.pid ? proc.pid : null,
        status,
        restarts: env?.restart_time ?? 0,
        memory: proc?.monit?.memory ?? 0,
        cpu: proc?.monit?.cpu ?? 0,
        uptimeMs: status === 'online' && env?.pm_uptime ? Math.max(0, Date.now() - env.pm_uptime) : 0,
        healthy,
        ...(version ? { version } : {}),
        ...(sessions ? { sessions } : {}),
        ...(daemon ? { upstreams: daemon.upstreams } : {}),
        ...(daemon?.upstreamsConfigError ? { upstreamsConfigError: daemon.upstreamsConfigError } : {}),
        ...(unset.length ? { unsetVariables: unset } : {}),
        ...(portHolder ? { portHolder } : {}),
      };
    }),
  );
}
