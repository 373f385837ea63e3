import { homedir } from 'node:os';

/** Plain-text table: left-aligned columns, two spaces apart, header first. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

/**
 * `~` for the home dir, and the tail of long paths (the folder name is what users scan for).
 * On Windows the separator is `\` and the prefix compares without case (WINDOWS.md #29);
 * `home` and `platform` are for tests.
 */
export function shortPath(path: string, max = 40, home: string = homedir(), platform: NodeJS.Platform = process.platform): string {
  const win = platform === 'win32';
  const prefix = home + (win ? '\\' : '/');
  const underHome = home !== '' && (win ? path.toLowerCase().startsWith(prefix.toLowerCase()) : path.startsWith(prefix));
  const p = underHome ? '~' + path.slice(home.length) : path;
  return p.length <= max ? p : '…' + p.slice(p.length - (max - 1));
}

export function bytes(n: number): string {
  if (n <= 0) return '-';
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(0)} KB`;
  return `${(n / (1024 * 1024)).toFixed(1)} MB`;
}

export function duration(ms: number): string {
  if (ms <= 0) return '-';
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h${String(m % 60).padStart(2, '0')}m`;
  return `${Math.floor(h / 24)}d${String(h % 24).padStart(2, '0')}h`;
}
