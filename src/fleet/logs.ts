import { closeSync, fstatSync, openSync, readSync, statSync } from 'node:fs';
import { errnoCode } from '../common/errors.js';
import { lineStamp } from '../daemon/stamp-lines.js';

/**
 * The last `n` lines of a file (none for n <= 0), reading backwards in blocks (a log can be
 * large). The blocks are joined before decoding: a multi-byte character across a block
 * boundary stays whole (decoding each block alone printed U+FFFD there).
 */
export function tailLines(file: string, n: number): string[] {
  if (n <= 0) return [];
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return [];
    throw err;
  }
  try {
    const size = fstatSync(fd).size;
    const block = TAIL_BLOCK;
    let pos = size;
    const blocks: Buffer[] = [];
    let newlines = 0;
    // n lines need n + 1 newlines before them (the last one may end the file).
    while (pos > 0 && newlines <= n) {
      const len = Math.min(block, pos);
      pos -= len;
      const buf = Buffer.alloc(len);
      readSync(fd, buf, 0, len, pos);
      blocks.unshift(buf);
      for (let i = buf.indexOf(0x0a); i !== -1; i = buf.indexOf(0x0a, i + 1)) newlines++;
    }
    const lines = Buffer.concat(blocks).toString('utf8').split('\n');
    if (lines[lines.length - 1] === '') lines.pop();
    return lines.slice(-n);
  } finally {
    closeSync(fd);
  }
}

/** The block `tailLines` reads at a time. */
export const TAIL_BLOCK = 64 * 1024;

export { lineStamp };

export interface LogLine {
  /** ISO time of the line, or of the line it continues (a stack frame); null before any. */
  time: string | null;
  stream: string;
  /** The line as written. */
  line: string;
}

/**
 * Interleaves the daemon's stdout and stderr lines by their ISO timestamp prefix; a line
 * without one (a stack frame) stays behind the line it continues.
 */
export function mergeByTime(...streams: { stream: string; lines: string[] }[]): LogLine[] {
  const tagged: (LogLine & { seq: number })[] = [];
  let seq = 0;
  for (const { stream, lines } of streams) {
    let time: string | null = null;
    for (const line of lines) {
      time = lineStamp(line) ?? time;
      tagged.push({ time, stream, line, seq: seq++ });
    }
  }
  tagged.sort((a, b) => ((a.time ?? '') < (b.time ?? '') ? -1 : (a.time ?? '') > (b.time ?? '') ? 1 : a.seq - b.seq));
  return tagged.map(({ time, stream, line }) => ({ time, stream, line }));
}

/** Bytes before the read position remembered to notice a file rewritten to at least its old size. */
const FINGERPRINT = 64;

/**
 * Calls `onLines` with each whole line appended to `file` from now on (a line still being
 * written waits for its newline; characters split across reads stay whole); returns a stop
 * function. Polling (not fs.watch): rotation truncates or recreates the file underneath, and
 * each poll notices both — a new inode, a size below the read position, or the bytes just
 * before it changed (truncated and refilled past the old size between two polls) — and then
 * reads the file again from its start.
 */
export function followFile(file: string, onLines: (lines: string[]) => void, intervalMs = 250): () => void {
  const first = statOf(file);
  let ino = first?.ino;
  let offset = first?.size ?? 0;
  let seen = fingerprint(file, offset);
  let pending = Buffer.alloc(0);
  const poll = () => {
    const st = statOf(file);
    if (!st) return; // gone for now (rotated away): its successor has another inode
    const fromStart = st.ino !== ino || st.size < offset || (offset > 0 && !fingerprint(file, offset).equals(seen));
    if (fromStart) {
      ino = st.ino;
      offset = 0;
      pending = Buffer.alloc(0);
    }
    if (st.size === offset) return;
    const buf = readRange(file, offset, st.size);
    if (!buf) return;
    offset += buf.length;
    seen = fingerprint(file, offset);
    const data = Buffer.concat([pending, buf]);
    const end = data.lastIndexOf(0x0a);
    pending = end === -1 ? data : data.subarray(end + 1);
    if (end !== -1) onLines(data.subarray(0, end).toString('utf8').split('\n'));
  };
  const timer = setInterval(poll, intervalMs);
  return () => clearInterval(timer);
}

function statOf(file: string): { ino: number; size: number } | undefined {
  try {
    const st = statSync(file);
    return { ino: st.ino, size: st.size };
  } catch {
    return undefined;
  }
}

/** Bytes [from, to) of `file` (fewer if it shrank meanwhile), or undefined if it is gone. */
function readRange(file: string, from: number, to: number): Buffer | undefined {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return undefined;
  }
  try {
    const buf = Buffer.alloc(to - from);
    return buf.subarray(0, readSync(fd, buf, 0, buf.length, from));
  } finally {
    closeSync(fd);
  }
}

function fingerprint(file: string, offset: number): Buffer {
  return readRange(file, Math.max(0, offset - FINGERPRINT), offset) ?? Buffer.alloc(0);
}
