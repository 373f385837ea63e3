/**
 * Exit codes of `exai daemon` that the supervisor reads back from pm2 (and that pm2 is told
 * not to restart: `stop_exit_codes`). Kept apart so the supervisor need not load the daemon.
 */
/** A bad environment (a usage error of whoever started it). */
export const EXIT_USAGE = 2;
/** Its launch spec says the workspace was stopped with `exai stop` (a bulk path started it). */
export const EXIT_STOPPED = 95;
/** Started by pm2 for a workspace its registry no longer has (`exai remove`d, then resurrected). */
export const EXIT_NOT_REGISTERED = 96;
/** Exited after its idle timeout; the next client or `exai spawn` wakes it (DESIGN.md "Lifecycle"). */
export const EXIT_IDLE = 97;
/** Its port is taken by someone else: the next `exai spawn` moves it. */
export const EXIT_ADDR_IN_USE = 98;

/** Every exit after which pm2 must not restart the daemon. */
export const NO_RESTART_EXIT_CODES: readonly number[] = [EXIT_USAGE, EXIT_STOPPED, EXIT_NOT_REGISTERED, EXIT_IDLE, EXIT_ADDR_IN_USE];
