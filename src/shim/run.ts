/**
 * The shim's wiring: environment -> workspace identity, token and port -> a Bridge whose
 * connect function dials the daemon and, when the daemon is not there, starts it with the
 * same spawn logic as `exai spawn`.
 */
import type { Readable, Writable } from 'node:stream';
import { statSync } from 'node:fs';
import type WebSocket from 'ws';
import { ExaiError, errnoCode, errorMessage, isExaiError, type ErrorCode } from '../common/errors.js';
import { resolveExaiHome } from '../workspace/layout.js';
import { readRegistry, type RegistryEntry } from '../workspace/registry-file.js';
import { stateStamp } from '../workspace/state-stamp.js';
import { ownerOf } from '../start/probe.js';
import { readToken } from '../workspace/token.js';
import { resolveWorkspace, workspaceFromCanonical, type Workspace } from '../workspace/identity.js';
import { dialDaemon } from '../transport/dial.js';
import { MAX_PAYLOAD } from '../transport/constants.js';
import { fetchHealth, type Health } from '../transport/health.js';
import { Bridge, type BridgeOptions, type BridgeResult, type ConnectContext } from './bridge.js';
import { ShimLog } from './log.js';
import { claimStdout } from './stdout.js';
import { shellArg } from '../common/shell.js';

/**
 * Codes `connect` throws that a later attempt may not meet (the daemon starting, moving,
 * coming back): the bridge retries them. Every other ExaiError is fatal (no retry fixes it).
 */
const RETRIED: ReadonlySet<ErrorCode> = new Set(['DAEMON_DOWN', 'UNAUTHORIZED', 'FORBIDDEN', 'TIMEOUT', 'HANDSHAKE_FAILED', 'NO_TOKEN', 'FOREIGN_DAEMON', 'WORKSPACE_REMOVED']);

export interface ShimRunOptions {
  env?: NodeJS.ProcessEnv;
  input?: Readable;
  output?: Writable;
  /** Where log lines for humans go (stderr). */
  errorOutput?: Writable;
  /** Aborting closes the bridge (SIGINT/SIGTERM in the CLI). */
  signal?: AbortSignal;
  /** Bridge tuning (backoff, bounds); streams and connect are set here. */
  tuning?: Omit<BridgeOptions, 'input' | 'output' | 'connect' | 'log' | 'isFatal'>;
  /** How long a connection that worked may be gone before the shim starts the daemon itself. */
  selfStartAfterMs?: number;
  dialTimeoutMs?: number;
}

/** The workspace's registry entry as read; `null` when the registry cannot be read. */
type Entry = RegistryEntry | undefined | null;

/** One connect attempt's reading of EXAI_HOME (see `snapshot` in runShim). */
interface Snapshot {
  entry: Entry;
  token: string | undefined;
  /** The registry's port, else the client config's. */
  port: number;
  stamp: string;
}

/** pm2 restarts a crashed daemon within about a second; give it that before spawning. */
const SELF_START_AFTER_MS = 3_000;

export interface ShimTarget {
  workspace: Workspace;
  /** Whether the workspace folder exists, so the shim may start its daemon. */
  canStart: boolean;
}

/** EXAI_WS_PORT: required, 1..65535. */
export function parseEnvPort(env: NodeJS.ProcessEnv): number {
  const raw = env.EXAI_WS_PORT;
  if (raw === undefined || raw.trim() === '') {
    throw new ExaiError(
      'ENV_INVALID',
      'EXAI_WS_PORT is not set; the exai entry of the MCP client config must set it (`exai spawn --workspace <dir>` rewrites the entry)',
    );
  }
  const port = Number(raw.trim());
  if (!/^\d+$/.test(raw.trim()) || port < 1 || port > 65535) {
    throw new ExaiError(
      'ENV_INVALID',
      `EXAI_WS_PORT ${JSON.stringify(raw)} is not a port; set it to an integer from 1 to 65535 (\`exai spawn --workspace <dir>\` rewrites the client config)`,
    );
  }
  return port;
}

/**
 * Which workspace this shim serves: EXAI_WORKSPACE when it names a folder; otherwise the
 * registered workspace that owns EXAI_WS_PORT (a client that did not expand
 * `${workspaceFolder}` still reaches the right daemon).
 */
export function resolveTarget(env: NodeJS.ProcessEnv, home: string, envPort: number): ShimTarget {
  const raw = env.EXAI_WORKSPACE?.trim();
  let notFound: ExaiError | undefined;
  if (raw) {
    try {
      return { workspace: resolveWorkspace(raw), canStart: true };
    } catch (err) {
      if (!isExaiError(err, 'WORKSPACE_NOT_FOUND')) throw err;
      notFound = err;
    }
  }
  let entries: { workspace: string; port: number }[] = [];
  try {
    entries = Object.values(readRegistry(home).workspaces);
  } catch {
    // A corrupt registry is reported by the CLI commands; here it only means "no hint".
  }
  const owner = entries.find((entry) => entry.port === envPort);
  if (owner) return { workspace: workspaceFromCanonical(owner.workspace), canStart: isDirectory(owner.workspace) };
  if (notFound) {
    throw new ExaiError(
      'WORKSPACE_NOT_FOUND',
      `EXAI_WORKSPACE ${JSON.stringify(raw)} is not an existing folder and no registered workspace uses port ${envPort}; set EXAI_WORKSPACE to the workspace folder in the client config`,
    );
  }
  throw new ExaiError(
    'ENV_INVALID',
    `EXAI_WORKSPACE is not set and no registered workspace uses port ${envPort}; set EXAI_WORKSPACE to the workspace folder in the client config (\`exai spawn --workspace <dir>\` writes it)`,
  );
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/**
 * Runs the shim until stdin ends, the signal aborts, or the daemon can never be reached.
 * Setup problems (bad environment) throw an ExaiError before anything is read.
 */
export async function runShim(options: ShimRunOptions = {}): Promise<BridgeResult> {
  const env = options.env ?? process.env;
  const input = options.input ?? process.stdin;
  const claimed = options.output ? undefined : claimStdout();
  const output = options.output ?? claimed!;
  const errorOutput = options.errorOutput ?? process.stderr;
  const envPort = parseEnvPort(env);
  const home = resolveExaiHome(env);
  const target = resolveTarget(env, home, envPort);
  const { workspace } = target;
  const log = new ShimLog(home, workspace.id, errorOutput, Boolean(env.EXAI_DEBUG));
  log.write('debug', `shim ${process.pid} for ${workspace.path} (${workspace.id}), port hint ${envPort}`);

  const selfStartAfterMs = options.selfStartAfterMs ?? SELF_START_AFTER_MS;
  let startedInOutage = -1;
  let portNoticed = false;
  /** This shim saw the workspace in the registry: its entry going away later is `exai remove`. */
  let seenRegistered = false;

  /** The workspace's registry entry; `null` when the registry cannot be read. */
  const registered = (): Entry => {
    try {
      const entry = readRegistry(home).workspaces[workspace.id];
      if (entry) seenRegistered = true;
      return entry;
    } catch (err) {
      log.write('debug', `registry unreadable (${errorMessage(err)}); using port ${envPort}`);
      return null;
    }
  };
  /**
   * The registry is the truth; the port from the client config only fills in when it is
   * silent. A config naming another port (a teammate's committed one, or one from before a
   * move) is worth one line.
   */
  const notePort = (port: number): number => {
    if (port !== envPort && !portNoticed) {
      portNoticed = true;
      log.write('info', `the client config says port ${envPort}, but ${workspace.path} is registered on port ${port}; using ${port}`);
    }
    return port;
  };

  /**
   * What one connect attempt knows of EXAI_HOME, read once and handed to each step (the dial,
   * the decision to start, the start itself: DESIGN.md "Lifecycle"); the next attempt reads
   * again when EXAI_HOME changed, as the registry may have moved the port meanwhile.
   */
  let last: Snapshot | undefined;
  const snapshot = (): Snapshot => {
    const stamp = stateStamp(home, workspace.id); // before the reads it vouches for
    // Unchanged since the last attempt (a stat, not a read): the bridge's first attempt and the
    // one a waiting request makes read EXAI_HOME once between them.
    if (last?.stamp === stamp && last.entry !== null) return last;
    const entry = registered();
    const token = readToken(home, workspace.id);
    last = { entry, token, port: notePort(entry?.port ?? envPort), stamp };
    return last;
  };

  /**
   * What answers /health on the port, if anything: the shim never starts a daemon for a
   * workspace whose port already answers with its id (DESIGN.md "Lifecycle").
   */
  const healthOf = (port: number): Promise<Health | undefined> => fetchHealth(port, 1_000).catch(() => undefined);

  /** A daemon of this workspace answers, but this shim holds no token for it: another state dir. */
  const stateDirMismatch = (port: number, health: Health): ExaiError =>
    new ExaiError(
      'STATE_DIR_MISMATCH',
      `the daemon of ${workspace.path} on port ${port} uses the state dir ${health.home ?? '(another EXAI_HOME)'}, but this shim looked for its token in ${home}; ` +
        `set EXAI_HOME${health.home ? `=${health.home}` : ''} (and PM2_HOME) in the exai entry's env of the client config — \`exai spawn --workspace ${shellArg(workspace.path)}\` writes them`,
    );

  const selfStart = async (ctx: ConnectContext, snap: Snapshot): Promise<Snapshot> => {
    startedInOutage = ctx.outage;
    const { entry } = snap;
    log.write(
      'info',
      entry?.stopped
        ? `${workspace.path} was stopped with \`exai stop\`; a client connected, so starting it`
        : `the daemon of ${workspace.path} is not running; starting it`,
    );
    try {
      // Loaded only when needed: the supervisor (pm2's client) is heavy and most starts never need it.
      const { spawnWorkspace } = await import('../start/spawn.js');
      // Not an explicit spawn: the launch spec as recorded, and only the configs it recorded.
      // What this attempt read is the start's context (an unreadable registry is the start's to report).
      const known = entry === null ? { workspace } : { workspace, entry, token: snap.token, stamp: snap.stamp };
      const result = await spawnWorkspace({
        workspace: workspace.path,
        home,
        env,
        // A workspace new to this machine takes the port its config names, when that is free.
        preferredPort: envPort,
        // A daemon pm2 calls online but that did not answer this shim is busy, not dead.
        keepRunning: true,
        onProgress: (message) => log.write('debug', `spawn: ${message}`),
        // To the shim's log and stderr: stdout carries protocol bytes only.
        onWarning: (message) => log.write('warn', message),
      }, known);
      log.write('info', `the daemon of ${workspace.path} is up on port ${result.port}`);
      seenRegistered = true;
      // The start made the token if there was none; otherwise it is the one read.
      return { ...snap, port: notePort(result.port), token: snap.token ?? readToken(home, workspace.id) };
    } catch (err) {
      // A busy daemon is worth waiting for (within the outage bound), even before the first connect.
      if (!ctx.everConnected && !isExaiError(err, 'DAEMON_BUSY')) throw err;
      // The editor's session is alive; keep retrying rather than exiting on a transient failure.
      log.write('warn', `starting the daemon failed: ${errorMessage(err)}`);
      throw new Error(`starting the daemon failed: ${errorMessage(err)}`, { cause: err });
    }
  };

  /**
   * Start the daemon only when a request waits for it (a running editor does not undo
   * `exai stop` on its own), once per outage, and after a drop only when pm2 did not bring it
   * back by itself. A workspace that was connected and is now gone from the registry was
   * removed on purpose (`exai remove`): leave it removed.
   */
  const mayStart = (ctx: ConnectContext, snap: Snapshot): boolean => {
    if (!target.canStart || startedInOutage === ctx.outage || ctx.waitingRequests === 0) return false;
    if (!ctx.everConnected) return true;
    if (ctx.downForMs < selfStartAfterMs) return false;
    if (snap.entry === undefined) {
      if (!removedNoticed) log.write('warn', `${workspace.path} is no longer registered (exai remove?); not restarting its daemon`);
      removedNoticed = true;
      return false;
    }
    return true;
  };
  let removedNoticed = false;

  const dial = async ({ port, token }: Snapshot): Promise<WebSocket> => {
    if (token === undefined) {
      const health = await healthOf(port);
      if (health && ownerOf(health, workspace.id, home) !== 'foreign') throw stateDirMismatch(port, health);
      throw new ExaiError('NO_TOKEN', 'no token yet');
    }
    try {
      return await dialDaemon({ port, token, timeoutMs: options.dialTimeoutMs ?? 5_000 });
    } catch (err) {
      const code = errnoCode(err);
      if (code === 'UNAUTHORIZED' || code === 'FORBIDDEN') {
        const health = await healthOf(port);
        // Another workspace's daemon took the port while ours was down: start ours (it moves).
        const owner = health && ownerOf(health, workspace.id, home);
        if (owner === 'foreign') throw new ExaiError('FOREIGN_DAEMON', `port ${port} is served by workspace ${health!.id}`);
        if (owner === 'other-home') throw stateDirMismatch(port, health!);
        throw new ExaiError(
          'CONNECT_FAILED',
          `the daemon on port ${port} refused the shim of ${workspace.path} (${errorMessage(err)}); run \`exai spawn --workspace ${shellArg(workspace.path)}\` and reload the MCP server`,
          { cause: err },
        );
      }
      throw err;
    }
  };

  /**
   * The workspace this shim served was removed (`exai remove`, `doctor --fix --yes`): its
   * registry entry and token are gone. Requests are answered with that at once rather than
   * after the outage bound, and nothing starts it again; an `exai spawn` brings it back, and
   * the next attempt connects.
   */
  let removalNoticed = false;
  const removedError = (snap: Snapshot): Error | undefined => {
    if (!seenRegistered || snap.entry !== undefined || snap.token !== undefined) {
      removalNoticed = false;
      return undefined;
    }
    const message = `exai shim: workspace ${workspace.path} was removed from exai (exai remove); run \`exai spawn --workspace ${shellArg(workspace.path)}\` to bring it back`;
    if (!removalNoticed) log.write('warn', `${message.replace(/^exai shim: /, '')}; answering requests with that meanwhile`);
    removalNoticed = true;
    return new ExaiError('WORKSPACE_REMOVED', message);
  };

  const connect = async (ctx: ConnectContext): Promise<WebSocket> => {
    const snap = snapshot();
    const removed = removedError(snap);
    if (removed) throw removed;
    try {
      return await dial(snap);
    } catch (err) {
      const code = errnoCode(err);
      // A listener that never answers the handshake, or answers it as something else, may be
      // our own busy daemon or another program that took the port while ours was down.
      const unclear = code === 'TIMEOUT' || code === 'HANDSHAKE_FAILED';
      if (code !== 'DAEMON_DOWN' && code !== 'NO_TOKEN' && code !== 'FOREIGN_DAEMON' && !unclear) throw err;
      if (mayStart(ctx, snap)) {
        const { port } = snap;
        const health = await healthOf(port);
        if (health && ownerOf(health, workspace.id, home) !== 'foreign') {
          // Ours answers after all (it was restarting, or is busy): dial again rather than start a second one.
          if (unclear) throw err;
          return dial(snap);
        }
        if (health && !portNoticed) log.write('info', `port ${port} is served by another workspace's daemon (${health.id}); starting ${workspace.path}'s own`);
        else if (unclear) log.write('info', `port ${port} is held by something that is not ${workspace.path}'s daemon; starting it (on a free port, unless its port is pinned)`);
        return dial(await selfStart(ctx, snap));
      }
      if (code === 'NO_TOKEN' && !target.canStart) {
        throw new ExaiError(
          'TOKEN_MISSING',
          `workspace ${workspace.path} has no token in ${home} and its folder is gone; run \`exai spawn --workspace <dir>\` for it`,
        );
      }
      throw err;
    }
  };

  const bridge = new Bridge({
    maxMessageBytes: MAX_PAYLOAD,
    ...options.tuning,
    input,
    output,
    connect,
    log: (level, message) => log.write(level, message),
    isFatal: (err) => err instanceof ExaiError && !RETRIED.has(err.code),
    refusal: (err) => (errnoCode(err) === 'WORKSPACE_REMOVED' ? errorMessage(err) : undefined),
  });
  const onAbort = () => void bridge.close('signal');
  options.signal?.addEventListener('abort', onAbort, { once: true });
  if (options.signal?.aborted) onAbort();
  bridge.start();
  const result = await bridge.done;
  options.signal?.removeEventListener('abort', onAbort);
  // The last answers (errors for waiting requests) must reach the editor before the process exits.
  if (claimed && !claimed.destroyed) await new Promise<void>((resolve) => claimed.end(() => resolve()));
  log.write('debug', `shim ${process.pid} done (code ${result.code})`);
  return result;
}
