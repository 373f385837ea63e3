/**
 * The daemon's own process entry: what pm2 runs (src/supervisor/app.ts), bundled into one file
 * (dist/bundle/daemon.cjs, scripts/bundle.mjs, loaded by launcher.cts) so that a start (and every wake of an idle
 * workspace) loads one file instead of a few hundred. The same as `exai daemon`, without the
 * CLI's dispatcher; it takes no arguments.
 */
import { run } from '../cli/daemon.js';
import { exitAfterFlush, failure } from '../cli/output.js';

run([]).then(
  (code) => exitAfterFlush(code),
  (err: unknown) => exitAfterFlush(failure(err)),
);
