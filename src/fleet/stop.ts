import type { Pm2 } from '../supervisor/pm2.js';
import type { Registry, RegistryEntry } from '../supervisor/registry.js';
import { assertOwnApp } from '../start/start.js';

/** Stops the daemon and remembers it was stopped on purpose (it is not brought back with the fleet). */
export async function stopEntry(pm2: Pm2, registry: Registry, entry: RegistryEntry): Promise<boolean> {
  const proc = await pm2.describe(entry.name);
  assertOwnApp(proc, registry.home, entry.name);
  await registry.update((data) => {
    const e = data.workspaces[entry.id];
    if (e) e.stopped = true;
  });
  if (!proc) return false;
  await pm2.stop(entry.name);
  return true;
}
