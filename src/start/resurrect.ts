import { existsSync } from 'node:fs';
import { errorMessage } from '../common/errors.js';
import { workspaceFromCanonical } from '../workspace/identity.js';
import { isIdleMarked } from '../workspace/idle-marker.js';
import { readRegistry } from '../workspace/registry-file.js';
import { withPm2, type Pm2 } from '../supervisor/pm2.js';
import { startWith } from './start.js';

/**
 * What a command that found pm2 dead says while it brings the fleet back (5–10 s for a few
 * workspaces): `restoring` before the first start, `restored` once every one came back or failed.
 */
export type FleetEvent = { phase: 'restoring'; count: number } | { phase: 'restored'; restored: number; failed: number };

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
  onFleet?: (event: FleetEvent) => void,
): Promise<T> {
  return withPm2(home, async (pm2) => {
    if (pm2.startedDaemon) await resurrect(home, pm2, env, skip, onWarning, onFleet);
    return fn(pm2);
  });
}

async function resurrect(
  home: string,
  pm2: Pm2,
  env: NodeJS.ProcessEnv,
  skip: ReadonlySet<string>,
  onWarning?: (message: string) => void,
  onFleet?: (event: FleetEvent) => void,
): Promise<void> {
  let entries;
  try {
    // Idle ones stay asleep: the next client wakes them (src/workspace/idle-marker.ts).
    entries = Object.values(readRegistry(home).workspaces).filter((e) => !e.stopped && !skip.has(e.id) && !isIdleMarked(home, e.id) && existsSync(e.workspace));
  } catch {
    return; // a corrupt registry is the command's to report
  }
  if (!entries.length) return;
  onFleet?.({ phase: 'restoring', count: entries.length });
  const outcomes = await Promise.all(
    entries.map(async (entry): Promise<boolean> => {
      try {
        if (await pm2.describe(entry.name)) return true; // someone else brought it back already
        await startWith(pm2, workspaceFromCanonical(entry.workspace), { workspace: entry.workspace, home, env, onWarning, reportUpstreams: false });
        return true;
      } catch (err) {
        onWarning?.(`could not bring back ${entry.workspace}: ${errorMessage(err)}`);
        return false;
      }
    }),
  );
  const restored = outcomes.filter(Boolean).length;
  onFleet?.({ phase: 'restored', restored, failed: outcomes.length - restored });
}
