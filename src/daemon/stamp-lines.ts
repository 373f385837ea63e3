/**
 * Timestamps for a workspace's own daemon's output (own-launcher.ts): each line it writes goes
 * to the launcher's stdout or stderr (pm2's two log files) with the ISO time it was read first,
 * the prefix exai's own daemon writes (log.ts), so `exai logs` can interleave the two files by
 * time (fleet/logs.ts) as it does for exai's daemon. The bytes of the line are passed unchanged.
 */
import type { Readable } from 'node:stream';

const LF = 0x0a;

/** The ISO time a daemon log line starts with (exai's daemon's and, stamped, an own daemon's). */
const STAMP = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z)/;

/** The ISO timestamp a daemon log line starts with, if it has one. */
export function lineStamp(line: string): string | undefined {
  return STAMP.exec(line)?.[1];
}

/** A logged line without the time in front of it. */
export function unstamped(line: string): string {
  const stamp = lineStamp(line);
  return stamp === undefined ? line : line.slice(stamp.length).replace(/^ /, '');
}

/** The line as written to pm2's log: the time it was read, a space, the line, a newline. */
export function stamped(line: Buffer | string, at: Date = new Date()): Buffer {
  return Buffer.concat([Buffer.from(`${at.toISOString()} `), Buffer.isBuffer(line) ? line : Buffer.from(line), Buffer.from('\n')]);
}

/**
 * Copies `from` to `to` line by line, stamped; a last line without a newline is written when
 * `from` ends. Resolves then (or when `from` errors or closes).
 */
export function stampLines(from: Readable, to: { write(chunk: Buffer): unknown }, now: () => Date = () => new Date()): Promise<void> {
  let pending: Buffer[] = [];
  return new Promise((resolve) => {
    from.on('data', (chunk: Buffer) => {
      let start = 0;
      for (let nl = chunk.indexOf(LF); nl !== -1; nl = chunk.indexOf(LF, start)) {
        pending.push(chunk.subarray(start, nl));
        to.write(stamped(Buffer.concat(pending), now()));
        pending = [];
        start = nl + 1;
      }
      if (start < chunk.length) pending.push(chunk.subarray(start));
    });
    const done = () => {
      if (pending.length) to.write(stamped(Buffer.concat(pending), now()));
      pending = [];
      resolve();
    };
    from.once('end', done);
    from.once('close', done);
    from.once('error', done);
  });
}
