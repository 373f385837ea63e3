import { currentDaemonFile, ownHealthy } from '../start/own-health.js';
import { isIdleMarked } from '../workspace/idle-marker.js';
import { readToken } from '../workspace/token.js';
import { probeDaemon, type Probe } from '../start/health.js';
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

/** How long one daemon may take to answer `exai list`'s probe. */
const PROBE_TIMEOUT_MS = 1_500;

/** Probes started before pm2 answers, by workspace id, with the port each one asked. */
export type ProbesAhead = Map<string, { port: number; probe: Promise<Probe> }>;

/**
 * Starts the probe of every registered daemon that may be running, before pm2 is connected:
 * the daemons answer while pm2 loads and connects (on 50 workspaces that wait was a third of
 * `exai list`). A probe sends the token only to the daemon whose /health names the workspace.
 */
export function probeAhead(home: string, entries: RegistryEntry[]): ProbesAhead {
  const ahead: ProbesAhead = new Map();
  for (const entry of entries) {
    if (entry.ownDaemon || entry.stopped || isIdleMarked(home, entry.id)) continue;
    const token = readToken(home, entry.id);
    if (token) ahead.set(entry.id, { port: entry.port, probe: probeDaemon({ port: entry.port, id: entry.id, token, timeoutMs: PROBE_TIMEOUT_MS, withStatus: true }) });
  }
  return ahead;
}

/**
 * Registry entries joined with pm2's view and a real authenticated ping, all in parallel. A
 * probe from `ahead` is used when it asked the port the entry has now and pm2 was running
 * already (a pm2 this connect started has just brought the fleet back: probe again).
 */
export async function listRows(home: string, pm2: Pm2, entries: RegistryEntry[], ahead?: ProbesAhead): Promise<ListRow[]> {
  const timeoutMs = PROBE_TIMEOUT_MS;
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
        const early = pm2.startedDaemon ? undefined : ahead?.get(entry.id);
        const probe = early?.port === entry.port ? await early.probe : await probeDaemon({ port: entry.port, id: entry.id, token, timeoutMs, withStatus: true });
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
