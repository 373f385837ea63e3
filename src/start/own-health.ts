/**
 * Health of a workspace's own daemon (.exai/daemon.json) for `list` and `doctor`: its declared
 * readiness check (exai's /health is not assumed), and on Linux the sockets its process tree
 * listens on — side ports, or a non-loopback address, are how EX-AI's daemons collided.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
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
    const pids = processTree(pid);
    const inodes = new Map<string, number>();
    for (const p of pids) {
      let fds: string[];
      try {
        fds = readdirSync(`/proc/${p}/fd`);
      } catch {
        continue; // exited meanwhile
      }
      for (const fd of fds) {
        try {
          const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${p}/fd/${fd}`));
          if (m) inodes.set(m[1]!, p);
        } catch {
          // closed meanwhile
        }
      }
    }
    const out: Listener[] = [];
    for (const [file, v6] of [['/proc/net/tcp', false], ['/proc/net/tcp6', true]] as const) {
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch {
        continue;
      }
      for (const line of text.split('\n').slice(1)) {
        const f = line.trim().split(/\s+/);
        if (f.length < 10 || f[3] !== '0A') continue; // 0A = LISTEN
        const owner = inodes.get(f[9]!);
        if (owner === undefined) continue;
        const [hexAddr, hexPort] = f[1]!.split(':') as [string, string];
        out.push({ address: v6 ? ipv6(hexAddr) : ipv4(hexAddr), port: parseInt(hexPort, 16), pid: owner });
      }
    }
    return out;
  } catch {
    return undefined;
  }
}

/** `pid` and every descendant (from each process's ppid in /proc/<pid>/stat). */
function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // The command name may hold spaces and parentheses: fields start after the last ')'.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(name));
      children.set(ppid, list);
    } catch {
      // exited meanwhile
    }
  }
  const tree: number[] = [];
  const queue = [root];
  while (queue.length) {
    const p = queue.shift()!;
    tree.push(p);
    queue.push(...(children.get(p) ?? []));
  }
  return tree;
}

function ipv4(hex: string): string {
  // Little-endian on the machines Linux runs exai on (x86, arm64).
  return [3, 2, 1, 0].map((i) => parseInt(hex.slice(i * 2, i * 2 + 2), 16)).join('.');
}

function ipv6(hex: string): string {
  if (/^0{32}$/.test(hex)) return '::';
  if (hex === '00000000000000000000000001000000') return '::1';
  if (hex.startsWith('0000000000000000FFFF0000')) return `::ffff:${ipv4(hex.slice(24))}`;
  const words: string[] = [];
  for (let i = 0; i < 4; i++) {
    const w = hex.slice(i * 8, i * 8 + 8);
    const le = w.slice(6, 8) + w.slice(4, 6) + w.slice(2, 4) + w.slice(0, 2);
    words.push(le.slice(0, 4), le.slice(4, 8));
  }
  return words.map((w) => w.replace(/^0+(?=.)/, '').toLowerCase()).join(':');
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
