import { closeSync, openSync, readSync, statSync, watchFile, unwatchFile } from 'node:fs';
import { errnoCode } from '../common/errors.js';

/** The last `n` lines of a file, reading backwards in blocks (daemon logs grow without bound). */
export function tailLines(file: string, n: number): string[] {
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

/**
 * Interleaves the daemon's stdout and stderr lines by their ISO timestamp prefix; a line
 * without one (a stack frame) stays behind the line it continues.
 */
export function mergeByTime(...streams: { label: string; lines: string[] }[]): string[] {
  const tagged: { stamp: string; seq: number; text: string }[] = [];
  let seq = 0;
  for (const { label, lines } of streams) {
    let stamp = '';
    for (const line of lines) {
      stamp = STAMP.exec(line)?.[1] ?? stamp;
      tagged.push({ stamp, seq: seq++, text: `${label} ${line}` });
    }
  }
  tagged.sort((a, b) => (a.stamp < b.stamp ? -1 : a.stamp > b.stamp ? 1 : a.seq - b.seq));
  return tagged.map((t) => t.text);
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
