import { isExaiError } from '../common/errors.js';
import { EXIT_ADDR_IN_USE, EXIT_IDLE, EXIT_NOT_REGISTERED, EXIT_STOPPED, EXIT_USAGE } from '../common/exit-codes.js';
import { streamLogger } from '../daemon/log.js';
import { runDaemon } from '../daemon/run.js';
import { failure, parseCommand, writeErr } from './output.js';

/**
 * `exai daemon`: the process pm2 runs for one workspace. Configured by the environment
 * (EXAI_WS_PORT, EXAI_WORKSPACE, EXAI_HOME) and the launch spec it names, so no secret or
 * path ever sits in argv. Exits that pm2 must not restart have their own codes.
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
    if (isExaiError(err, 'ADDR_IN_USE')) {
      log.error(err.message);
      return EXIT_ADDR_IN_USE;
    }
    if (isExaiError(err, 'WORKSPACE_STOPPED')) {
      log.info(err.message);
      return EXIT_STOPPED;
    }
    if (isExaiError(err, 'WORKSPACE_IDLE')) {
      log.info(err.message);
      return EXIT_IDLE;
    }
    if (isExaiError(err, 'WORKSPACE_NOT_REGISTERED')) {
      log.error(err.message);
      return EXIT_NOT_REGISTERED;
    }
    return failure(err);
  }
}
