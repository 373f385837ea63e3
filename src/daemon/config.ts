import { statSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import { ExaiError, errnoCode, errorMessage, isExaiError } from '../common/errors.js';
import { resolveWorkspace, type Workspace } from '../workspace/identity.js';
import { isIdleMarked } from '../workspace/idle-marker.js';
import { readLaunchEnv, type LaunchEnv } from '../workspace/launch-env.js';
import { readRegistry, type RegistryEntry } from '../workspace/registry-file.js';
import { shellArg } from '../common/shell.js';

export const DEFAULT_HEARTBEAT_MS = 30_000;

/** Everything the daemon takes from its environment, validated. */
export interface DaemonConfig {
  port: number;
  workspace: Workspace;
  home: string;
  heartbeatMs: number;
}

/** The workspace's launch spec as the daemon finds it at start (DESIGN.md "Lifecycle"). */
export interface DaemonLaunch {
  /** The registry entry; undefined for a daemon started by hand for an unregistered folder. */
  entry: RegistryEntry | undefined;
  /** The recorded launch environment (PATH, HOME, passed variables), if any. */
  env: LaunchEnv | undefined;
  /** The port to bind: the registry's, which wins over a stale EXAI_WS_PORT. */
  port: number;
  /** Things worth a log line (a stale port in pm2's env, an unreadable registry). */
  notes: string[];
}

/**
 * Reads the launch spec of `config.workspace` from EXAI_HOME. Throws WORKSPACE_STOPPED when
 * the user stopped it (a bulk path such as `pm2 resurrect` started it anyway), WORKSPACE_IDLE
 * when it went idle and nothing woke it (the same paths), and, under pm2
 * (`pm_id` in the environment), WORKSPACE_NOT_REGISTERED when the registry no longer has it.
 * A corrupt registry is not the daemon's to judge: it runs from its environment and says so.
 */
export function readDaemonLaunch(config: DaemonConfig, env: NodeJS.ProcessEnv = process.env): DaemonLaunch {
  const notes: string[] = [];
  let entry: RegistryEntry | undefined;
  let readable = true;
  try {
    entry = readRegistry(config.home).workspaces[config.workspace.id];
  } catch (err) {
    readable = false;
    notes.push(`the registry is unreadable (${errorMessage(err)}); running from the environment pm2 gave`);
  }
  const quoted = shellArg(config.workspace.path);
  if (entry?.stopped) {
    throw new ExaiError('WORKSPACE_STOPPED', `${config.workspace.path} was stopped with \`exai stop\`; not starting (\`exai spawn --workspace ${quoted}\` starts it)`);
  }
  if (!entry && readable && env.pm_id !== undefined) {
    throw new ExaiError(
      'WORKSPACE_NOT_REGISTERED',
      `${config.workspace.path} is not registered in ${config.home} (removed with \`exai remove\`?); not starting — \`exai spawn --workspace ${quoted}\` registers it again`,
    );
  }
  if (entry && isIdleMarked(config.home, config.workspace.id)) {
    // Woken daemons start with the marker removed; this start is a bulk path's (pm2 resurrect).
    throw new ExaiError('WORKSPACE_IDLE', `${config.workspace.path} is idle; not starting until a client or \`exai spawn\` wakes it`);
  }
  if (entry && entry.port !== config.port) notes.push(`pm2 gave port ${config.port}, the launch spec says ${entry.port}; binding ${entry.port}`);
  return { entry, env: entry ? readLaunchEnv(config.home, config.workspace.id) : undefined, port: entry?.port ?? config.port, notes };
}

/**
 * Reads EXAI_WS_PORT, EXAI_WORKSPACE, EXAI_HOME (all required: pm2 sets them from the
 * registry, and a daemon guessing any of them would serve the wrong workspace or token) and
 * the optional EXAI_HEARTBEAT_MS. Any problem is ENV_INVALID naming the variable.
 */
export function readDaemonConfig(env: NodeJS.ProcessEnv = process.env): DaemonConfig {
  return {
    port: readPort(env),
    workspace: readWorkspace(env),
    home: readHome(env),
    heartbeatMs: readHeartbeat(env),
  };
}

function invalid(message: string): ExaiError {
  return new ExaiError('ENV_INVALID', message);
}

function readPort(env: NodeJS.ProcessEnv): number {
  const raw = env.EXAI_WS_PORT;
  if (raw === undefined || raw.trim() === '') {
    throw invalid('EXAI_WS_PORT is not set; the daemon is started by `exai spawn`, which sets it (or set it to a port from 1 to 65535)');
  }
  const port = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw invalid(`EXAI_WS_PORT=${JSON.stringify(raw)} is not a port; set it to an integer from 1 to 65535`);
  }
  return port;
}

function readWorkspace(env: NodeJS.ProcessEnv): Workspace {
  const raw = env.EXAI_WORKSPACE;
  if (raw === undefined || raw.trim() === '') {
    throw invalid('EXAI_WORKSPACE is not set; set it to the workspace folder (`exai spawn --workspace DIR` does)');
  }
  try {
    return resolveWorkspace(raw);
  } catch (err) {
    if (isExaiError(err, 'WORKSPACE_NOT_FOUND')) {
      throw invalid(`EXAI_WORKSPACE=${JSON.stringify(raw)} is not an existing directory; set it to the workspace folder`);
    }
    throw err;
  }
}

function readHome(env: NodeJS.ProcessEnv): string {
  const raw = env.EXAI_HOME;
  if (raw === undefined || raw.trim() === '') {
    throw invalid('EXAI_HOME is not set; set it to exai\'s state directory (`exai spawn` does)');
  }
  if (!isAbsolute(raw)) {
    throw invalid(`EXAI_HOME=${JSON.stringify(raw)} is not an absolute path; set it to an absolute directory`);
  }
  try {
    if (!statSync(raw).isDirectory()) throw invalid(`EXAI_HOME=${JSON.stringify(raw)} is not a directory; point it at a directory`);
  } catch (err) {
    // A home that does not exist yet is created with the token; anything else is unusable.
    if (errnoCode(err) !== 'ENOENT') throw isExaiError(err) ? err : invalid(`EXAI_HOME=${JSON.stringify(raw)} is unreadable (${errnoCode(err) ?? String(err)}); fix its permissions`);
  }
  return raw;
}

function readHeartbeat(env: NodeJS.ProcessEnv): number {
  const raw = env.EXAI_HEARTBEAT_MS;
  if (raw === undefined || raw.trim() === '') return DEFAULT_HEARTBEAT_MS;
  const ms = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || !Number.isInteger(ms) || ms < 10) {
    throw invalid(`EXAI_HEARTBEAT_MS=${JSON.stringify(raw)} is not a heartbeat interval; set an integer number of milliseconds (>= 10) or unset it`);
  }
  return ms;
}

/**
 * EXAI_HTTP_SESSION_IDLE_MS: how long a Streamable HTTP session may stay quiet before it
 * expires (undefined = the default, 10 min). Meant for tests; an unusable value is ENV_INVALID.
 */
export function readHttpSessionIdle(env: NodeJS.ProcessEnv): number | undefined {
  const raw = env.EXAI_HTTP_SESSION_IDLE_MS;
  if (raw === undefined || raw.trim() === '') return undefined;
  const ms = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || !Number.isInteger(ms) || ms < 100) {
    throw invalid(`EXAI_HTTP_SESSION_IDLE_MS=${JSON.stringify(raw)} is not a duration; set an integer number of milliseconds (>= 100) or unset it`);
  }
  return ms;
}
