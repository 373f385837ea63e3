import { createHash } from 'node:crypto';
import type { ProcessDescription, StartOptions } from 'pm2';
import { ExaiError, errorMessage } from '../common/errors.js';
import { pm2Home } from '../workspace/layout.js';
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
 */
export async function connectPm2(home: string): Promise<Pm2> {
  // pm2 prints "Spawning PM2 daemon…" on stdout unless silenced; the shim's stdout carries
  // protocol bytes only, so every exai process silences pm2 before loading it.
  process.env.PM2_SILENT = 'true';
  const pm2: Pm2Module = (await import('pm2')).default as unknown as Pm2Module;
  const lockName = `pm2-${createHash('sha256').update(pm2Home()).digest('hex').slice(0, 8)}`;
  const meta = await withLock(home, lockName, () =>
    call<{ new_pm2_instance?: boolean } | undefined>((cb) => pm2.connect(cb as (err: Error) => void), 'connect to pm2'),
  );
  return wrap(pm2, meta?.new_pm2_instance === true);
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
