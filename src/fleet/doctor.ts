import { existsSync } from 'node:fs';
import { errorMessage, isExaiError } from '../common/errors.js';
import { installedPm2 } from '../common/install.js';
import { EXAI_VERSION } from '../common/version.js';
import { clientConfigPath, entrySettings, readClientEntryPort } from '../supervisor/client-config.js';
import { writeRecordedConfigs } from '../supervisor/configs.js';
import { isIdleMarked } from '../workspace/idle-marker.js';
import { launchDigest, readLaunchEnv } from '../workspace/launch-env.js';
import { exaiProcesses, workspaceStatus } from './processes.js';
import { removeEntry } from './remove.js';
import { serverVariables, serversFile, upstreamTrouble } from './upstream-report.js';
import { probeDaemon } from '../start/health.js';
import type { ExaiStatus } from '../workspace/status.js';
import { homeLayout, pm2Home } from '../workspace/layout.js';
import { stuckLogFiles } from './log-check.js';
import { isPortFree, portSettings } from '../supervisor/ports.js';
import type { Pm2 } from '../supervisor/pm2.js';
import { CLIENT_KINDS, Registry, type RegistryData, type RegistryEntry } from '../supervisor/registry.js';
import { resolveContext } from '../start/context.js';
import { ensureRunning } from '../start/ensure.js';
import { staleness } from '../start/probe.js';
import type { Finding } from './finding.js';
import { trackedConfigFindings } from './tracked-configs.js';
import { checkOwnConfigs, checkOwnDaemon } from './own-doctor.js';
import { readToken } from '../workspace/token.js';
import { workspaceFromCanonical } from '../workspace/identity.js';
import { shellArg } from '../common/shell.js';

export type { Finding };

export interface DoctorOptions {
  home: string;
  pm2: Pm2;
  fix: boolean;
  /** Allows destructive fixes: dropping entries whose workspace folder is gone. */
  yes: boolean;
}

export async function runDoctor({ home, pm2, fix, yes }: DoctorOptions): Promise<Finding[]> {
  const findings: Finding[] = [];
  const add = (f: Finding) => findings.push(f);

  add(pm2VersionFinding(await pm2.daemonVersion(), installedPm2().version));

  const registry = new Registry(home);
  let data: RegistryData;
  try {
    data = registry.read();
    add({ scope: 'registry', check: 'readable', status: 'ok', message: `${registry.file} holds ${Object.keys(data.workspaces).length} workspace(s)` });
  } catch (err) {
    if (!isExaiError(err, 'REGISTRY_CORRUPT')) throw err;
    if (!fix) {
      add({ scope: 'registry', check: 'readable', status: 'problem', message: errorMessage(err), fix: 'exai doctor --fix' });
      return findings;
    }
    const fromBackup = registry.readBackup() !== undefined;
    data = await rebuildRegistry(registry, pm2);
    const count = `${Object.keys(data.workspaces).length} workspace(s)`;
    add(
      fromBackup
        ? { scope: 'registry', check: 'readable', status: 'fixed', message: `rebuilt ${registry.file} from its backup and pm2: ${count}` }
        : {
            scope: 'registry',
            check: 'readable',
            status: 'fixed',
            // pm2 knows folders and ports, not the rest of a launch spec: say what is gone.
            message: `rebuilt ${registry.file} from pm2 alone (its backup is missing or unreadable too): ${count}; idle timeouts, --port pins and --pass-env names are not kept by pm2 — run exai spawn again with them where you had set them`,
          },
    );
  }

  const procs = await exaiProcesses(pm2, home);
  for (const entry of Object.values(data.workspaces)) {
    await checkWorkspace(entry, { home, pm2, registry, fix, yes, add, data, hasApp: procs.has(entry.name), status: workspaceStatus(entry, procs.get(entry.name), isIdleMarked(home, entry.id)) });
  }
  return findings;
}

/**
 * A pm2 daemon of another version than exai's own pm2 (a global pm2 started it, or exai was
 * upgraded under a running daemon). `pm2 update` restarts the daemon from the pm2 that runs the
 * command (pm2 lib/API.js `update`: dump, kill, launch its own daemon, resurrect), so only exai's
 * pm2 brings exai's version back; a global pm2 of another version would keep the mismatch.
 */
function pm2VersionFinding(running: string, installed: string): Finding {
  if (running === installed) return { scope: 'pm2', check: 'version', status: 'ok', message: `pm2 daemon reachable, version ${running}` };
  const newer = compareVersions(running, installed) > 0;
  return {
    scope: 'pm2',
    check: 'version',
    status: 'problem',
    message: `the pm2 daemon runs pm2 ${running}, exai's own pm2 is ${installed} (${newer ? 'a newer pm2, likely a global one, started it' : 'it was started before an upgrade, or by an older pm2'})`,
    fix:
      `exai pm2 update (restarts the daemon on pm2 ${installed} and brings every app back; \`pm2 update\` from a pm2 of another version would load that version again)` +
      (newer ? `; if your own pm2 ${running} runs other apps in this PM2_HOME, give exai a PM2_HOME of its own instead` : ''),
  };
}

/** Numeric compare of dotted versions (pre-release tags ignored): <0, 0, >0. */
function compareVersions(a: string, b: string): number {
  const parts = (v: string) => v.split(/[.+-]/).slice(0, 3).map((p) => Number.parseInt(p, 10) || 0);
  const [x, y] = [parts(a), parts(b)];
  for (let i = 0; i < 3; i++) if ((x[i] ?? 0) !== (y[i] ?? 0)) return (x[i] ?? 0) - (y[i] ?? 0);
  return 0;
}

export interface WorkspaceCheck {
  home: string;
  pm2: Pm2;
  registry: Registry;
  fix: boolean;
  yes: boolean;
  hasApp: boolean;
  /** `workspaceStatus`: pm2's, with idle and stopped told apart. */
  status: string;
  /** The whole registry: a gone folder's entry names the one it moved to. */
  data: RegistryData;
  add: (f: Finding) => void;
}

async function checkWorkspace(entry: RegistryEntry, c: WorkspaceCheck): Promise<void> {
  const scope = entry.workspace;
  const quoted = shellArg(entry.workspace);
  if (!existsSync(entry.workspace)) {
    const moved = Object.values(c.data.workspaces).find((e) => e.movedFrom === entry.workspace && e.id !== entry.id);
    const gone = `workspace folder is gone${moved ? ` (moved or renamed: ${moved.workspace} held its configs and is registered on port ${moved.port})` : ''}`;
    if (c.fix && c.yes) {
      const res = await removeEntry(c.home, c.pm2, c.registry, entry);
      if (res.removed) c.add({ scope, check: 'directory', status: 'fixed', message: `${gone}; removed its daemon and freed port ${entry.port}` });
      else c.add({ scope, check: 'directory', status: 'problem', message: `${gone}; ${res.problems.join('; ')}`, fix: `exai remove --workspace ${quoted}` });
    } else {
      // Said as it is: after pm2 died (or `exai stop`) no daemon runs, only the entry keeps the port.
      const online = (await c.pm2.describe(entry.name))?.pm2_env?.status === 'online';
      const holds = online ? `its daemon still holds port ${entry.port}` : `no daemon runs, but its registry entry still reserves port ${entry.port}`;
      c.add({ scope, check: 'directory', status: 'problem', message: `${gone}; ${holds}`, fix: `exai remove --workspace ${quoted} (or exai doctor --fix --yes)` });
    }
    return;
  }
  c.add({ scope, check: 'directory', status: 'ok', message: 'workspace folder exists' });

  if (entry.stopped) {
    // Stopped on purpose: not a fault, and not for --fix to undo; a squatter on its port is
    // worth knowing before the next start moves it.
    if (await isPortFree(entry.port)) {
      c.add({ scope, check: 'daemon', status: 'ok', message: `stopped with \`exai stop\`; \`exai spawn --workspace ${quoted}\` starts it on port ${entry.port}` });
    } else {
      c.add({ scope, check: 'daemon', status: 'problem', message: `stopped with \`exai stop\`, and port ${entry.port} is now held by another process`, fix: `exai spawn --workspace ${quoted} (moves it to a free port)` });
    }
    await checkConfigs(entry, c);
    return;
  }
  checkPassedVariables(entry, c);
  if (c.status === 'idle') {
    // Exited after its idle timeout, as designed: the next client or `exai spawn` wakes it.
    c.add({ scope, check: 'daemon', status: 'ok', message: `idle (exited after its idle timeout); the next client or \`exai spawn\` wakes it on port ${entry.port}` });
    await checkConfigs(entry, c);
    return;
  }
  if (entry.ownDaemon) {
    await checkOwnDaemon(entry, c);
    return;
  }
  const token = readToken(c.home, entry.id);
  const probe = token ? await probeDaemon({ port: entry.port, id: entry.id, token, withStatus: true }) : undefined;
  let daemonProblem: string | undefined;
  let stale = false;
  if (!c.hasApp) daemonProblem = `no pm2 app ${entry.name}`;
  else if (!probe) daemonProblem = 'its token is missing';
  else if (probe.state === 'foreign') daemonProblem = `port ${entry.port} is held by another process (${probe.reason})`;
  else if (probe.state !== 'healthy') daemonProblem = `the daemon on port ${entry.port} does not answer (${probe.reason})`;
  else {
    const why = staleness(probe.health, launchDigest(entry, readLaunchEnv(c.home, entry.id), token!));
    stale = why !== undefined;
    if (why === 'version') daemonProblem = `the daemon runs exai ${probe.health.version}, ${EXAI_VERSION} is installed`;
    else if (why === 'spec') daemonProblem = 'the daemon was started with other launch inputs (port, idle timeout or passed variables) than its registry entry records';
  }
  if (!daemonProblem) {
    c.add({ scope, check: 'daemon', status: 'ok', message: `daemon healthy on port ${entry.port}, exai ${EXAI_VERSION}` });
    if (probe?.state === 'healthy' && probe.status) checkUpstreams(scope, probe.status, c);
    await checkLogs(entry, c);
  } else if (c.fix) {
    try {
      // On the command's own pm2 connection: a second connect inside it would replace pm2's one
      // client, and its disconnect would leave this command's calls to reconnect through pm2's
      // own path, past exai's locked, detached start of the pm2 daemon (issue 22).
      const res = await ensureRunning(resolveContext({ workspace: entry.workspace, home: c.home, restart: stale }), c.pm2);
      c.add({ scope, check: 'daemon', status: 'fixed', message: `${daemonProblem}; now healthy on port ${res.port}${res.movedFrom ? ` (moved from ${res.movedFrom})` : ''}` });
      entry = { ...entry, port: res.port };
    } catch (err) {
      // A client config spawn refused (unparsable, read-only) is the cause, not the daemon: its logs say nothing of it.
      const config = isExaiError(err) && err.code.startsWith('CONFIG_');
      c.add({ scope, check: 'daemon', status: 'problem', message: `${daemonProblem}; fixing failed: ${errorMessage(err)}`, fix: config ? 'fix the client config named above, then exai doctor --fix' : `exai logs --workspace ${quoted}` });
    }
  } else {
    c.add({ scope, check: 'daemon', status: 'problem', message: daemonProblem, fix: stale ? `exai restart --workspace ${quoted}` : `exai spawn --workspace ${quoted}` });
  }

  await checkConfigs(entry, c);
}

/** pm2 still writes the daemon's log files (it stops for good after a failed write: a full disk). */
async function checkLogs(entry: RegistryEntry, c: WorkspaceCheck): Promise<void> {
  const layout = homeLayout(c.home);
  const files = [layout.outLog(entry.name), layout.errLog(entry.name)];
  let stuck: string[];
  try {
    stuck = await stuckLogFiles(c.pm2, entry.name, files);
  } catch {
    return; // the daemon could not be asked (it is going away): nothing to tell about its logs
  }
  if (!stuck.length) {
    c.add({ scope: entry.workspace, check: 'logs', status: 'ok', message: `pm2 writes ${files.join(' and ')}` });
    return;
  }
  const problem = `pm2 stopped writing ${stuck.join(' and ')} (a write failed, e.g. the disk was full; it does not retry by itself)`;
  if (!c.fix) {
    c.add({ scope: entry.workspace, check: 'logs', status: 'problem', message: problem, fix: 'exai doctor --fix (reopens the log files: pm2 reloadLogs)' });
    return;
  }
  await c.pm2.reloadLogs();
  stuck = await stuckLogFiles(c.pm2, entry.name, files);
  if (!stuck.length) c.add({ scope: entry.workspace, check: 'logs', status: 'fixed', message: `${problem}; reopened them, logging goes on` });
  else c.add({ scope: entry.workspace, check: 'logs', status: 'problem', message: `${problem}; reopening them did not help`, fix: `free space on the disk of ${layout.logs}, then exai doctor --fix` });
}

export async function checkConfigs(entry: RegistryEntry, c: WorkspaceCheck): Promise<void> {
  if (entry.ownDaemon) return checkOwnConfigs(entry, c);
  const scope = entry.workspace;
  for (const kind of entry.clients) {
    const file = clientConfigPath(kind, entry.workspace);
    const port = readClientEntryPort(kind, entry.workspace);
    if (port === entry.port) {
      c.add({ scope, check: `config ${kind}`, status: 'ok', message: `${file} points at port ${port}` });
      continue;
    }
    const problem =
      port === 'unparsable'
        ? `${file} cannot be parsed`
        : port !== undefined
          ? `${file} points at port ${port}, the registry says ${entry.port}`
          : existsSync(file)
            ? `${file} has no exai entry`
            : `${file} is missing`;
    if (c.fix && port !== 'unparsable') {
      try {
        // The launch spec's port, and what the writing creates recorded for `remove`.
        await writeRecordedConfigs({ registry: c.registry, workspace: entry.workspace, id: entry.id, kinds: [kind], port: entry.port, dirs: entrySettings(c.home) });
        c.add({ scope, check: `config ${kind}`, status: 'fixed', message: `${problem}; rewrote it with port ${entry.port}` });
      } catch (err) {
        c.add({ scope, check: `config ${kind}`, status: 'problem', message: `${problem}; fixing failed: ${errorMessage(err)}`, fix: `make ${file} writable, then exai doctor --fix` });
      }
    } else {
      c.add({ scope, check: `config ${kind}`, status: 'problem', message: problem, fix: port === 'unparsable' ? `fix ${file}, then exai doctor --fix` : 'exai doctor --fix' });
    }
  }
  for (const finding of trackedConfigFindings(entry)) c.add(finding);
}

/**
 * `${env:NAME}` or `${NAME}` in `.exai/servers.json` that the daemon's recorded launch
 * environment cannot fill: the server would silently get an empty string (issue 11, "passed
 * variables vanish"). spawn and list warn of the same (serverVariables).
 */
function checkPassedVariables(entry: RegistryEntry, c: WorkspaceCheck): void {
  const file = serversFile(entry.workspace);
  const { read, unset: missing } = serverVariables(c.home, entry.id, entry.workspace);
  if (!read.length) return;
  const quoted = shellArg(entry.workspace);
  if (!missing.length) {
    c.add({ scope: entry.workspace, check: 'passed variables', status: 'ok', message: `${read.join(', ')}, read by ${file}, are set` });
    return;
  }
  c.add({
    scope: entry.workspace,
    check: 'passed variables',
    status: 'problem',
    message: `${file} reads ${missing.join(', ')} but the daemon's environment has no ${missing.join(', ')}: the server gets an empty string`,
    fix: `from a shell where ${missing.join(', ')} ${missing.length > 1 ? 'are' : 'is'} set: exai spawn --workspace ${quoted} ${missing.map((n) => `--pass-env ${n}`).join(' ')}`,
  });
}

/**
 * The workspace's own MCP servers: a broken servers.json and upstreams that kept crashing.
 * Neither is for doctor to repair: the daemon retries as soon as the file is saved again.
 */
function checkUpstreams(scope: string, status: ExaiStatus, c: WorkspaceCheck): void {
  const file = serversFile(scope);
  if (status.upstreamsConfigError) {
    // The daemon's line ends with its own advice for its log; doctor gives the fix once, its way.
    const problem = status.upstreamsConfigError.replace(/; fix the file \(.*\)$/, '');
    c.add({ scope, check: 'upstreams', status: 'problem', message: problem, fix: `correct ${file}; the daemon reloads it on save` });
  }
  const troubled = status.upstreams.flatMap((u) => {
    const trouble = upstreamTrouble(u);
    return trouble ? [{ u, trouble }] : [];
  });
  for (const { u, trouble } of troubled) {
    c.add({ scope, check: `upstream ${u.name}`, status: 'problem', message: trouble, fix: `${u.fix ?? 'fix its command'} in ${file} and save the file (that retries it)` });
  }
  if (!status.upstreamsConfigError && !troubled.length && status.upstreams.length) {
    c.add({ scope, check: 'upstreams', status: 'ok', message: `${status.upstreams.length} upstream server(s): ${status.upstreams.map((u) => `${u.name} ${u.state}`).join(', ')}` });
  }
}

/**
 * A corrupt registry is rebuilt, never reset: the last good backup first, then every pm2 app
 * in exai's namespace (its env records workspace and port) fills in what the backup missed.
 */
async function rebuildRegistry(registry: Registry, pm2: Pm2): Promise<RegistryData> {
  const data: RegistryData = registry.readBackup() ?? { version: 1, workspaces: {} };
  const now = new Date().toISOString();
  for (const proc of (await exaiProcesses(pm2, registry.home)).values()) {
    const env = (proc.pm2_env ?? {}) as { env?: Record<string, string>; EXAI_WORKSPACE?: string; EXAI_WS_PORT?: string };
    const path = env.env?.EXAI_WORKSPACE ?? env.EXAI_WORKSPACE;
    const port = Number(env.env?.EXAI_WS_PORT ?? env.EXAI_WS_PORT);
    if (!path || !Number.isInteger(port)) continue;
    const ws = workspaceFromCanonical(path);
    if (data.workspaces[ws.id]) continue;
    // pm2 does not know which client configs exai wrote; the configs themselves do. Without
    // this, a later `remove` would leave exai's entry behind in them.
    const clients = CLIENT_KINDS.filter((kind) => typeof readClientEntryPort(kind, path) === 'number');
    data.workspaces[ws.id] = { workspace: path, id: ws.id, name: proc.name ?? ws.name, port, pinned: false, clients, createdAt: now, updatedAt: now };
  }
  await registry.restore(data);
  return data;
}
