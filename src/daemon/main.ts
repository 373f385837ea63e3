/**
 * The daemon's own process entry: what pm2 runs (src/start/app.ts), bundled into one file
 * (dist/bundle/daemon.cjs, scripts/bundle.mjs, loaded by launcher.cts) so that a start (and every wake of an idle
 * workspace) loads one file instead of a few hundred. The same as `exai daemon`, without the
 * CLI's dispatcher; it takes no arguments.
 */
import { failureLines } from '../common/errors.js';
import { EXIT_FAILURE, exitAfterFlush } from '../common/exit-codes.js';
import { runDaemonProcess } from './entry.js';

runDaemonProcess(process.env).then(
  (code) => exitAfterFlush(code),
  (err: unknown) => {
    for (const line of failureLines(err)) process.stderr.write(`${line}\n`);
    exitAfterFlush(EXIT_FAILURE);
  },
);
