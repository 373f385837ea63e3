/**
 * The one ensure-running of a workspace's daemon, for every start path — `exai spawn`, `exai
 * restart`, the shim's wake, the fleet brought back, `doctor --fix` (DESIGN.md "Lifecycle"):
 * probe → start → wait → connect, under a per-workspace lock, from a context resolved once
 * (context.ts). nx's `startDaemonIfNecessary` and eslint_d's forwarder are the models.
 * The fleet brought back after pm2 died is started here too (`withFleet`), one workspace at a
 * time through the same function. Whatever fails, the registry entry, launch environment and token are as they were before.
 */
import { existsSync } from 'node:fs';
import { ExaiError, errorMessage } from '../common/errors.js';
import { workspaceFromCanonical } from '../workspace/identity.js';
import { isIdleMarked } from '../workspace/idle-marker.js';
import { writeLaunchEnv } from '../workspace/launch-env.js';
import { readRegistry } from '../workspace/registry-file.js';
import { deleteToken, ensureToken } from '../workspace/token.js';
import { warnSkipped } from '../supervisor/configs.js';
import { withLock } from '../supervisor/lock.js';
import { withPm2, type Pm2 } from '../supervisor/pm2.js';
import { forbiddenPortMessage, probePort } from '../supervisor/ports.js';
import { refreshed, resolveContext, type ResolvedContext, type StartContext } from './context.js';
import { interruptedError, restoreLaunchEnv, reuseOrStart, tryReuse, type SpawnResult } from './start.js';

/**
 * Reuses the workspace's daemon when it is ours and current, else starts it. Without `pm2`, a
 * current daemon is reused without connecting to pm2 (the common case: a reuse stays well
 * under the cost of starting anything), and a start connects (bringing the fleet back if this
 * connect started the pm2 daemon); with `pm2`, the caller's connection is used, never a second.
 */
export async function ensureRunning(resolved: ResolvedContext, pm2?: Pm2): Promise<SpawnResult> {
  if (pm2) return startLocked(resolved, pm2);
  const { opts } = resolved;
  if (resolved.entry && resolved.token !== undefined && !opts.restart) {
    const reused = await tryReuse(resolved as StartContext);
    if (reused) {
      warnSkipped(opts, resolved.skippedConfigs ?? []);
      // Same passed values (the digest says so); a new PATH or HOME applies at the next start.
      if (opts.explicit) writeLaunchEnv(resolved.home, resolved.workspace.id, resolved.plan.env);
      return reused;
    }
  }
  // A --port this user may not bind is refused before pm2 is started for it (start.ts checks
  // every asked-for port again with the lock held).
  if (opts.port !== undefined && (await probePort(opts.port)) === 'forbidden') throw new ExaiError('PORT_FORBIDDEN', forbiddenPortMessage(opts.port));
  return withFleet(resolved.home, (connected) => startLocked(resolved, connected), opts.onWarning, resolved.env, new Set(), opts.onFleet);
}

/**
 * One starter per workspace at a time (a lock re-entrant within one async context), so
 * concurrent starts agree; the context is re-resolved only if EXAI_HOME changed while waiting.
 */
function startLocked(resolved: ResolvedContext, pm2: Pm2): Promise<SpawnResult> {
  const { home, workspace } = resolved;
  return withLock(home, `spawn-${workspace.id}`, async () => {
    const now = refreshed(resolved);
    warnSkipped(now.opts, now.skippedConfigs ?? []);
    if (now.opts.interrupted?.()) throw interruptedError(workspace.path);
    const hadToken = now.token !== undefined;
    const ctx: StartContext = { ...now, token: now.token ?? ensureToken(home, workspace.id) };
    try {
      // The daemon reads it at start; written before, restored if the start fails.
      writeLaunchEnv(home, workspace.id, ctx.plan.env);
      return await reuseOrStart(ctx, pm2);
    } catch (err) {
      restoreLaunchEnv(ctx);
      if (!hadToken && !ctx.registry.get(workspace.id)) deleteToken(home, workspace.id);
      throw err;
    }
  });
}

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
        const opts = { workspace: entry.workspace, home, env, onWarning, reportUpstreams: false };
        await ensureRunning(resolveContext(opts, { workspace: workspaceFromCanonical(entry.workspace) }), pm2);
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
