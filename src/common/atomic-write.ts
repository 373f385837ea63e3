import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, fsyncSync, openSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { isFileContention, sleepSync } from './contention.js';
import { errnoCode } from './errors.js';

/**
 * Writes `data` to `file` so that readers see either the old content or the new, never a
 * mix: a private temp file in the same folder (same filesystem, so rename is atomic), flushed
 * to disk, then renamed over the target. On any failure the temp file is removed and the
 * target is left as it was. Throws the underlying Node error; callers map it to an ExaiError.
 *
 * `mode` is applied with chmod, not only at open, so an existing file's mode survives the
 * umask (a 0600 file stays 0600, a 0644 file stays 0644).
 *
 * On Windows a read-only target (Perforce and TFVC keep files read-only until checked out)
 * fails at once with "read-only, not checked out?", before any temp file is made: the rename
 * would fail EPERM after a second of retries (WINDOWS.md #24). On POSIX, rename replaces it.
 * `platform` defaults to the running one; tests pass 'win32'.
 */
export function writeFileAtomic(file: string, data: string, opts: { mode?: number; platform?: NodeJS.Platform } = {}): void {
  const platform = opts.platform ?? process.platform;
  if (platform === 'win32') refuseReadOnly(file);
  const temp = join(dirname(file), `.${basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  let fd: number | undefined;
  try {
    fd = openSync(temp, 'wx', opts.mode ?? 0o666);
    writeAll(fd, data);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    if (opts.mode !== undefined) chmodSync(temp, opts.mode);
    renameWithRetry(temp, file, platform);
  } catch (err) {
    if (fd !== undefined) {
      try {
        closeSync(fd);
      } catch {
        // already failing; the original error is the one worth reporting
      }
    }
    rmSync(temp, { force: true });
    throw err;
  }
}

function writeAll(fd: number, data: string): void {
  const buffer = Buffer.from(data, 'utf8');
  let offset = 0;
  while (offset < buffer.length) offset += writeSync(fd, buffer, offset, buffer.length - offset);
}

/** Throws (without an errno code, so callers print the message) when `file` exists and is read-only. */
function refuseReadOnly(file: string): void {
  let mode: number;
  try {
    mode = statSync(file).mode;
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return;
    throw err;
  }
  // Node maps the read-only attribute to a mode without the write bits (fs docs, "File modes").
  if ((mode & 0o200) === 0) throw new Error('read-only, not checked out?');
}

/**
 * On Windows a rename over a file that another process (an editor, a virus scanner) has open
 * fails transiently with EPERM/EBUSY/EACCES; a few short retries ride that out.
 */
function renameWithRetry(from: string, to: string, platform: NodeJS.Platform): void {
  for (let attempt = 0; ; attempt++) {
    try {
      renameSync(from, to);
      return;
    } catch (err) {
      if (!isFileContention(err, platform) || attempt >= 10) throw err;
      sleepSync(20 * (attempt + 1));
    }
  }
}
