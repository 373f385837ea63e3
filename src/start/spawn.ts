/**
 * `exai spawn`, shared with the shim's wake: idempotently brings the workspace's daemon up on
 * its sticky port, from its launch spec, and returns once it answers an authenticated MCP ping.
 * Resolve once (context.ts), then the one ensure-running (ensure.ts).
 */
import { resolveContext, type Known } from './context.js';
import { ensureRunning } from './ensure.js';
import type { SpawnOptions } from './launch-plan.js';
import type { SpawnResult } from './start.js';

export type { ExplicitSpawn, SpawnOptions } from './launch-plan.js';
export type { Known } from './context.js';
export type { SpawnResult } from './start.js';
export { withFleet, type FleetEvent } from './ensure.js';

/**
 * Checks everything that can be checked before anything starts (context.ts), reuses a current
 * daemon without connecting to pm2, and otherwise starts it through pm2. `known`: what the
 * caller already read of EXAI_HOME (the shim), not read again.
 */
export async function spawnWorkspace(opts: SpawnOptions, known?: Known): Promise<SpawnResult> {
  return ensureRunning(resolveContext(opts, known));
}
