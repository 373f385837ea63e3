/**
 * Who listens on a loopback port, in words for `exai list` and error messages: an exai daemon
 * (its /health names it), else on Linux the owning process from /proc. Best effort, never throws.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { fetchHealth } from '../transport/health.js';

/** "pid 1234 (python3 -m http.server 8079)", "exai daemon 1a2b3c4d (pid 99)", or undefined. */
export async function describePortHolder(port: number, platform: NodeJS.Platform = process.platform): Promise<string | undefined> {
  const health = await fetchHealth(port, 1_000).catch(() => undefined);
  if (health) return `the exai daemon of workspace ${health.id} (pid ${health.pid}${health.home ? `, EXAI_HOME ${health.home}` : ''})`;
  if (platform !== 'linux') return undefined;
  try {
    const inodes = listeningInodes(port);
    if (!inodes.size) return undefined;
    const pid = ownerPid(inodes);
    if (pid === undefined) return 'a process of another user';
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
    return `pid ${pid} (${cmd.length > 80 ? `${cmd.slice(0, 77)}...` : cmd || '?'})`;
  } catch {
    return undefined;
  }
}

/** Socket inodes listening on `port` on any address (/proc/net/tcp{,6}: state 0A = LISTEN). */
function listeningInodes(port: number): Set<string> {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  const inodes = new Set<string>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols[3] === '0A' && cols[1]?.endsWith(`:${hex}`) && cols[9]) inodes.add(cols[9]);
    }
  }
  return inodes;
}

function ownerPid(inodes: Set<string>): number | undefined {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${entry}/fd`);
    } catch {
      continue; // another user's process, or gone
    }
    for (const fd of fds) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${entry}/fd/${fd}`));
        if (m && inodes.has(m[1]!)) return Number(entry);
      } catch {
        // closed meanwhile
      }
    }
  }
  return undefined;
}
