/**
 * What the test helpers need to know about the OS they run on (WINDOWS.md #31): Linux has
 * /proc, SIGSTOP/SIGCONT and one pm2 daemon per PM2_HOME; Windows has none of those (pm2 uses
 * one fixed pipe per machine: WINDOWS.md #2), but reserves port ranges (Hyper-V, WSL, Docker)
 * that a test must not pick. Tests that read /proc or stop processes run with
 * `it.runIf(LINUX)`; helpers below answer on Windows through PowerShell and netsh.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

export const LINUX = process.platform === 'linux';
export const WINDOWS = process.platform === 'win32';

/** Runs a PowerShell snippet (Windows only) and returns its stdout lines. */
function powershell(script: string): string[] {
  const res = spawnSync('powershell.exe', ['-NoProfile', '-NonInteractive', '-Command', script], { encoding: 'utf8', windowsHide: true, timeout: 60_000 });
  if (res.status !== 0) throw new Error(`powershell failed (${res.status ?? res.error?.message}): ${res.stderr}`);
  return res.stdout.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '');
}

/**
 * Pids of the pm2 God daemons: on Linux those of this PM2_HOME (pm2 titles its daemon
 * `PM2 vX: God Daemon (<PM2_HOME>)`); on Windows every God of the machine (`node …\pm2\lib\
 * Daemon.js`), since all PM2_HOMEs share one there.
 */
export function pm2GodPids(pm2Home: string): number[] {
  if (WINDOWS) {
    return powershell("Get-CimInstance Win32_Process | Where-Object { $_.CommandLine -like '*\\pm2\\lib\\Daemon.js*' } | ForEach-Object { $_.ProcessId }").map(Number);
  }
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let cmdline: string;
    try {
      cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    if (cmdline.includes('God Daemon') && cmdline.includes(`(${pm2Home})`)) pids.push(Number(entry));
  }
  return pids;
}

/** Resident memory of a process in KiB: VmRSS on Linux (the caller's reader), the working set on Windows. */
export function windowsWorkingSetKb(pid: number): number {
  const [bytes] = powershell(`(Get-Process -Id ${pid}).WorkingSet64`);
  return Math.round(Number(bytes) / 1024);
}

/**
 * The TCP port ranges Windows reserves, from `netsh interface ipv4 show excludedportrange
 * protocol=tcp` (rows of "start end", an administered one marked `*`).
 */
export function parseExcludedPortRanges(text: string): { start: number; end: number }[] {
  const ranges: { start: number; end: number }[] = [];
  for (const line of text.split(/\r?\n/)) {
    const m = /^\s*(\d+)\s+(\d+)\s*\*?\s*$/.exec(line);
    if (m) ranges.push({ start: Number(m[1]), end: Number(m[2]) });
  }
  return ranges;
}

/** The reserved ranges on this machine: none outside Windows, or when netsh cannot tell. */
export function excludedPortRanges(): { start: number; end: number }[] {
  if (!WINDOWS) return [];
  const res = spawnSync('netsh', ['interface', 'ipv4', 'show', 'excludedportrange', 'protocol=tcp'], { encoding: 'utf8', windowsHide: true });
  return res.status === 0 ? parseExcludedPortRanges(res.stdout) : [];
}
