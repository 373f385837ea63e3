/**
 * The clock for timeouts, deadlines and idle timers: milliseconds on a monotonic clock
 * (performance.now(), origin at process start). The wall clock (Date.now()) jumps when the
 * system time is set, by NTP or by hand, and a deadline or an idle span measured on it then
 * fires an hour late, or at once. Use Date.now() only for timestamps people read or that are
 * compared across processes (file mtimes, pm2's start time).
 */
import { performance } from 'node:perf_hooks';

export function monotonicNow(): number {
  return performance.now();
}
