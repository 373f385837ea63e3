import type { DaemonState } from './state.js';
import { monotonicNow } from '../common/clock.js';

/**
 * The daemon's idle timer (DESIGN.md "Lifecycle"; Bazel's `max_idle_secs`): `onIdle` runs once
 * no client session has been open for `timeoutMs` (0 = never). A client session is one that
 * sent `initialize` (2025-11-25) or a request in the 2026-07-28 era; its calls in flight and its subscriptions live and die with it, so an open
 * one keeps the daemon up however long a call runs. The supervisor's one-request probes (the
 * readiness ping of `spawn`, `exai list`'s status) are not clients and keep nothing up.
 *
 * Checked on a tick (a tenth of the timeout, 50 ms to 10 s) rather than re-armed per message:
 * the hot path stays untouched, and the exit comes at most one tick late.
 */
export function watchIdle(state: DaemonState, timeoutMs: number, onIdle: () => void): { stop(): void } {
  if (timeoutMs <= 0) return { stop: () => undefined };
  let lastActive = monotonicNow();
  const tick = idleTick(timeoutMs);
  const timer = setInterval(() => {
    const now = monotonicNow();
    if ([...state.sessions.values()].some((s) => s.protocolVersion !== undefined)) lastActive = now;
    else if (now - lastActive >= timeoutMs) {
      clearInterval(timer);
      onIdle();
    }
  }, tick);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}

/**
 * How often an idle timer of `timeoutMs` looks (ms): a tenth of it, 50 ms to 10 s, so an idle
 * stop comes at most a tenth late (10 s for long timeouts) and short test timeouts stay sharp.
 */
export function idleTick(timeoutMs: number): number {
  return Math.min(10_000, Math.max(50, Math.floor(timeoutMs / 10)));
}
