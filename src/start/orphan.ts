import { setTimeout as sleep } from 'node:timers/promises';
import { fetchHealth } from '../transport/health.js';
import { monotonicNow } from '../common/clock.js';
import { ownerOf } from './probe.js';

/**
 * A daemon of this workspace that pm2 no longer manages (its pm2 daemon died a moment ago and
 * it has not noticed yet) still holds the sticky port. It is ours — /health names our id and
 * our state dir — so it is stopped rather than taken for a foreign squatter that forces a
 * move: SIGTERM, then SIGKILL after `graceMs`. Never throws.
 */
export async function evictOrphan(opts: { port: number; id: string; home: string; graceMs?: number }): Promise<void> {
  const health = await fetchHealth(opts.port, 1_000).catch(() => undefined);
  // Another EXAI_HOME's daemon of the same folder is not ours to stop (WINDOWS.md #2).
  if (!health || ownerOf(health, opts.id, opts.home) !== 'ours' || health.pid === process.pid) return;
  const alive = () => {
    try {
      process.kill(health.pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  try {
    process.kill(health.pid, 'SIGTERM');
  } catch {
    return;
  }
  const deadline = monotonicNow() + (opts.graceMs ?? 3_000);
  while (alive() && monotonicNow() < deadline) await sleep(25);
  try {
    if (alive()) process.kill(health.pid, 'SIGKILL');
  } catch {
    return;
  }
  while (alive()) await sleep(25);
}
