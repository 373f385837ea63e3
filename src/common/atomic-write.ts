import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { errnoCode } from './errors.js';

/**
 * Writes `data` to `file` so that readers see either the old content or the new, never a
 * mix: a private temp file in the same folder (same filesystem, so rename is atomic), flushed
 * to disk, then renamed over the target. On any failure the temp file is removed and the
 * target is left as it was. Throws the underlying Node error; callers map it to an ExaiError.
 *
 * `mode` is applied with chmod, not only at open, so an existing file's mode survives the
 * umask (a 0600 file stays 0600, a 0644 file stays 0644).
 */
export function writeFileAtomic(file: string, data: string, opts: { mode?: number } = {}): void {
  const temp = join(dirname(file), `.${basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  let fd: number | undefined;
  try {
    fd = openSync(temp, 'wx', opts.mode ?? 0o666);
    writeAll(fd, data);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    if (opts.mode !== undefined) chmodSync(temp, opts.mode);
    renameWithRetry(temp, file);
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

/**
 * On Windows a rename over a file that another process (an editor, a virus scanner) has open
 * fails transiently with EPERM/EBUSY/EACCES; a few short retries ride that out.
 */
function renameWithRetry(from: string, to: string): void {
  for (let attempt = 0; ; attempt++) {
    try {
      renameSync(from, to);
      return;
    } catch (err) {
      const code = errnoCode(err);
      const transient = process.platform === 'win32' && (code === 'EPERM' || code === 'EBUSY' || code === 'EACCES');
      if (!transient || attempt >= 10) throw err;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20 * (attempt + 1));
    }
  }
}
