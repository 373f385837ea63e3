/**
 * Health of a workspace's own daemon (.exai/daemon.json) for `list` and `doctor`: its declared
 * readiness check (exai's /health is not assumed), and on Linux the sockets its process tree
 * listens on — side ports, or a non-loopback address, are how EX-AI's daemons collided.
 */
import { processTree, socketInodes, tcpListeners } from '../common/proc-net.js';
import { loadDaemonFile, type DaemonFile } from '../workspace/daemon-file.js';
import { checkReady } from './own-start.js';
import type { RegistryEntry } from '../workspace/registry-file.js';

/** The workspace's daemon.json as it is now; undefined when it is gone or broken (the reason then). */
export function currentDaemonFile(entry: RegistryEntry): { own?: DaemonFile; error?: string } {
  try {
    return { own: loadDaemonFile(entry.workspace) };
  } catch (err) {
    return { error: (err as Error).message };
  }
}

/**
 * The declared readiness check, once. A `log` check was met at start; afterwards the daemon's
 * port answering a TCP connect is what can be checked.
 */
export async function ownHealthy(entry: RegistryEntry, own: DaemonFile | undefined, timeoutMs = 1_500): Promise<boolean> {
  const ready = own?.ready ?? { kind: 'tcp' as const, timeoutMs };
  return checkReady(ready.kind === 'log' ? { kind: 'tcp', timeoutMs } : ready, entry.port, undefined, timeoutMs);
}

export interface Listener {
  address: string;
  port: number;
  pid: number;
}

/**
 * TCP sockets in LISTEN state held by `pid` and its descendants, from /proc (Linux only;
 * undefined elsewhere or when /proc cannot be read).
 */
export function listeningSockets(pid: number): Listener[] | undefined {
  if (process.platform !== 'linux' || !pid) return undefined;
  try {
    const owners = new Map<string, number>();
    for (const p of processTree(pid)) for (const inode of socketInodes(p)) owners.set(inode, p);
    return tcpListeners().flatMap(({ inode, address, port }) => {
      const owner = owners.get(inode);
      return owner === undefined ? [] : [{ address, port, pid: owner }];
    });
  } catch {
    return undefined;
  }
}

export function isLoopback(address: string): boolean {
  return address.startsWith('127.') || address === '::1' || address.startsWith('::ffff:127.');
}

/** One line naming what the daemon listens on beyond its port on loopback; undefined when nothing. */
export function sideListeners(listeners: readonly Listener[], port: number): string | undefined {
  const odd = listeners.filter((l) => l.port !== port || !isLoopback(l.address));
  if (!odd.length) return undefined;
  const seen = [...new Set(odd.map((l) => `${l.address.includes(':') ? `[${l.address}]` : l.address}:${l.port}`))];
  return `it also listens on ${seen.join(', ')} (beyond 127.0.0.1:${port}): fixed side ports collide between workspaces, and a non-loopback address is reachable from the network; give them \${port}-derived values or bind them to 127.0.0.1 in .exai/daemon.json`;
}
