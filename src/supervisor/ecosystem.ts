import { existsSync } from 'node:fs';
import type { StartOptions } from 'pm2';
import { resolveExaiHome } from '../workspace/layout.js';
import { appOptions } from './app.js';
import { Registry } from './registry.js';
import { workspaceFromCanonical } from '../workspace/identity.js';

/**
 * The pm2 apps for every registered workspace whose folder still exists, built by the same
 * function `spawn` uses. Synchronous: pm2 `require()`s the ecosystem file.
 */
export function ecosystemApps(env: NodeJS.ProcessEnv = process.env): StartOptions[] {
  const home = resolveExaiHome(env);
  const data = new Registry(home).read();
  return Object.values(data.workspaces)
    .filter((entry) => existsSync(entry.workspace))
    .map((entry) => appOptions({ workspace: workspaceFromCanonical(entry.workspace), port: entry.port, home, env }));
}
