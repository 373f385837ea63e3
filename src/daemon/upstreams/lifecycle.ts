/**
 * Idle upstreams stop (DESIGN.md "Upstreams": idleTimeout): an upstream that is up, with no
 * request in flight either way, no subscription and no task that has not ended, for its
 * `idleTimeoutMs`, is stopped as a requested stop (state `idle`, no crash counted); the next
 * request routed to it starts it again (routing.ts).
 */
import { formatDuration } from '../../common/duration.js';
import { idleTick } from '../idle.js';
import type { Upstream } from './upstream.js';
import { monotonicNow } from '../../common/clock.js';

export class UpstreamIdleWatch {
  private timer: NodeJS.Timeout | undefined;
  private tickMs: number | undefined;

  /** `busy` says whether something in flight keeps an upstream up (relay, subscriptions, tasks). */
  constructor(
    private readonly upstreams: () => Iterable<Upstream>,
    private readonly busy: (upstream: Upstream) => boolean,
  ) {}

  /** Re-arms the check for the configured upstreams (after servers.json was applied). */
  update(): void {
    const timeouts = [...this.upstreams()].map((u) => u.spec.idleTimeoutMs).filter((ms) => ms > 0);
    const tick = timeouts.length ? idleTick(Math.min(...timeouts)) : undefined;
    if (tick === this.tickMs) return;
    clearInterval(this.timer);
    this.timer = undefined;
    this.tickMs = tick;
    if (tick === undefined) return;
    this.timer = setInterval(() => this.check(), tick);
    this.timer.unref();
  }

  close(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.tickMs = undefined;
  }

  /** One look: busy upstreams are in use now; those unused for their timeout go idle. */
  check(now = monotonicNow()): void {
    for (const upstream of this.upstreams()) {
      const timeoutMs = upstream.spec.idleTimeoutMs;
      if (upstream.state !== 'up' || timeoutMs <= 0) continue;
      if (this.busy(upstream)) upstream.lastUsedAt = now;
      else if (now - upstream.lastUsedAt >= timeoutMs) {
        void upstream.sleep(`stopped after ${formatDuration(timeoutMs)} unused (the next request starts it again)`);
      }
    }
  }
}
