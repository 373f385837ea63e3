/**
 * Section "shim": the shim's cold start (process start to the first response, i.e. the
 * `initialize` answer) with the daemon up, beside a plain stdio SDK server's. The measuring
 * is bench/shim.js (written with the shim); this only sizes it and shapes its result.
 */
import { fmtMs, fmtRatio, markdownTable } from './lib/stats.js';

export async function run({ quick = false, log = () => {} } = {}) {
  const { benchShim } = await import('./shim.js');
  log('shim: cold starts');
  const r = await benchShim({ coldRuns: quick ? 4 : 20, pings: quick ? 100 : 500 });
  const row = (name, s, extra = '') => [name, fmtMs(s.median), fmtMs(s.p99), s.n, extra];
  const table = markdownTable(
    ['shim (ms)', 'p50', 'p99', 'n', 'ratio to floor (p50)'],
    [
      row('cold start to first response: `exai shim` (daemon up)', r.coldStartMs.shim, fmtRatio(r.ratio.coldStartMedian)),
      row('cold start to first response: plain stdio SDK server (floor)', r.coldStartMs.floor),
      row('ping, 1 client: client → shim → daemon', r.pingMs.shim, fmtRatio(r.ratio.pingMedian)),
      row('ping, 1 client: client → daemon WebSocket', r.pingMs.directWebSocket),
      row('ping, 1 client: plain stdio SDK server (floor)', r.pingMs.floor),
    ],
  );
  return {
    title: 'Shim cold start',
    note: 'bench/shim.js: the daemon is a plain child process (no pm2); cold start = spawn of the process until the SDK client\'s initialize is answered.',
    table,
    data: { ms: { coldStart: r.coldStartMs, ping: r.pingMs }, ratios: r.ratio },
    targets: [],
  };
}
