/**
 * Memory of processes as Linux counts it: RSS (VmRSS) counts every resident page a process
 * maps, shared or not; PSS (/proc/<pid>/smaps_rollup) divides each shared page among the
 * processes that map it, so PSS adds up across processes without counting node's own binary
 * once per process. Linux only: elsewhere the values are undefined.
 */
import { readdirSync, readFileSync } from 'node:fs';

function kbField(text, name) {
  const m = new RegExp(`^${name}:\\s+(\\d+)\\s+kB`, 'm').exec(text);
  return m ? Number(m[1]) * 1024 : undefined;
}

/** { rss, pss } of one live process in bytes; undefined when it is gone. */
export function memoryOf(pid) {
  try {
    const rss = kbField(readFileSync(`/proc/${pid}/status`, 'utf8'), 'VmRSS');
    const pss = kbField(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'), 'Pss');
    return rss === undefined || pss === undefined ? undefined : { rss, pss };
  } catch {
    return undefined;
  }
}

/** Sums over live pids: { processes, rss, pss } (a pid that is gone counts nothing). */
export function totalMemory(pids) {
  let rss = 0;
  let pss = 0;
  let processes = 0;
  for (const pid of new Set(pids)) {
    const m = memoryOf(pid);
    if (!m) continue;
    processes++;
    rss += m.rss;
    pss += m.pss;
  }
  return { processes, rss, pss };
}

/** pid -> parent pid, for every process now. */
function parents() {
  const map = new Map();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // The command may hold spaces and parentheses: the fields after the last ')'.
      map.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // gone meanwhile
    }
  }
  return map;
}

/** Every live descendant of `root` (children, their children, …), not `root` itself. */
export function descendants(root) {
  const ppid = parents();
  const found = [];
  let frontier = [root];
  while (frontier.length) {
    const next = [];
    for (const [pid, parent] of ppid) if (frontier.includes(parent)) next.push(pid);
    found.push(...next);
    frontier = next;
  }
  return found;
}
