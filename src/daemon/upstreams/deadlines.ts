/**
 * The relay's time limit on calls in flight. Every call gets the same limit, so they expire in
 * the order they were made: one timer, at the oldest call's deadline, instead of a timer set and
 * cleared per call (each of those also reached into libuv to ref, unref and reschedule).
 */
import { monotonicNow } from '../../common/clock.js';

export class Deadlines<K> {
  /** Key -> deadline (monotonicNow ms). Insertion order is deadline order: the limit is the same for all. */
  private readonly items = new Map<K, number>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly limitMs: number,
    private readonly expired: (key: K) => void,
  ) {}

  add(key: K): void {
    this.items.set(key, monotonicNow() + this.limitMs);
    // An armed timer is due no later than this deadline: it re-arms for the next one when it fires.
    if (!this.timer) this.arm();
  }

  delete(key: K): void {
    this.items.delete(key);
  }

  private arm(): void {
    const first = this.items.values().next();
    if (first.done) return;
    this.timer = setTimeout(() => this.fire(), Math.max(0, first.value - monotonicNow()));
    this.timer.unref();
  }

  private fire(): void {
    this.timer = undefined;
    const now = monotonicNow();
    for (const [key, deadline] of this.items) {
      if (deadline > now) break;
      this.items.delete(key);
      this.expired(key);
    }
    this.arm();
  }
}
