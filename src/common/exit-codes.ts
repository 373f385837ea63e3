/**
 * Every exit code exai's processes use, in one table: the CLI's (0, 1, 2 and the signal exits)
 * and those of `exai daemon` that the supervisor reads back from pm2 (and that pm2 is told not
 * to restart: `stop_exit_codes`). Kept apart so the supervisor need not load the daemon.
 * test/tables.test.ts fails when src/ exits with a number that is not named here.
 */
import type { ErrorCode } from './errors.js';

/** Done as asked. */
export const EXIT_OK = 0;
/** Failed; one line on stderr says why and what to do next. */
export const EXIT_FAILURE = 1;
/** A usage error (a bad flag or argument), or a bad environment given to `exai daemon`. */
export const EXIT_USAGE = 2;
/** pm2-launch (start/pm2-launch.ts): the pm2 daemon was already running; nothing started. */
export const EXIT_PM2_WAS_RUNNING = 3;
/** Its launch spec says the workspace was stopped with `exai stop` (a bulk path started it). */
export const EXIT_STOPPED = 95;
/** Started by pm2 for a workspace its registry no longer has (`exai remove`d, then resurrected). */
export const EXIT_NOT_REGISTERED = 96;
/** Exited after its idle timeout; the next client or `exai spawn` wakes it (DESIGN.md "Lifecycle"). */
export const EXIT_IDLE = 97;
/** Its port is taken by someone else: the next `exai spawn` moves it. */
export const EXIT_ADDR_IN_USE = 98;
/** Interrupted by SIGINT (128 + 2, as shells report it). */
export const EXIT_SIGINT = 130;
/** Interrupted by SIGTERM (128 + 15). */
export const EXIT_SIGTERM = 143;

/** The whole table, by name (what the table test checks the sources against). */
export const EXIT_CODES = {
  EXIT_OK,
  EXIT_FAILURE,
  EXIT_USAGE,
  EXIT_PM2_WAS_RUNNING,
  EXIT_STOPPED,
  EXIT_NOT_REGISTERED,
  EXIT_IDLE,
  EXIT_ADDR_IN_USE,
  EXIT_SIGINT,
  EXIT_SIGTERM,
} as const;

/** Every exit after which pm2 must not restart the daemon. */
export const NO_RESTART_EXIT_CODES: readonly number[] = [EXIT_USAGE, EXIT_STOPPED, EXIT_NOT_REGISTERED, EXIT_IDLE, EXIT_ADDR_IN_USE];

/**
 * The daemon's exit table: the exits pm2 must not restart, by the error that ends the start,
 * and whether that is news (error) or the daemon doing as told (info).
 */
export const DAEMON_EXITS: Partial<Record<ErrorCode, { code: number; level: 'error' | 'info' }>> = {
  ENV_INVALID: { code: EXIT_USAGE, level: 'error' },
  ADDR_IN_USE: { code: EXIT_ADDR_IN_USE, level: 'error' },
  WORKSPACE_STOPPED: { code: EXIT_STOPPED, level: 'info' },
  WORKSPACE_IDLE: { code: EXIT_IDLE, level: 'info' },
  WORKSPACE_NOT_REGISTERED: { code: EXIT_NOT_REGISTERED, level: 'error' },
};

/** The CLI's exit for a failure: 2 for a usage error, 1 for everything else. */
export function failureExitCode(code: ErrorCode | undefined): number {
  return code === 'USAGE' ? EXIT_USAGE : EXIT_FAILURE;
}

/**
 * For the two process entries only (cli/main.ts, daemon/main.ts): the pm2 client (and anything
 * else a command leaves open) keeps the event loop alive, so exit explicitly once stdout and
 * stderr are flushed.
 */
export function exitAfterFlush(code: number): void {
  let pending = 2;
  const done = () => {
    if (--pending === 0) process.exit(code);
  };
  process.stdout.write('', done);
  process.stderr.write('', done);
}
