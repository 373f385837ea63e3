import { closeSync, openSync, readSync, statSync, watchFile, unwatchFile } from 'node:fs';
import { errnoCode } from '../common/errors.js';

/** The last `n` lines of a file (none for n <= 0), reading backwards in blocks (daemon logs grow without bound). */
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
    const size = statSync(file).size;
    const block = 64 * 1024;
    let pos = size;
    let text = '';
    while (pos > 0 && text.split('\n').length <= n + 1) {
      const len = Math.min(block, pos);
      pos -= len;
      const buf = Buffer.alloc(len);
      readSync(fd, buf, 0, len, pos);
      text = buf.toString('utf8') + text;
    }
    const lines = text.split('\n');
    if (lines[lines.length - 1] === '') lines.pop();
    return lines.slice(-n);
  } finally {
    closeSync(fd);
  }
}

const STAMP = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z)/;

/** The ISO timestamp a daemon log line starts with, if it has one. */
export function lineStamp(line: string): string | undefined {
  return STAMP.exec(line)?.[1];
}

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

/**
 * Calls `onData` with what is appended to `file` from now on; returns a stop function.
 * Polling (not fs.watch) because pm2 may rotate or recreate the file underneath.
 */
export function followFile(file: string, onData: (text: string) => void, intervalMs = 250): () => void {
  let offset = sizeOf(file);
  const listener = () => {
    const size = sizeOf(file);
    if (size < offset) offset = 0; // truncated or recreated
    if (size === offset) return;
    const fd = openSync(file, 'r');
    try {
      const buf = Buffer.alloc(size - offset);
      readSync(fd, buf, 0, buf.length, offset);
      offset = size;
      onData(buf.toString('utf8'));
    } finally {
      closeSync(fd);
    }
  };
  watchFile(file, { interval: intervalMs }, listener);
  return () => unwatchFile(file, listener);
}

function sizeOf(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}
