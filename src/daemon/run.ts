import { formatDuration } from '../common/duration.js';
import { EXIT_IDLE } from '../common/exit-codes.js';
import { resolveWorkspace, type Workspace } from '../workspace/identity.js';
import { markIdle } from '../workspace/idle-marker.js';
import { launchDigest, launchVariables } from '../workspace/launch-env.js';
import { homeLayout } from '../workspace/layout.js';
import { DEFAULT_IDLE_TIMEOUT_MS } from '../workspace/registry-file.js';
import { ensureToken } from '../workspace/token.js';
import { readDaemonConfig, readDaemonLaunch, readHttpSessionIdle, DEFAULT_HEARTBEAT_MS, type DaemonLaunch } from './config.js';
import { watchIdle } from './idle.js';
import { LOG_MAX_BYTES, logFilesToRotate, watchLogSizes } from './log-rotation.js';
import { isLogCheck, silentLogger, writeLogCheck, type Logger } from './log.js';
import { publishPm2Metrics } from './metrics.js';
import { listenDaemon } from './server.js';
import { createDaemonState, type DaemonState } from './state.js';
import { Gateway, type GatewayOptions } from './upstreams/gateway.js';

export { EXIT_ADDR_IN_USE } from '../common/exit-codes.js';

export interface StartDaemonOptions {
  /** The workspace folder (resolved to its identity) or an identity already resolved. */
  workspace: string | Workspace;
  home: string;
  /** 0 picks a free port (tests only; the supervisor always assigns one). */
  port: number;
  heartbeatMs?: number;
  headersTimeoutMs?: number;
  closeGraceMs?: number;
  /** A Streamable HTTP session quiet this long expires (default 10 min; EXAI_HTTP_SESSION_IDLE_MS). */
  httpSessionIdleMs?: number;
  /** The Streamable HTTP keep-alive beat (default 20 s); tests shorten it. */
  httpKeepAliveMs?: number;
  log?: Logger;
  /** Tuning for the upstream gateway (supervision, debounce); tests shorten it. */
  upstreams?: Omit<GatewayOptions, 'workspace' | 'log'>;
  /** The launch spec read at start (the real process); tests may leave it out. */
  launch?: Pick<DaemonLaunch, 'entry' | 'env'>;
}

export interface RunningDaemon {
  readonly port: number;
  /** The workspace's bearer token (from EXAI_HOME, created on first need). */
  readonly token: string;
  readonly state: DaemonState;
  /** The workspace's upstream MCP servers (from `.exai/servers.json`). */
  readonly gateway: Gateway;
  close(): Promise<void>;
}

/** Starts serving one workspace; in-process (tests) or from runDaemon (the real process). */
export async function startDaemon(options: StartDaemonOptions): Promise<RunningDaemon> {
  const workspace = typeof options.workspace === 'string' ? resolveWorkspace(options.workspace) : options.workspace;
  const token = ensureToken(options.home, workspace.id);
  const state = createDaemonState(workspace, options.home, options.port);
  const entry = options.launch?.entry;
  if (entry) {
    state.launchDigest = launchDigest(entry, options.launch?.env, token);
    state.idleTimeoutMs = entry.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
    state.appName = entry.name;
  }
  const log = options.log ?? silentLogger;
  const gateway = new Gateway({ catalogFile: homeLayout(options.home).catalogFile(workspace.id), ...options.upstreams, workspace: workspace.path, log });
  state.upstreams = () => gateway.status().upstreams;
  state.upstreamsConfigError = () => gateway.status().configError;
  const server = await listenDaemon({
    state,
    token,
    log,
    heartbeatMs: options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS,
    headersTimeoutMs: options.headersTimeoutMs,
    closeGraceMs: options.closeGraceMs,
    httpSessionIdleMs: options.httpSessionIdleMs,
    httpKeepAliveMs: options.httpKeepAliveMs,
    gateway,
  });
  // Upstreams start only once the port is ours: a daemon that cannot bind spawns nothing.
  // Sessions that list tools while they initialize wait for them (bounded).
  gateway.start();
  return {
    port: server.port,
    token,
    state,
    gateway,
    close: async () => {
      await server.close();
      await gateway.close();
    },
  };
}

type ShutdownReason = 'SIGINT' | 'SIGTERM' | 'shutdown message' | 'supervisor gone' | 'idle';

/**
 * The daemon process's whole life: read the environment, listen, tell pm2 it is ready, serve
 * until SIGINT / SIGTERM / pm2's `shutdown` message, close every session with 1001, and
 * resolve 0. Config errors reject with ENV_INVALID, a taken port with ADDR_IN_USE.
 */
export async function runDaemon({ env = process.env, log }: { env?: NodeJS.ProcessEnv; log: Logger }): Promise<number> {
  const config = readDaemonConfig(env);
  const launch = readDaemonLaunch(config, env);
  for (const note of launch.notes) log.warn(note);
  // The recorded environment of the spawning shell (PATH, HOME, passed variables), whatever
  // path started this process: upstreams inherit it (src/workspace/launch-env.ts).
  if (launch.env) Object.assign(process.env, launchVariables(launch.env));
  else if (launch.entry) {
    log.warn('no recorded launch environment (tokens/<id>.env.json); upstreams get a default PATH — run `exai spawn` for this workspace to record yours');
    if (process.platform !== 'win32') process.env.PATH ??= '/usr/local/bin:/usr/bin:/bin';
  }
  let requestShutdown!: (reason: ShutdownReason) => void;
  const shutdown = new Promise<ShutdownReason>((resolve) => (requestShutdown = resolve));
  const onSigint = () => requestShutdown('SIGINT');
  const onSigterm = () => requestShutdown('SIGTERM');
  // pm2 sends this instead of a signal when `shutdown_with_message` is set (Windows has no SIGINT).
  const onMessage = (message: unknown) => {
    if (message === 'shutdown') requestShutdown('shutdown message');
    else if (isLogCheck(message)) writeLogCheck();
  };
  // Started by pm2 (an IPC channel), the daemon lives only as long as its supervisor: when
  // the pm2 daemon dies, an orphan would hold the port that the next `exai spawn` restores.
  const onDisconnect = () => requestShutdown('supervisor gone');
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigterm);
  process.on('message', onMessage);
  if (process.send) process.on('disconnect', onDisconnect);
  try {
    const daemon = await startDaemon({
      workspace: config.workspace,
      home: config.home,
      port: launch.port,
      heartbeatMs: config.heartbeatMs,
      // Read after the launch environment is in place: tests pass it with --pass-env.
      httpSessionIdleMs: readHttpSessionIdle(process.env),
      log,
      launch,
    });
    log.info(
      `exai daemon ${daemon.state.version} listening on 127.0.0.1:${daemon.port} for ${config.workspace.path} ` +
        `(id ${config.workspace.id}, pid ${process.pid})`,
    );
    if (process.send && process.connected) process.send('ready');
    publishPm2Metrics(daemon.state);
    const idle = watchIdle(daemon.state, daemon.state.idleTimeoutMs, () => requestShutdown('idle'));
    const stopRotation = watchLogSizes(logFilesToRotate(env), LOG_MAX_BYTES, (m) => log.warn(m));
    const reason = await shutdown;
    idle.stop();
    stopRotation();
    if (reason === 'idle') log.info(`idle for ${formatDuration(daemon.state.idleTimeoutMs)} with no client: exiting (the next client or \`exai spawn\` wakes it)`);
    else log.info(`${reason}: closing ${daemon.state.sessions.size} session(s)`);
    await daemon.close();
    log.info('stopped');
    if (reason !== 'idle') return 0;
    // Stays asleep across pm2's death and `pm2 resurrect` until something wakes it; pm2 does
    // not restart an idle exit (stop_exit_codes) and shows the app stopped.
    if (launch.entry) markIdle(config.home, config.workspace.id);
    return EXIT_IDLE;
  } finally {
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigterm);
    process.off('message', onMessage);
    process.off('disconnect', onDisconnect);
  }
}
