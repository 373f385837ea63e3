import { ExaiError } from './errors.js';

const UNITS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };

/**
 * A duration as users write it — `90s`, `30m`, `2h`, `500ms`, or `0` (never) — in ms.
 * Throws USAGE naming `what` (e.g. `--idle-timeout`) and the accepted forms.
 */
export function parseDuration(text: string, what: string): number {
  const m = /^\s*(\d+)\s*(ms|s|m|h)?\s*$/.exec(text);
  const value = m ? Number(m[1]) : Number.NaN;
  if (!m || (m[2] === undefined && value !== 0) || !Number.isSafeInteger(value * UNITS[m[2] ?? 'ms']!)) {
    throw new ExaiError('USAGE', `${what} ${JSON.stringify(text)} is not a duration; write it like 90s, 30m or 2h (0 = never)`);
  }
  return value * UNITS[m[2] ?? 'ms']!;
}

/** The inverse, for messages: 90000 -> "90s", 1800000 -> "30m", 1500 -> "1500ms". */
export function formatDuration(ms: number): string {
  if (ms > 0 && ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms > 0 && ms % 60_000 === 0) return `${ms / 60_000}m`;
  return ms % 1_000 === 0 ? `${ms / 1_000}s` : `${ms}ms`;
}
