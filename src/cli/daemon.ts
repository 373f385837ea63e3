import { runDaemonProcess } from '../daemon/entry.js';
import { parseCommand } from './output.js';

/**
 * `exai daemon`: the process pm2 runs for one workspace. Configured by the environment
 * (EXAI_WS_PORT, EXAI_WORKSPACE, EXAI_HOME) and the launch spec it names, so no secret or
 * path ever sits in argv. Its exits: the daemon's exit table (src/common/exit-codes.ts).
 */
export async function run(argv: string[]): Promise<number> {
  parseCommand('daemon', argv, {});
  return runDaemonProcess(process.env);
}
