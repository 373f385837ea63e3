import { EXIT_OK, EXIT_PM2_WAS_RUNNING } from '../common/exit-codes.js';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import type { ProcessDescription, StartOptions } from 'pm2';
import { ExaiError, errorMessage } from '../common/errors.js';
import { PM2_LAUNCHER } from '../common/install.js';
import { BASE_ENV_NAMES } from '../workspace/launch-env.js';
import { pm2Home } from '../workspace/layout.js';
import { ensurePrivateDir } from '../workspace/token.js';

import { withLock } from './lock.js';

/** What exai needs of pm2, as promises. One instance per connected CLI process. */
export interface Pm2 {
  start(options: StartOptions): Promise<void>;
  describe(name: string): Promise<ProcessDescription | undefined>;
  list(): Promise<ProcessDescription[]>;
  stop(name: string): Promise<void>;
  restart(name: string): Promise<void>;
  delete(name: string): Promise<void>;
  trigger(name: string, action: string): Promise<unknown>;
  /** Sends `{topic, data: {}}` to the app's process (it reads it with process.on('message')). */
  send(name: string, topic: string): Promise<void>;
  /** Reopens every app's log files (`pm2 reloadLogs`): pm2 writes nothing more to a file after a write failed. */
  reloadLogs(): Promise<void>;
  /** This connect started the pm2 daemon (it was not running: first use, `pm2 kill`, a crash). */
  readonly startedDaemon: boolean;
  /** The version of the running pm2 daemon (may differ from the installed pm2 after an upgrade). */
  daemonVersion(): Promise<string>;
  disconnect(): void;
}

type Pm2Module = typeof import('pm2');

/**
 * Connects to the pm2 daemon of PM2_HOME, starting it if needed. Concurrent cold connects
 * from several processes each start a pm2 daemon (seen here), so the connect is serialized
 * by a lock keyed to PM2_HOME; once one process has started the daemon the others attach.
 * A missing pm2 daemon is started through a detached launcher (`pm2-launch.ts`), in EXAI_HOME
 * as its working folder, so it is neither this process's child nor pinning its folder.
 */
export async function connectPm2(home: string): Promise<Pm2> {
  assertPm2SocketFits();
  // pm2 prints "Spawning PM2 daemon…" on stdout unless silenced; the shim's stdout carries
  // protocol bytes only, so every exai process silences pm2 before loading it.
  process.env.PM2_SILENT = 'true';
  const pm2: Pm2Module = (await import('pm2')).default as unknown as Pm2Module;
  const lockName = `pm2-${createHash('sha256').update(pm2Home()).digest('hex').slice(0, 8)}`;
  const { started, meta } = await withLock(home, lockName, async () => {
    const launched = (await pm2Answers(pm2RpcSocket())) ? false : await launchPm2(home);
    const connected = await call<{ new_pm2_instance?: boolean } | undefined>((cb) => pm2.connect(cb as (err: Error) => void), 'connect to pm2');
    return { started: launched, meta: connected };
  });
  return wrap(pm2, started || meta?.new_pm2_instance === true);
}

/**
 * The longest Unix socket path the OS takes (sun_path less its NUL): Linux 107 bytes, macOS and
 * the BSDs 103. Windows pipes have a fixed name (see pm2RpcSocket): no limit to check.
 */
export function socketPathLimit(platform: NodeJS.Platform = process.platform): number | undefined {
  if (platform === 'win32') return undefined;
  return platform === 'linux' || platform === 'android' ? 107 : 103;
}

/**
 * Refuses a PM2_HOME whose sockets (rpc.sock, pub.sock: same length) the OS cannot bind: pm2
 * would start a daemon nobody can reach, and the connect would only time out after 30 s.
 */
export function assertPm2SocketFits(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform): void {
  const limit = socketPathLimit(platform);
  if (limit === undefined) return;
  const socket = join(pm2Home(env), 'rpc.sock');
  const bytes = Buffer.byteLength(socket);
  if (bytes > limit) {
    throw new ExaiError('ENV_INVALID', `PM2_HOME is too long: pm2's socket ${socket} is ${bytes} bytes, over the ${limit}-byte limit for socket paths on ${platform}; set PM2_HOME to a shorter folder`);
  }
}

/** pm2's RPC socket (pm2 `paths.js`): one fixed pipe on Windows whatever PM2_HOME says (WINDOWS.md #2). */
function pm2RpcSocket(env: NodeJS.ProcessEnv = process.env): string {
  return process.platform === 'win32' ? '\\\\.\\pipe\\rpc.sock' : join(pm2Home(env), 'rpc.sock');
}

/** Whether the pm2 daemon of PM2_HOME runs (accepts on its RPC socket), without loading pm2. */
export function pm2Running(env: NodeJS.ProcessEnv = process.env): Promise<boolean> {
  return pm2Answers(pm2RpcSocket(env));
}

/** Whether a pm2 daemon accepts on its RPC socket (a refused or missing socket: none runs). */
function pm2Answers(socket: string): Promise<boolean> {
  return new Promise((resolvePromise) => {
    const conn = createConnection(socket);
    const done = (up: boolean) => {
      conn.destroy();
      resolvePromise(up);
    };
    conn.setTimeout(2_000, () => done(false));
    conn.once('connect', () => done(true));
    conn.once('error', () => done(false));
  });
}

/** How long the launcher may take to bring pm2 up (pm2 itself waits for its daemon's first message). */
const LAUNCH_TIMEOUT_MS = 30_000;

/**
 * Runs `pm2-launch.js` detached and waits for it: true when it started the pm2 daemon. Its
 * environment is the caller's base variables plus pm2's own (PM2_*): pm2 copies its daemon's
 * environment into nothing exai starts (`filter_env`), but a shim's client may hand it secrets.
 */
function launchPm2(home: string): Promise<boolean> {
  const env: NodeJS.ProcessEnv = {};
  for (const name of [...BASE_ENV_NAMES, ...Object.keys(process.env).filter((k) => k.startsWith('PM2_'))]) {
    const value = process.env[name];
    if (value !== undefined) env[name] = value;
  }
  env.PM2_HOME = pm2Home();
  env.PM2_SILENT = 'true';
  ensurePrivateDir(home);
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [PM2_LAUNCHER], { cwd: home, env, detached: true, stdio: ['ignore', 'ignore', 'pipe'], windowsHide: true });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-2_000)));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new ExaiError('PM2_FAILED', `pm2 did not start within ${LAUNCH_TIMEOUT_MS} ms; check the pm2 log in ${pm2Home()}`));
    }, LAUNCH_TIMEOUT_MS);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(new ExaiError('PM2_FAILED', `cannot run the pm2 launcher: ${errorMessage(err)}`, { cause: err }));
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      if (code === EXIT_OK || code === EXIT_PM2_WAS_RUNNING) resolvePromise(code === EXIT_OK);
      else reject(new ExaiError('PM2_FAILED', `pm2 could not start: ${stderr.trim().split('\n').at(-1) ?? `exit ${code}`}; check the pm2 log in ${pm2Home()}`));
    });
  });
}

/** Runs `fn` with a connected pm2 client and always disconnects (else the process never exits). */
export async function withPm2<T>(home: string, fn: (pm2: Pm2) => Promise<T>): Promise<T> {
  const pm2 = await connectPm2(home);
  try {
    return await fn(pm2);
  } finally {
    pm2.disconnect();
  }
}

function wrap(pm2: Pm2Module, startedDaemon: boolean): Pm2 {
  return {
    startedDaemon,
    start: (options) => call((cb) => pm2.start(options, cb), `start ${options.name ?? 'app'}`).then(() => undefined),
    describe: async (name) => {
      const list = await call<ProcessDescription[]>((cb) => pm2.describe(name, cb), `describe ${name}`);
      return list[0];
    },
    list: () => call<ProcessDescription[]>((cb) => pm2.list(cb), 'list processes'),
    stop: (name) => call((cb) => pm2.stop(name, cb), `stop ${name}`).then(() => undefined),
    restart: (name) => call((cb) => pm2.restart(name, cb), `restart ${name}`).then(() => undefined),
    delete: (name) => call((cb) => pm2.delete(name, cb), `delete ${name}`).then(() => undefined),
    trigger: (name, action) => call((cb) => pm2.trigger(name, action, undefined, cb), `trigger ${action} on ${name}`),
    send: async (name, topic) => {
      const [proc] = await call<ProcessDescription[]>((cb) => pm2.describe(name, cb), `describe ${name}`);
      if (proc?.pm_id === undefined) throw new ExaiError('PM2_FAILED', `pm2 has no app ${name}; check \`exai list\``);
      const id = proc.pm_id;
      // sendDataToProcessId is in pm2's API but its type definitions want a packet shape they do not export.
      const api = pm2 as unknown as { sendDataToProcessId(id: number, packet: object, cb: (err: unknown) => void): void };
      await call((cb) => api.sendDataToProcessId(id, { topic, data: {} }, cb), `send ${topic} to ${name}`);
    },
    reloadLogs: () => call((cb) => pm2.reloadLogs(cb), 'reopen its log files').then(() => undefined),
    // getVersion is in pm2's API but not in its type definitions.
    daemonVersion: () => call<string>((cb) => (pm2 as unknown as { getVersion(cb: (err: unknown, v?: string) => void): void }).getVersion(cb), 'report its version'),
    disconnect: () => pm2.disconnect(),
  };
}

/**
 * pm2's API is callback-only and its methods use `this`; calling them as `pm2.x(…)` inside
 * the arrow keeps `this` bound. Errors become PM2_FAILED with what was being done.
 */
function call<T>(invoke: (cb: (err: unknown, result?: T) => void) => void, what: string): Promise<T> {
  return new Promise<T>((resolvePromise, reject) => {
    invoke((err, result) => {
      if (err) {
        reject(new ExaiError('PM2_FAILED', `pm2 could not ${what}: ${errorMessage(err)}; check \`pm2 ls\` and the pm2 log in PM2_HOME`, { cause: err }));
      } else {
        resolvePromise(result as T);
      }
    });
  });
}

export function isProcessNotFound(err: unknown): boolean {
  return err instanceof ExaiError && /not found/i.test(err.message);
}
