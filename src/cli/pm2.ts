import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { ExaiError, errorMessage } from '../common/errors.js';
import { installedPm2 } from '../common/install.js';
import { pm2Home, resolveExaiHome } from '../workspace/layout.js';
import { assertPm2SocketFits, pm2Running } from '../supervisor/pm2.js';
import { writeFleetEvent, writeWarning } from './output.js';

/**
 * pm2 commands that must not bring the fleet back first: those that end or replace the pm2
 * daemon (`kill`, `update`), bring apps back themselves (`resurrect`, `start` of the ecosystem
 * file: it would start each workspace twice), or never talk to the daemon.
 */
const NO_FLEET = new Set(['kill', 'update', 'resurrect', 'start', 'startup', 'unstartup', 'help', '--help', '-h', '--version', '-v', '-V', 'completion']);

/**
 * `exai pm2 ARGS…`: exai's own pm2 CLI with exai's PM2_HOME, so `pm2 ls`, `pm2 show NAME` and
 * `pm2 monit` work without a global pm2, and never talk to a pm2 of another version. stdio is
 * pm2's; the exit code is pm2's (128 + signal number when a signal ended it). A pm2 that was not
 * running is started by exai first, with the fleet brought back (see NO_FLEET for exceptions).
 */
export async function run(argv: string[]): Promise<number> {
  assertPm2SocketFits();
  const { bin } = installedPm2();
  // pm2 would start an empty daemon (`exai pm2 ls` after `pm2 kill` showed nothing): like every
  // other exai command that finds pm2 dead, bring the registered workspaces back first.
  const [sub] = argv;
  if (sub !== undefined && !NO_FLEET.has(sub) && !(await pm2Running())) {
    const { withFleet } = await import('../start/ensure.js'); // only when pm2 must start
    try {
      await withFleet(resolveExaiHome(), async () => undefined, writeWarning, process.env, new Set(), writeFleetEvent);
    } catch (err) {
      // pm2 itself may still work (and may be what the user reaches for to look into this).
      writeWarning(`could not bring the registered workspaces back before running pm2: ${errorMessage(err)}`);
    }
  }
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
