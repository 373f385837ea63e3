/**
 * The one answer to "is the daemon that answers this port ours, and current?" (ours: this
 * workspace's, of this EXAI_HOME; current: this exai version, started with this launch spec),
 * for every start path, the shim, doctor and the orphan eviction. Light on purpose: the shim
 * loads it on every start.
 */
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { EXAI_VERSION } from '../common/version.js';
import type { Health } from '../transport/health.js';
import type { Probe } from './health.js';

/** This workspace's daemon of this EXAI_HOME, another workspace's (or not exai's), or this workspace's of another EXAI_HOME. */
export type Owner = 'ours' | 'foreign' | 'other-home';

/** Whose daemon answered /health. A daemon too old to say its home counts as this home's. */
export function ownerOf(health: Pick<Health, 'id' | 'home'>, id: string, home: string): Owner {
  if (health.id !== id) return 'foreign';
  if (health.home !== undefined && resolve(health.home) !== resolve(home)) return 'other-home';
  return 'ours';
}

/** Why a daemon of ours is not current: another exai version, or other launch inputs; undefined when it is current. */
export function staleness(health: Pick<Health, 'version' | 'spec'>, spec: string): 'version' | 'spec' | undefined {
  if (health.version !== EXAI_VERSION) return 'version';
  if (health.spec !== spec) return 'spec';
  return undefined;
}

/** Ours, this version, this launch spec (`launchDigest`): a daemon a start may use as it is. */
export function isCurrent(health: Pick<Health, 'id' | 'home' | 'version' | 'spec'>, want: { id: string; home: string; spec: string }): boolean {
  return ownerOf(health, want.id, want.home) === 'ours' && staleness(health, want.spec) === undefined;
}

/**
 * Probes until the answer is not "down", at most `attempts` times `delayMs` apart: the caller
 * knows the daemon should be up (pm2 says online), so one refused connect proves nothing.
 */
export async function probeUntilSettled(probe: () => Promise<Probe>, { attempts = 4, delayMs = 150 } = {}): Promise<Probe> {
  let last = await probe();
  for (let i = 1; i < attempts && last.state === 'down'; i++) {
    await sleep(delayMs);
    last = await probe();
  }
  return last;
}
