import { statSync } from 'node:fs';
import { monotonicNow } from '../common/clock.js';
import { LOG_CHECK_TOPIC } from '../daemon/log.js';
import type { Pm2 } from '../supervisor/pm2.js';

/** How long pm2 gets to append the daemon's check line (it relays the daemon's pipes as they come). */
const LOG_CHECK_MS = 3_000;

function fileState(file: string): string {
  try {
    const st = statSync(file);
    return `${st.ino}:${st.size}`;
  } catch {
    return 'missing';
  }
}

/**
 * Which of `files` pm2 no longer writes. The daemon writes a line to its stdout and stderr
 * (a `exai:log-check` message through pm2); pm2 appends each to its file unless an earlier write failed: after
 * one failed write (ENOSPC: the disk was full), pm2 drops the file's stream and logs nothing
 * more there, even once space is back, until its log files are reopened (`pm2 reloadLogs`).
 */
export async function stuckLogFiles(pm2: Pm2, name: string, files: string[]): Promise<string[]> {
  const before = files.map(fileState);
  await pm2.send(name, LOG_CHECK_TOPIC);
  const grown = () => files.filter((f, i) => fileState(f) === before[i] || fileState(f) === 'missing');
  const deadline = monotonicNow() + LOG_CHECK_MS;
  let stuck = grown();
  while (stuck.length && monotonicNow() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    stuck = grown();
  }
  return stuck;
}
