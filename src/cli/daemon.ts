import { isExaiError, type ErrorCode } from '../common/errors.js';
import { EXIT_ADDR_IN_USE, EXIT_IDLE, EXIT_NOT_REGISTERED, EXIT_STOPPED, EXIT_USAGE } from '../common/exit-codes.js';
import { streamLogger } from '../daemon/log.js';
import { runDaemon } from '../daemon/run.js';
import { failure, parseCommand, writeErr } from './output.js';

/**
 * The exits pm2 must not restart (src/common/exit-codes.ts), by the error that ends the start,
 * and whether that is news (error) or the daemon doing as told (info).
 */
const EXITS: Partial<Record<ErrorCode, { code: number; level: 'error' | 'info' }>> = {
  ADDR_IN_USE: { code: EXIT_ADDR_IN_USE, level: 'error' },
  WORKSPACE_STOPPED: { code: EXIT_STOPPED, level: 'info' },
  WORKSPACE_IDLE: { code: EXIT_IDLE, level: 'info' },
  WORKSPACE_NOT_REGISTERED: { code: EXIT_NOT_REGISTERED, level: 'error' },
};

/**
 * `exai daemon`: the process pm2 runs for one workspace. Configured by the environment
 * (EXAI_WS_PORT, EXAI_WORKSPACE, EXAI_HOME) and the launch spec it names, so no secret or
 * path ever sits in argv.
 */
export async function run(argv: string[]): Promise<number> {
  const log = streamLogger(process.stdout, process.stderr);
  try {
    parseCommand('daemon', argv, {});
    return await runDaemon({ env: process.env, log });
  } catch (err) {
    if (isExaiError(err, 'ENV_INVALID')) {
      writeErr(`exai daemon: ENV_INVALID: ${err.message}`);
      return EXIT_USAGE;
    }
    const exit = isExaiError(err) ? EXITS[err.code] : undefined;
    if (exit && isExaiError(err)) {
      log[exit.level](err.message);
      return exit.code;
    }
    return failure(err);
  }
}
