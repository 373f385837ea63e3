import { resolve } from 'node:path';
import type { ProcessDescription } from 'pm2';
import { EXIT_ADDR_IN_USE, EXIT_IDLE, EXIT_STOPPED } from '../common/exit-codes.js';
import { PM2_NAMESPACE } from '../workspace/identity.js';
import type { Pm2 } from '../supervisor/pm2.js';
import type { RegistryEntry } from '../supervisor/registry.js';
import { appHome } from '../start/start.js';

/**
 * The pm2 apps in exai's namespace that this EXAI_HOME started, by name: another home's apps
 * in a shared pm2 are never listed, adopted or touched (WINDOWS.md #2).
 */
export async function exaiProcesses(pm2: Pm2, home: string): Promise<Map<string, ProcessDescription>> {
  const byName = new Map<string, ProcessDescription>();
  for (const proc of await pm2.list()) {
    const env = proc.pm2_env as { namespace?: string } | undefined;
    const owner = appHome(proc);
    if (proc.name && env?.namespace === PM2_NAMESPACE && (owner === undefined || resolve(owner) === resolve(home))) byName.set(proc.name, proc);
  }
  return byName;
}

/**
 * A workspace's status as users read it (DESIGN.md "CLI"): pm2's, except that a daemon that
 * exited after its idle timeout is `idle`, one that refused to run because it was stopped on
 * purpose is `stopped`, one whose port was taken is `errored`, and a registered workspace pm2
 * does not know is `stopped` when the user stopped it, `idle` when it went idle (`idle`: its
 * marker is there), else `not started`.
 */
export function workspaceStatus(entry: RegistryEntry, proc: ProcessDescription | undefined, idle = false): string {
  const env = proc?.pm2_env as { status?: string; exit_code?: number } | undefined;
  // Stopped on purpose wins over how it last exited (an idle daemon the user then stopped).
  if (entry.stopped && env?.status !== 'online') return 'stopped';
  if (!env?.status) return idle ? 'idle' : 'not started';
  if (env.status === 'stopped' && env.exit_code === EXIT_IDLE) return 'idle';
  if (env.status === 'stopped' && env.exit_code === EXIT_STOPPED) return 'stopped';
  if (env.status === 'stopped' && env.exit_code === EXIT_ADDR_IN_USE) return 'errored';
  return env.status;
}
