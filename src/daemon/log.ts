import type { Writable } from 'node:stream';

/**
 * The daemon's log: one line per event, ISO time first. Under pm2 stdout and stderr land in
 * the workspace's log files. Nothing that could carry the token is ever passed in here.
 */
export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

export function streamLogger(out: Writable, err: Writable): Logger {
  const line = (stream: Writable, level: string, message: string) =>
    stream.write(`${new Date().toISOString()} ${level} ${message.replace(/\s*\n\s*/g, ' ')}\n`);
  return {
    info: (m) => line(out, 'info', m),
    warn: (m) => line(err, 'warn', m),
    error: (m) => line(err, 'error', m),
  };
}

export const silentLogger: Logger = { info: () => undefined, warn: () => undefined, error: () => undefined };

/**
 * The message (pm2 `sendDataToProcessId`, topic) that makes a daemon under pm2 write one line to
 * each of its log streams: `exai doctor` then sees whether pm2 still writes the files
 * (src/fleet/log-check.ts). Not a pm2 action: `pm2 trigger` can miss a quick reply and hang.
 */
export const LOG_CHECK_TOPIC = 'exai:log-check';

export function isLogCheck(message: unknown): boolean {
  return typeof message === 'object' && message !== null && (message as { topic?: unknown }).topic === LOG_CHECK_TOPIC;
}

export function writeLogCheck(out: Writable = process.stdout, err: Writable = process.stderr): void {
  const line = `${new Date().toISOString()} info log check by exai doctor\n`;
  out.write(line);
  err.write(line);
}
