import { existsSync } from 'node:fs';
import type { StartOptions } from 'pm2';
import { resolveExaiHome } from '../workspace/layout.js';
import { isIdleMarked } from '../workspace/idle-marker.js';
import { readRegistry } from '../workspace/registry-file.js';
import { appOptions } from './app.js';

/**
 * The pm2 apps for every registered workspace whose folder still exists, that was not stopped
 * on purpose and is not idle (a bulk path: DESIGN.md "Lifecycle"), each built by the function every
 * other start path uses. Synchronous: pm2 `require()`s the ecosystem file.
 */
export function ecosystemApps(env: NodeJS.ProcessEnv = process.env): StartOptions[] {
  const home = resolveExaiHome(env);
  return Object.values(readRegistry(home).workspaces)
    .filter((entry) => !entry.stopped && !isIdleMarked(home, entry.id) && existsSync(entry.workspace))
    .map((entry) => appOptions(entry, home));
}
