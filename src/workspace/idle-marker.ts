/**
 * "This workspace's daemon went idle" (DESIGN.md "Lifecycle"), kept in the state dir so that it
 * survives pm2: written by the daemon when it exits after its idle timeout, removed by whatever
 * wakes it (`exai spawn`, the shim, `exai restart --workspace`: every start through
 * src/start/start.ts). A daemon that finds the marker at start was started by a bulk path
 * (`pm2 resurrect` at boot, the ecosystem file) and goes back to sleep at once, and the fleet
 * brought back after pm2 died leaves it out: fifty idle workspaces stay free after a reboot.
 */
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { writeFileAtomic } from '../common/atomic-write.js';
import { homeLayout } from './layout.js';

export function isIdleMarked(home: string, id: string): boolean {
  return existsSync(homeLayout(home).idleMarker(id));
}

/** Best effort: a marker that cannot be written only means a bulk path may start the daemon. */
export function markIdle(home: string, id: string): void {
  const layout = homeLayout(home);
  try {
    mkdirSync(layout.idleDir, { recursive: true, mode: 0o700 });
    writeFileAtomic(layout.idleMarker(id), `${new Date().toISOString()}\n`, { mode: 0o600 });
  } catch {
    // see above
  }
}

export function clearIdle(home: string, id: string): void {
  rmSync(homeLayout(home).idleMarker(id), { force: true });
}
