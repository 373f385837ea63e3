import type { Logger } from '../log.js';
import type { SupervisionOptions } from './supervision.js';
import { monotonicNow } from '../../common/clock.js';

/**
 * How much of an upstream server's stderr reaches the daemon log: a budget of bytes per window,
 * lines kept whole. A server that floods (32 MiB of stderr grew the log by 60 MB) gets its first
 * lines of each window logged and the rest counted, then one line saying how much was left out.
 * The caller drains the pipe whatever this decides (a full pipe would block the server), and
 * keeps its own tail of the last lines for exai_status.
 */
export interface StderrBudgetOptions {
  /** Bytes of stderr lines logged per window. */
  bytes: number;
  windowMs: number;
}

export interface DroppedStderr {
  lines: number;
  bytes: number;
  windowMs: number;
}

export class StderrBudget {
  private windowStart = -Infinity;
  private used = 0;
  private droppedLines = 0;
  private droppedBytes = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly options: StderrBudgetOptions,
    private readonly log: (line: string) => void,
    private readonly onDropped: (dropped: DroppedStderr) => void,
    private readonly now: () => number = monotonicNow,
  ) {}

  offer(line: string): void {
    const t = this.now();
    if (t - this.windowStart >= this.options.windowMs) {
      this.flush();
      this.windowStart = t;
      this.used = 0;
    }
    const size = Buffer.byteLength(line) + 1;
    if (this.used + size <= this.options.bytes) {
      this.used += size;
      this.log(line);
      return;
    }
    this.droppedLines++;
    this.droppedBytes += size;
    // Said at the window's end even if the flood stops there (no later line would trigger it).
    this.timer ??= setTimeout(() => this.flush(), Math.max(0, this.windowStart + this.options.windowMs - t)).unref();
  }

  /** Reports what was left out so far (at the window's end, or when the process goes away). */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (!this.droppedLines) return;
    this.onDropped({ lines: this.droppedLines, bytes: this.droppedBytes, windowMs: this.options.windowMs });
    this.droppedLines = 0;
    this.droppedBytes = 0;
  }
}

/**
 * An upstream's stderr: its last lines (for exai_status and crash reports) and its budget, whose
 * lines and left-out count go to the daemon log, named.
 */
export class UpstreamStderr {
  private readonly lines: string[] = [];
  private readonly budget: StderrBudget;

  constructor(
    name: string,
    private readonly options: SupervisionOptions,
    log: Logger,
  ) {
    this.budget = upstreamStderrBudget(name, options, log);
  }

  /** One line the server wrote (blank ones are skipped). */
  offer(line: string): void {
    if (line === '') return;
    this.lines.push(line.length > 500 ? `${line.slice(0, 500)}…` : line);
    if (this.lines.length > this.options.stderrLines) this.lines.shift();
    this.budget.offer(line);
  }

  get tail(): string[] {
    return [...this.lines];
  }

  get lastLine(): string | undefined {
    return this.lines[this.lines.length - 1];
  }

  flush(): void {
    this.budget.flush();
  }
}

/** An upstream's budget: its lines and the left-out count go to the daemon log, named. */
function upstreamStderrBudget(name: string, options: SupervisionOptions, log: Logger): StderrBudget {
  return new StderrBudget(
    { bytes: options.stderrLogBytes, windowMs: options.stderrLogWindowMs },
    (line) => log.info(`upstream ${name} stderr: ${line}`),
    (d) =>
      log.warn(
        `upstream ${name} stderr: ${d.lines} line(s) (${Math.ceil(d.bytes / 1024)} KiB) left out of this log: it wrote more than ${Math.round(options.stderrLogBytes / 1024)} KiB in ${d.windowMs / 1000} s (exai_status shows its last ${options.stderrLines} lines)`,
      ),
  );
}
