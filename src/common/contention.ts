import { rmSync } from 'node:fs';
import { errnoCode } from './errors.js';

/**
 * Whether a failed open, rename, link or unlink means "another process has this file right
 * now", not "you may not write here". On Windows a file that was deleted while someone still
 * had it open stays "pending delete", and one an indexer or virus scanner holds open refuses to
 * be replaced; both come back as EPERM, EBUSY or EACCES where POSIX says EEXIST or ENOENT
 * (WINDOWS.md #13; nodejs/node#14406). On POSIX those codes are real permission errors.
 *
 * `platform` defaults to the running one; tests pass 'win32'.
 */
export function isFileContention(err: unknown, platform: NodeJS.Platform = process.platform): boolean {
  if (platform !== 'win32') return false;
  const code = errnoCode(err);
  return code === 'EPERM' || code === 'EBUSY' || code === 'EACCES';
}

/** Blocks the thread for `ms` (for short retries inside synchronous file code). */
export function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Deletes a file if it is there, retrying Windows' transient errors a few times (about 0.3 s
 * in all), and never throws: for the callers (lock release, temp-file cleanup) a file left
 * behind is harmless and an exception would hide the result of work that succeeded.
 * `rmSync`'s own `maxRetries` applies only with `recursive: true`, hence the loop.
 * Returns whether the file is gone.
 */
export function removeQuietly(path: string, rm: (path: string, opts: { force: boolean }) => void = rmSync, platform: NodeJS.Platform = process.platform): boolean {
  for (let attempt = 0; ; attempt++) {
    try {
      rm(path, { force: true });
      return true;
    } catch (err) {
      if (!isFileContention(err, platform) || attempt >= 5) return false;
      sleepSync(20 * (attempt + 1));
    }
  }
}
