import { homedir } from 'node:os';
import stringWidth from 'string-width';

export { shellArg } from '../common/shell.js';

/** A table column. Cells are measured in terminal columns (CJK and emoji count two). */
export interface Column {
  header: string;
  /** Cut in the middle (`~/code/…/app`) when the table is too wide: first to `soft`, at last to `hard`. */
  shrink?: { soft?: number; hard: number };
  /** Left out when the table is too wide, lowest rank first. */
  dropRank?: number;
}

/**
 * The width human output must fit, in terminal columns: `COLUMNS` when set (a positive
 * integer), else the terminal's width when stdout is a TTY, else undefined (no limit: piped
 * or redirected output keeps whole paths for grep and scripts).
 */
export function outputWidth(env: NodeJS.ProcessEnv = process.env, out: { isTTY?: boolean; columns?: number } = process.stdout): number | undefined {
  const fromEnv = Number(env.COLUMNS);
  if (env.COLUMNS && Number.isInteger(fromEnv) && fromEnv > 0) return fromEnv;
  return out.isTTY && out.columns ? out.columns : undefined;
}

/**
 * Plain-text table: left-aligned columns two spaces apart, header first, never wider than
 * `maxWidth` when given. To fit, shrinkable columns are cut in the middle to their soft
 * minimum, then droppable columns are left out (lowest rank first, the shrinkable ones
 * growing back into the room), then shrinkable columns go down to their hard minimum; a
 * terminal narrower than that gets each line cut at its edge.
 */
export function table(columns: Column[], rows: string[][], maxWidth?: number): string {
  const natural = columns.map((c, i) => Math.max(stringWidth(c.header), ...rows.map((r) => stringWidth(r[i] ?? ''))));
  let visible = columns.map((_, i) => i);
  let widths = natural.slice();
  if (maxWidth !== undefined) {
    const fit = (cols: number[], floor: 'soft' | 'hard'): number[] | undefined => {
      const w = natural.slice();
      let over = cols.reduce((sum, i) => sum + (w[i] ?? 0), 0) + 2 * (cols.length - 1) - maxWidth;
      for (const i of cols) {
        const shrink = columns[i]?.shrink;
        if (over <= 0 || !shrink) continue;
        const min = floor === 'soft' ? (shrink.soft ?? natural[i] ?? 0) : shrink.hard;
        const cut = Math.max(0, Math.min(over, (w[i] ?? 0) - min));
        w[i] = (w[i] ?? 0) - cut;
        over -= cut;
      }
      return over <= 0 ? w : undefined;
    };
    const dropOrder = columns
      .map((c, i) => ({ i, rank: c.dropRank }))
      .filter((c): c is { i: number; rank: number } => c.rank !== undefined)
      .sort((a, b) => a.rank - b.rank)
      .map((c) => c.i);
    let fitted = fit(visible, 'soft');
    while (!fitted && dropOrder.length) {
      const dropped = dropOrder.shift();
      visible = visible.filter((i) => i !== dropped);
      fitted = fit(visible, 'soft');
    }
    widths = fitted ?? fit(visible, 'hard') ?? natural.map((n, i) => (columns[i]?.shrink ? columns[i].shrink.hard : n));
  }
  const line = (cells: string[]) =>
    visible
      .map((i) => {
        const w = widths[i] ?? 0;
        const cell = columns[i]?.shrink ? cutMiddle(cells[i] ?? '', w) : (cells[i] ?? '');
        return cell + ' '.repeat(Math.max(0, w - stringWidth(cell)));
      })
      .join('  ')
      .trimEnd();
  const lines = [line(columns.map((c) => c.header)), ...rows.map(line)];
  return (maxWidth === undefined ? lines : lines.map((l) => cutEnd(l, maxWidth))).join('\n');
}

const graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

/**
 * `text` in at most `width` columns, cut in the middle with `…`: about a third kept from the
 * start, the rest from the end (a path's last folder is what users scan for). Cuts fall
 * between graphemes, so an emoji or a CJK character is kept whole or left out, never split.
 */
export function cutMiddle(text: string, width: number): string {
  if (stringWidth(text) <= width) return text;
  if (width < 2) return '…'.slice(0, width);
  const parts = Array.from(graphemes.segment(text), (s) => s.segment);
  let head = '';
  for (const g of parts) {
    if (stringWidth(head + g) > Math.floor((width - 1) / 3)) break;
    head += g;
  }
  let tail = '';
  const room = width - 1 - stringWidth(head);
  for (let k = parts.length - 1; k >= 0; k--) {
    const g = parts[k] ?? '';
    if (stringWidth(g + tail) > room) break;
    tail = g + tail;
  }
  return `${head}…${tail}`;
}

function cutEnd(text: string, width: number): string {
  if (stringWidth(text) <= width) return text;
  let out = '';
  for (const { segment } of graphemes.segment(text)) {
    if (stringWidth(out + segment) > width - 1) break;
    out += segment;
  }
  return `${out}…`;
}

/**
 * `~` for the home dir: shorter, and what users type. On Windows the separator is `\` and the
 * prefix compares without case (WINDOWS.md #29); `home` and `platform` are for tests.
 */
export function homePath(path: string, home: string = homedir(), platform: NodeJS.Platform = process.platform): string {
  const win = platform === 'win32';
  const prefix = home + (win ? '\\' : '/');
  const underHome = home !== '' && (win ? path.toLowerCase().startsWith(prefix.toLowerCase()) : path.startsWith(prefix));
  return underHome ? '~' + path.slice(home.length) : path;
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
