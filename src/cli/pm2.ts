import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { ExaiError, errorMessage } from '../common/errors.js';
import { installedPm2 } from '../common/install.js';
import { pm2Home } from '../workspace/layout.js';

/**
 * `exai pm2 ARGS…`: exai's own pm2 CLI with exai's PM2_HOME, so `pm2 ls`, `pm2 show NAME` and
 * `pm2 monit` work without a global pm2, and never talk to a pm2 of another version. stdio is
 * pm2's; the exit code is pm2's (128 + signal number when a signal ended it).
 */
export async function run(argv: string[]): Promise<number> {
  const { bin } = installedPm2();
  const child = spawn(process.execPath, [bin, ...argv], { stdio: 'inherit', env: { ...process.env, PM2_HOME: pm2Home() } });
  // Ctrl-C reaches pm2 through the terminal's process group: exai waits for pm2 to finish
  // (`pm2 logs`, `pm2 monit`) instead of dying first. Signals sent to exai alone are passed on.
  const ignore = () => undefined;
  const forward = (signal: NodeJS.Signals) => child.kill(signal);
  process.on('SIGINT', ignore);
  process.on('SIGTERM', forward);
  process.on('SIGHUP', forward);
  try {
    return await new Promise<number>((resolve, reject) => {
      child.once('error', (err) => reject(new ExaiError('PM2_FAILED', `could not run exai's pm2 (${bin}): ${errorMessage(err)}; reinstall exai`, { cause: err })));
      child.once('close', (code, signal) => resolve(code ?? 128 + (signal ? constants.signals[signal] : 0)));
    });
  } finally {
    process.off('SIGINT', ignore);
    process.off('SIGTERM', forward);
    process.off('SIGHUP', forward);
  }
}
