/**
 * Starts the pm2 daemon of PM2_HOME and exits: run detached by `connectPm2` when no pm2 daemon
 * answers, so that the daemon's parent is this short-lived process and not the exai process
 * that needed it. On Windows a process keeps its creator as parent for life, and a client that
 * ends its MCP server with a tree kill (Codex does: `taskkill /T /F`) would otherwise take pm2
 * and every workspace's daemon with the one shim that started it (WINDOWS.md #3).
 *
 * Exit codes: 0 started it, 3 it was already running, 1 failed (the reason on stderr).
 */
import { EXIT_FAILURE, EXIT_OK, EXIT_PM2_WAS_RUNNING } from '../common/exit-codes.js';

process.env.PM2_SILENT = 'true';
const { default: pm2 } = await import('pm2');
pm2.connect((err: Error | null, meta?: { new_pm2_instance?: boolean }) => {
  if (err) {
    process.stderr.write(`${err.message ?? String(err)}\n`);
    process.exit(EXIT_FAILURE);
  }
  const started = (meta as { new_pm2_instance?: boolean } | undefined)?.new_pm2_instance === true;
  pm2.disconnect();
  process.exit(started ? EXIT_OK : EXIT_PM2_WAS_RUNNING);
});
