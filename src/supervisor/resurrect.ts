import { existsSync } from 'node:fs';
import { errorMessage } from '../common/errors.js';
import { workspaceFromCanonical } from '../workspace/identity.js';
import { isIdleMarked } from '../workspace/idle-marker.js';
import { readRegistry } from '../workspace/registry-file.js';
import { withPm2, type Pm2 } from './pm2.js';
import { startWith } from './start.js';

/**
 * Runs `fn` with pm2 connected, after bringing the fleet back if this connect had to start the
 * pm2 daemon: its death (a crash, `pm2 kill`) took every workspace daemon with it, and users
 * expect the next exai command to restore them, each on its own port, from its launch spec.
 * A bulk path (DESIGN.md "Lifecycle"): workspaces stopped on purpose stay stopped, none gets a
 * client config it did not record, and one that cannot come back is reported, not fatal.
 */
export function withFleet<T>(
  home: string,
  fn: (pm2: Pm2) => Promise<T>,
  onWarning?: (message: string) => void,
  env: NodeJS.ProcessEnv = process.env,
  /** Workspace ids not worth bringing back (`exai remove` is about to delete them). */
  skip: ReadonlySet<string> = new Set(),
): Promise<T> {
  return withPm2(home, async (pm2) => {
    if (pm2.startedDaemon) await resurrect(home, pm2, env, skip, onWarning);
    return fn(pm2);
  });
}

async function resurrect(home: string, pm2: Pm2, env: NodeJS.ProcessEnv, skip: ReadonlySet<string>, onWarning?: (message: string) => void): Promise<void> {
  let entries;
  try {
    // Idle ones stay asleep: the next client wakes them (src/workspace/idle-marker.ts).
    entries = Object.values(readRegistry(home).workspaces).filter((e) => !e.stopped && !skip.has(e.id) && !isIdleMarked(home, e.id) && existsSync(e.workspace));
  } catch {
    return; // a corrupt registry is the command's to report
  }
  await Promise.all(
    entries.map(async (entry) => {
      try {
        if (await pm2.describe(entry.name)) return; // someone else brought it back already
        await startWith(pm2, workspaceFromCanonical(entry.workspace), { workspace: entry.workspace, home, env, onWarning, reportUpstreams: false });
      } catch (err) {
        onWarning?.(`could not bring back ${entry.workspace}: ${errorMessage(err)}`);
      }
    }),
  );
}
