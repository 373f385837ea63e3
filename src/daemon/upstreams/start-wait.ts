/**
 * How long lists wait for upstreams that are still starting (README "Waiting for servers that
 * start"): one deadline, `waitMs` after the latest start, shared by every request, so one
 * server that never answers initialize costs a new window that deadline once, not a wait per
 * request. When it passes, the servers still starting are named (Upstream.slowStart).
 */
import { monotonicNow } from '../../common/clock.js';
import type { Upstream } from './upstream.js';

/** On its first start with nothing known of its catalog: what early lists wait for. */
export const startingUnknown = (u: Upstream) => u.state === 'starting' && !u.catalogKnown;

export class StartWait {
  /** monotonicNow() until which lists wait. */
  private until = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly waitMs: number,
    private readonly upstreams: () => Iterable<Upstream>,
  ) {}

  /** Upstreams were just started: the deadline moves to now + waitMs. */
  started(): void {
    const until = monotonicNow() + this.waitMs;
    if (until <= this.until + 1) return;
    this.until = until;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      for (const u of this.upstreams()) if (startingUnknown(u)) u.slowStart(this.waitMs);
    }, this.waitMs);
    this.timer.unref();
  }

  /** Resolves when no upstream is on its first start with an unknown catalog, or at the deadline (at once after it). */
  async wait(): Promise<void> {
    const starting = [...this.upstreams()].filter(startingUnknown);
    const left = this.until - monotonicNow();
    if (starting.length > 0 && left > 0) await bounded(Promise.all(starting.map((u) => u.whenStarted())), left);
  }

  close(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}

export async function bounded(work: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([work, new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}
