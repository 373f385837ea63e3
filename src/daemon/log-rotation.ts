import { copyFileSync, renameSync, statSync, truncateSync } from 'node:fs';
import { errnoCode, errorMessage } from '../common/errors.js';

/** Each log file is cut at this size: copied to `<file>.1` (older ones shift up), then emptied. */
export const LOG_MAX_BYTES = 10 * 1024 * 1024;
/** Rotated copies kept per log file (`.1` newest … `.3` oldest): at most 40 MiB per file in all. */
export const LOG_KEEP = 3;
const CHECK_MS = 5_000;

/**
 * Caps the log files pm2 writes for this daemon (pm2 appends with O_APPEND, so a truncated file
 * goes on from its start, as pm2-logrotate's copy-and-truncate relies on). Lines pm2 appends
 * between the copy and the truncation are lost; the window is a few microseconds.
 * Returns true when it rotated.
 */
export function rotateIfLarge(file: string, maxBytes: number = LOG_MAX_BYTES, keep: number = LOG_KEEP): boolean {
  let size: number;
  try {
    size = statSync(file).size;
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return false;
    throw err;
  }
  if (size <= maxBytes) return false;
  for (let i = keep - 1; i >= 1; i--) {
    try {
      renameSync(`${file}.${i}`, `${file}.${i + 1}`);
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') throw err;
    }
  }
  copyFileSync(file, `${file}.1`);
  truncateSync(file, 0);
  return true;
}

/** The daemon's own log files as pm2 names them in its environment (none when not under pm2). */
export function logFilesToRotate(env: NodeJS.ProcessEnv): string[] {
  return [...new Set([env.pm_out_log_path, env.pm_err_log_path].filter((f): f is string => !!f && !/^\/dev\/null$|^NULL$/i.test(f)))];
}

/** Checks the files every few seconds (unref'd: it never keeps the daemon alive); returns stop. */
export function watchLogSizes(files: string[], maxBytes: number, onProblem: (message: string) => void, intervalMs = CHECK_MS): () => void {
  if (!files.length) return () => undefined;
  let reported = false;
  const timer = setInterval(() => {
    for (const file of files) {
      try {
        rotateIfLarge(file, maxBytes);
      } catch (err) {
        if (!reported) onProblem(`cannot rotate ${file}: ${errorMessage(err)}`); // once: the log may be what is failing
        reported = true;
      }
    }
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
