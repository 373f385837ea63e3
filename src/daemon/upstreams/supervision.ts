/**
 * When a crashed upstream is started again: capped exponential backoff, and a crash limit in a
 * window after which it is marked failed (a crash loop must not burn the machine or the log).
 */
import { monotonicNow } from '../../common/clock.js';

export interface SupervisionOptions {
  /** First restart delay; doubles per crash in the window, up to maxBackoffMs. */
  initialBackoffMs: number;
  maxBackoffMs: number;
  /** This many crashes within crashWindowMs mark the upstream failed (no more restarts). */
  maxCrashes: number;
  crashWindowMs: number;
  /** Spawn + initialize + first listing; longer counts as a failed start. */
  startTimeoutMs: number;
  /**
   * How long a stopping upstream's process tree gets in all: a third after its stdin closes,
   * the rest after SIGTERM, then SIGKILL. Below pm2's kill_timeout (3 s), with room for the
   * daemon's own close.
   */
  stopGraceMs: number;
  stderrLines: number;
  /** Bytes of its stderr logged per window; the rest is counted, not logged (stderr-budget.ts). */
  stderrLogBytes: number;
  stderrLogWindowMs: number;
}

export const DEFAULT_SUPERVISION: SupervisionOptions = {
  initialBackoffMs: 250,
  maxBackoffMs: 10_000,
  maxCrashes: 5,
  crashWindowMs: 60_000,
  startTimeoutMs: 30_000,
  stopGraceMs: 1_500,
  stderrLines: 50,
  // 64 KiB per 10 s: a chatty server's start-up fits, a flood adds at most ~23 MB an hour
  // (and the log files are capped and rotated: src/daemon/log-rotation.ts).
  stderrLogBytes: 64 * 1024,
  stderrLogWindowMs: 10_000,
};

export class CrashHistory {
  private crashes: number[] = [];

  constructor(private readonly options: SupervisionOptions) {}

  /** Forgets past crashes (a requested start begins anew). */
  reset(): void {
    this.crashes = [];
  }

  /**
   * Records a crash now. Returns the delay before the next start (ms), or undefined when this
   * crash makes `maxCrashes` within the window: the upstream has failed.
   */
  record(now = monotonicNow()): number | undefined {
    this.crashes = this.crashes.filter((t) => now - t < this.options.crashWindowMs);
    this.crashes.push(now);
    if (this.crashes.length >= this.options.maxCrashes) return undefined;
    return Math.min(this.options.maxBackoffMs, this.options.initialBackoffMs * 2 ** (this.crashes.length - 1));
  }

  /** "5 crashes within 60 s", for the failure message. */
  describe(): string {
    return `${this.crashes.length} crashes within ${Math.round(this.options.crashWindowMs / 1000)} s`;
  }
}
