/**
 * `exai spawn`, shared with the shim's start: idempotently brings the workspace's daemon up on
 * its sticky port, from its launch spec, and returns once it answers an authenticated MCP ping.
 */
import { resolveWorkspace } from '../workspace/identity.js';
import { readLaunchEnv, writeLaunchEnv } from '../workspace/launch-env.js';
import { readToken } from '../workspace/token.js';
import { kindsHoldingExai } from '../supervisor/client-config.js';
import { daemonEnvNames, loadDaemonFile } from '../workspace/daemon-file.js';
import { planLaunch, type SpawnOptions } from './launch-plan.js';
import { portSettings } from '../supervisor/ports.js';
import { Registry } from '../supervisor/registry.js';
import { withFleet } from './resurrect.js';
import { usableConfigs, warnSkipped } from '../supervisor/configs.js';
import { startWith, tryReuse, type SpawnResult } from './start.js';

export type { ExplicitSpawn, SpawnOptions } from './launch-plan.js';
export type { SpawnResult } from './start.js';
export { withFleet, type FleetEvent } from './resurrect.js';

/**
 * Checks everything that can be checked before anything starts (port settings, the registry,
 * passed variables, every client config it will write), reuses a healthy daemon launched with
 * this spec without connecting to pm2, and otherwise starts it through pm2.
 */
export async function spawnWorkspace(opts: SpawnOptions): Promise<SpawnResult> {
  const workspace = resolveWorkspace(opts.workspace);
  const env = opts.env ?? process.env;
  portSettings(env); // bad EXAI_PORT_* is a usage error before any work
  const registry = new Registry(opts.home);
  const entry = registry.get(workspace.id); // a corrupt registry stops everything here
  const recorded = readLaunchEnv(opts.home, workspace.id);
  const own = loadDaemonFile(workspace.path); // a broken daemon.json (or one beside servers.json) stops here
  const planned = planLaunch(opts, entry, recorded, kindsHoldingExai(workspace.path), own ? daemonEnvNames(own) : []); // a passed variable with no value stops here
  // An unparsable config stops a first spawn here; any other start skips it (warned once, below or in startWith).
  const { writeKinds, skippedConfigs } = usableConfigs(opts, entry, workspace, planned, own);
  const plan = { ...planned, writeKinds };
  // The common case — a healthy daemon of this version and launch spec on the sticky port —
  // needs no pm2: skipping its connect keeps a reuse well under the cost of starting anything.
  const token = entry && !opts.restart ? readToken(opts.home, workspace.id) : undefined;
  if (entry && token) {
    const ctx = { opts, env, workspace, home: opts.home, name: entry.name, registry, token, entry, plan, recorded, own, skippedConfigs };
    const reused = await tryReuse(ctx);
    if (reused) {
      warnSkipped(opts, skippedConfigs);
      // Same passed values (the digest says so); a new PATH or HOME applies at the next start.
      if (opts.explicit) writeLaunchEnv(opts.home, workspace.id, plan.env);
      return reused;
    }
  }
  return withFleet(opts.home, (pm2) => startWith(pm2, workspace, opts), opts.onWarning, env, new Set(), opts.onFleet);
}
