/**
 * Who listens on a loopback port, in words for `exai list` and error messages: an exai daemon
 * (its /health names it), else on Linux the owning process from /proc. Best effort, never throws.
 */
import { readFileSync } from 'node:fs';
import { allPids, socketInodes, tcpListeners } from '../common/proc-net.js';
import { fetchHealth } from '../transport/health.js';

/** "pid 1234 (python3 -m http.server 8079)", "exai daemon 1a2b3c4d (pid 99)", or undefined. */
export async function describePortHolder(port: number, platform: NodeJS.Platform = process.platform): Promise<string | undefined> {
  const health = await fetchHealth(port, 1_000).catch(() => undefined);
  if (health) return `the exai daemon of workspace ${health.id} (pid ${health.pid}${health.home ? `, EXAI_HOME ${health.home}` : ''})`;
  if (platform !== 'linux') return undefined;
  try {
    const inodes = new Set(tcpListeners().filter((l) => l.port === port).map((l) => l.inode));
    if (!inodes.size) return undefined;
    const pid = allPids().find((p) => socketInodes(p).some((inode) => inodes.has(inode)));
    if (pid === undefined) return 'a process of another user';
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
    return `pid ${pid} (${cmd.length > 80 ? `${cmd.slice(0, 77)}...` : cmd || '?'})`;
  } catch {
    return undefined;
  }
}
