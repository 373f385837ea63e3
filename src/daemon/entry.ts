/**
 * The daemon process's life as one exit code, for both of its entries: `exai daemon`
 * (cli/daemon.ts) and the bundled daemon pm2 runs (main.ts), which loads nothing of cli/. The
 * error that ends a start becomes its exit through the daemon's exit table (common/exit-codes.ts).
 */
import { config as zodConfig } from 'zod/v4/core';
import { failureLines, isExaiError } from '../common/errors.js';
import { DAEMON_EXITS, failureExitCode } from '../common/exit-codes.js';
import { streamLogger, type Logger } from './log.js';
import { runDaemon } from './run.js';

/** Runs the daemon until it exits; configured by the environment (EXAI_WS_PORT, EXAI_WORKSPACE, EXAI_HOME). */
export async function runDaemonProcess(env: NodeJS.ProcessEnv = process.env): Promise<number> {
  // The SDK's zod schemas parse only the daemon's own exchanges (initialize, lists), never a
  // relayed call: no generated parser functions (their code and source strings) kept for them.
  zodConfig({ jitless: true });
  const log = streamLogger(process.stdout, process.stderr);
  try {
    return await runDaemon({ env, log });
  } catch (err) {
    return daemonExit(err, log);
  }
}

/** The exit for the error that ended the daemon, said once (on its log, or stderr). */
export function daemonExit(err: unknown, log: Logger): number {
  const exit = isExaiError(err) ? DAEMON_EXITS[err.code] : undefined;
  if (exit && isExaiError(err)) {
    // A bad environment is the starter's mistake: said as the CLI says usage errors.
    if (err.code === 'ENV_INVALID') process.stderr.write(`exai daemon: ENV_INVALID: ${err.message}\n`);
    else log[exit.level](err.message);
    return exit.code;
  }
  for (const line of failureLines(err)) process.stderr.write(`${line}\n`);
  return failureExitCode(isExaiError(err) ? err.code : undefined);
}
