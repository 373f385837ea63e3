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
