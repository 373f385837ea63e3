import { appendFileSync, mkdirSync } from 'node:fs';
import type { Writable } from 'node:stream';
import { homeLayout } from '../workspace/layout.js';
import { rotateIfLarge } from '../daemon/log-rotation.js';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type Logger = (level: LogLevel, message: string) => void;

/**
 * The shim's log: never stdout (that is the protocol). Everything goes to an append-only
 * per-workspace file under EXAI_HOME/logs; info and above also to stderr, where editors show
 * it. Lines are appended synchronously: they are rare, and the process may exit right after.
 * Callers never pass message bodies or the token, only ids, methods and states.
 */
export class ShimLog {
  private readonly file: string;
  private fileBroken = false;

  constructor(
    home: string,
    id: string,
    private readonly stderr: Writable,
    private readonly verbose = false,
  ) {
    const layout = homeLayout(home);
    this.file = layout.shimLog(id);
    try {
      mkdirSync(layout.logs, { recursive: true, mode: 0o700 });
    } catch {
      this.fileBroken = true;
    }
    try {
      rotateIfLarge(this.file); // capped like the daemon's logs, checked as each shim starts (its lines are few)
    } catch {
      // another shim rotating it at the same moment; appending still works
    }
  }

  write(level: LogLevel, message: string): void {
    if (level !== 'debug' || this.verbose) this.stderr.write(`exai shim: ${message}\n`);
    if (this.fileBroken) return;
    try {
      appendFileSync(this.file, `${new Date().toISOString()} ${process.pid} ${level} ${message}\n`, { mode: 0o600 });
    } catch (err) {
      this.fileBroken = true;
      this.stderr.write(`exai shim: cannot append to ${this.file} (${String(err)}); logging to stderr only\n`);
    }
  }
}
