import { currentDaemonFile, ownHealthy } from '../start/own-health.js';
import { existsSync, rmSync } from 'node:fs';
import { posix, resolve, win32 } from 'node:path';
import type { ProcessDescription } from 'pm2';
import { ExaiError, errorMessage, isExaiError } from '../common/errors.js';
import { EXIT_ADDR_IN_USE, EXIT_IDLE, EXIT_STOPPED } from '../common/exit-codes.js';
import { homeLayout } from '../workspace/layout.js';
import { clearIdle, isIdleMarked } from '../workspace/idle-marker.js';
import { deleteLaunchEnv } from '../workspace/launch-env.js';
import { deleteToken, readToken } from '../workspace/token.js';
import { comparisonKey, resolveWorkspace, workspaceFromCanonical, PM2_NAMESPACE } from '../workspace/identity.js';
import { checkRemovable, readClientEntry, removeClientEntry } from './client-config.js';
import { createdBy, removeCreatedFolders } from './configs.js';
import { probeDaemon, type DaemonStatus, type UpstreamSummary } from '../start/health.js';
import type { Pm2 } from './pm2.js';
import { describePortHolder } from './port-owner.js';
import { probePort } from './ports.js';
import { CLIENT_KINDS, Registry, type RegistryEntry } from './registry.js';
import { appHome, assertOwnApp } from '../start/start.js';
import { shellArg } from '../common/shell.js';
import { LOG_KEEP } from '../daemon/log-rotation.js';
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
  version?: string;
  /** Open client sessions by transport (only when healthy; `exai list`'s own probe not counted). */
  sessions?: { ws: number; http: number };
  /** The workspace's own MCP servers, as its daemon reports them (only when healthy). */
  upstreams?: UpstreamSummary[];
  /** Why `.exai/servers.json` is unusable, when it is. */
  upstreamsConfigError?: string;
  /** Variables servers.json reads that the daemon's recorded environment lacks (`--pass-env` them). */
  unsetVariables?: string[];
  /** Who holds the port when the daemon exited because it was taken (the next `spawn` moves it). */
  portHolder?: string;
}

/**
 * `--workspace DIR` or `--all` to registry entries. A deleted workspace folder can still be
 * named (to stop or remove its daemon): then the entry is found by its recorded path, compared
 * as the OS compares paths (on Windows: any case, either separator; WINDOWS.md #28). `platform`
 * defaults to the running one; tests pass 'win32'.
 */
export function selectEntries(registry: Registry, target: { workspace?: string; all?: boolean }, platform: NodeJS.Platform = process.platform): RegistryEntry[] {
  const data = registry.read();
  if (target.all) return Object.values(data.workspaces);
  if (!target.workspace) throw new ExaiError('USAGE', 'name the workspace with --workspace DIR, or use --all');
  let id: string;
  try {
    id = resolveWorkspace(target.workspace).id;
  } catch (err) {
    if (!isExaiError(err, 'WORKSPACE_NOT_FOUND')) throw err;
    const path = (platform === 'win32' ? win32 : posix).resolve(target.workspace);
    const key = comparisonKey(path, platform);
    const gone = Object.values(data.workspaces).find((e) => comparisonKey(e.workspace, platform) === key);
    if (gone) return [gone];
    id = workspaceFromCanonical(path, platform).id;
  }
  const entry = data.workspaces[id];
  if (!entry && !existsSync(resolve(target.workspace))) {
    throw new ExaiError(
      'WORKSPACE_NOT_REGISTERED',
      `${target.workspace} is neither a folder nor a registered workspace; check the path (\`exai list\` shows the registered ones)`,
    );
  }
  if (!entry) {
    throw new ExaiError(
      'WORKSPACE_NOT_REGISTERED',
      `${target.workspace} has no exai daemon; run \`exai spawn --workspace ${shellArg(target.workspace)}\` first (\`exai list\` shows the known ones)`,
    );
  }
  return [entry];
}

/**
 * The pm2 apps in exai's namespace that this EXAI_HOME started, by name: another home's apps
 * in a shared pm2 are never listed, adopted or touched (WINDOWS.md #2).
 */
export async function exaiProcesses(pm2: Pm2, home: string): Promise<Map<string, ProcessDescription>> {
  const byName = new Map<string, ProcessDescription>();
  for (const proc of await pm2.list()) {
    const env = proc.pm2_env as { namespace?: string } | undefined;
    const owner = appHome(proc);
    if (proc.name && env?.namespace === PM2_NAMESPACE && (owner === undefined || resolve(owner) === resolve(home))) byName.set(proc.name, proc);
  }
  return byName;
}

/**
 * A workspace's status as users read it (DESIGN.md "CLI"): pm2's, except that a daemon that
 * exited after its idle timeout is `idle`, one that refused to run because it was stopped on
 * purpose is `stopped`, one whose port was taken is `errored`, and a registered workspace pm2
 * does not know is `stopped` when the user stopped it, `idle` when it went idle (`idle`: its
 * marker is there), else `not started`.
 */
export function workspaceStatus(entry: RegistryEntry, proc: ProcessDescription | undefined, idle = false): string {
  const env = proc?.pm2_env as { status?: string; exit_code?: number } | undefined;
  // Stopped on purpose wins over how it last exited (an idle daemon the user then stopped).
  if (entry.stopped && env?.status !== 'online') return 'stopped';
  if (!env?.status) return idle ? 'idle' : 'not started';
  if (env.status === 'stopped' && env.exit_code === EXIT_IDLE) return 'idle';
  if (env.status === 'stopped' && env.exit_code === EXIT_STOPPED) return 'stopped';
  if (env.status === 'stopped' && env.exit_code === EXIT_ADDR_IN_USE) return 'errored';
  return env.status;
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
      let sessions: { ws: number; http: number } | undefined;
      let daemon: DaemonStatus | undefined;
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

/** Stops the daemon and remembers it was stopped on purpose (it is not brought back with the fleet). */
export async function stopEntry(pm2: Pm2, registry: Registry, entry: RegistryEntry): Promise<boolean> {
  const proc = await pm2.describe(entry.name);
  assertOwnApp(proc, registry.home, entry.name);
  await registry.update((data) => {
    const e = data.workspaces[entry.id];
    if (e) e.stopped = true;
  });
  if (!proc) return false;
  await pm2.stop(entry.name);
  return true;
}

/**
 * Takes everything exai made for a workspace back: the pm2 app, exai's entry in each client
 * config it wrote (nothing else in those files), the files and folders its record says exai
 * created (configs.ts; never the workspace folder), the token, and the registry entry (which
 * frees the port). A client config that cannot be parsed, or a read-only one holding exai's
 * entry, is left alone and reported, and nothing is removed.
 */
export async function removeEntry(
  home: string,
  pm2: Pm2,
  registry: Registry,
  entry: RegistryEntry,
  /** Called once the pm2 app is gone (the tests pause there to interrupt a remove midway). */
  onStep?: (step: 'app-deleted') => Promise<void>,
): Promise<{ removed: boolean; configFiles: string[]; problems: string[] }> {
  // exai's entry comes out of every client config that holds one, recorded or not (a shim
  // start records none): a leftover entry would register the workspace again at the next launch.
  const kinds = CLIENT_KINDS.filter((kind) => entry.clients.includes(kind) || readClientEntry(kind, entry.workspace) !== undefined);
  // Checked before anything is deleted: a failed remove changes nothing, so running it again works.
  const unreadable = kinds.flatMap((kind) => {
    try {
      checkRemovable(kind, entry.workspace);
      return [];
    } catch (err) {
      return [`${isExaiError(err) ? `${err.code}: ` : ''}${errorMessage(err)}; nothing of ${entry.workspace} was removed`];
    }
  });
  if (unreadable.length) return { removed: false, configFiles: [], problems: unreadable };
  const proc = await pm2.describe(entry.name);
  assertOwnApp(proc, home, entry.name);
  if (proc) await pm2.delete(entry.name);
  await onStep?.('app-deleted');
  const configFiles: string[] = [];
  const problems: string[] = [];
  for (const kind of kinds) {
    try {
      const { file, changed } = await removeClientEntry(kind, entry.workspace, createdBy(entry));
      if (changed) configFiles.push(file);
    } catch (err) {
      problems.push(errorMessage(err));
    }
  }
  removeCreatedFolders(entry);
  deleteToken(home, entry.id);
  deleteLaunchEnv(home, entry.id);
  clearIdle(home, entry.id);
  // A workspace's own daemon: its expanded launch and its private state dir (exai made both).
  rmSync(homeLayout(home).daemonLaunchFile(entry.id), { force: true });
  rmSync(homeLayout(home).stateDir(entry.id), { recursive: true, force: true });
  rmSync(homeLayout(home).leasesDir(entry.id), { recursive: true, force: true });
  const logs = [homeLayout(home).outLog(entry.name), homeLayout(home).errLog(entry.name), homeLayout(home).shimLog(entry.id)];
  const rotated = logs.flatMap((file) => Array.from({ length: LOG_KEEP }, (_, i) => `${file}.${i + 1}`));
  for (const file of [...logs, ...rotated, homeLayout(home).catalogFile(entry.id)]) rmSync(file, { force: true });
  await registry.update((data) => {
    delete data.workspaces[entry.id];
  });
  return { removed: true, configFiles, problems };
}
