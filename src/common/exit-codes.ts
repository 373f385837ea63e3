/** Exit codes the supervisor reads back from pm2; kept apart so it need not load the daemon. */
export const EXIT_ADDR_IN_USE = 98;
export const EXIT_USAGE = 2;
