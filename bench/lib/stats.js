/** Percentiles (nearest rank), ratios and markdown tables: one way of counting for every section. */

export function percentile(sorted, q) {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

/** Latency summary in ms: p50 (median) and p99 over the samples, plus n, min and max. */
export function summarize(samples) {
  const sorted = [...samples].sort((a, b) => a - b);
  return {
    n: sorted.length,
    p50: round(percentile(sorted, 0.5), 3),
    p99: round(percentile(sorted, 0.99), 3),
    min: round(sorted[0] ?? NaN, 3),
    max: round(sorted.at(-1) ?? NaN, 3),
  };
}

export function median(samples) {
  return percentile([...samples].sort((a, b) => a - b), 0.5);
}

export function round(x, digits = 2) {
  if (!Number.isFinite(x)) return x;
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

export function ratio(a, b) {
  return Number.isFinite(a) && Number.isFinite(b) && b > 0 ? round(a / b, 2) : null;
}

export function fmtMs(x) {
  if (x === null || x === undefined || !Number.isFinite(x)) return 'n/a';
  if (x >= 100) return `${Math.round(x)}`;
  if (x >= 10) return x.toFixed(1);
  if (x >= 1) return x.toFixed(2);
  return x.toFixed(3);
}

export function fmtMB(bytes) {
  if (bytes === null || bytes === undefined || !Number.isFinite(bytes)) return 'n/a';
  return (bytes / 1024 / 1024).toFixed(1);
}

export function fmtRatio(r) {
  return r === null || r === undefined ? 'n/a' : `${r.toFixed(2)}x`;
}

export function markdownTable(headers, rows) {
  const align = headers.map((h, i) => (i === 0 ? '---' : '---:'));
  const line = (cells) => `| ${cells.map((c) => String(c ?? '').replace(/\|/g, '\\|')).join(' | ')} |`;
  return [line(headers), line(align), ...rows.map(line)].join('\n');
}
