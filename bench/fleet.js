/**
 * Section "fleet": 1, 10 and 50 workspaces on one pm2. Workspaces are spawned one after the
 * other with `exai spawn` (CLI wall time of each: does the Nth spawn get slower?); at each
 * checkpoint, once the daemons sat idle for a moment, the RSS of every daemon (VmRSS from
 * /proc/<pid>/status) and the wall time of `exai list --json`.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { exai, makeBenchEnv, rssBytes, sleep } from './lib/env.js';
import { fmtMB, fmtMs, markdownTable, median, round, summarize } from './lib/stats.js';

/** Idle means: no sessions, no start-up work left; GC has had a moment to shrink the heap. */
const SETTLE_MS = 10_000;

/** Least-squares slope of y over x: ms per additional workspace. */
function slope(xs, ys) {
  const n = xs.length;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i] - mx) * (ys[i] - my);
    den += (xs[i] - mx) ** 2;
  }
  return den ? num / den : NaN;
}

export async function run({ quick = false, log = () => {} } = {}) {
  const checkpoints = quick ? [1, 3, 6] : [1, 10, 50];
  const listRuns = quick ? 3 : 7;
  const e = makeBenchEnv('fleet');
  const spawnMs = [];
  const pids = [];
  const points = [];
  try {
    const last = checkpoints.at(-1);
    for (let n = 1; n <= last; n++) {
      if (n % 10 === 0 || n === 1) log(`fleet: spawning workspace ${n}/${last}`);
      const r = await exai(['spawn', '--workspace', e.workspace(`fleet-${String(n).padStart(2, '0')}`), '--json'], e.env);
      const out = JSON.parse(r.stdout);
      if (out.reused || out.status !== 'online') throw new Error(`fleet: workspace ${n} came back ${out.status}, reused ${out.reused}`);
      spawnMs.push(r.ms);
      pids.push(out.pid);
      if (!checkpoints.includes(n)) continue;

      await sleep(SETTLE_MS);
      const rss = pids.map(rssBytes);
      if (rss.some((x) => x === undefined)) throw new Error('fleet: a daemon died (its /proc entry is gone)');
      await exai(['list', '--json'], e.env); // warm-up
      const listMs = [];
      let rows;
      for (let i = 0; i < listRuns; i++) {
        const l = await exai(['list', '--json'], e.env);
        listMs.push(l.ms);
        rows = JSON.parse(l.stdout);
      }
      const healthy = rows.filter((row) => row.healthy).length;
      let pm2DaemonRss;
      try {
        pm2DaemonRss = rssBytes(Number(readFileSync(join(e.pm2Home, 'pm2.pid'), 'utf8').trim()));
      } catch {
        // pm2's own RSS is context, not a result; without its pid file it is left out.
      }
      points.push({
        workspaces: n,
        healthy,
        rssTotalBytes: rss.reduce((a, b) => a + b, 0),
        rssPerDaemonBytes: { p50: median(rss), min: Math.min(...rss), max: Math.max(...rss) },
        listMs: summarize(listMs),
        spawnNthMs: round(r.ms, 1),
        pm2DaemonRssBytes: pm2DaemonRss ?? null,
      });
    }
  } finally {
    await e.cleanup();
  }

  const xs = spawnMs.map((_, i) => i + 1);
  const growth = {
    slopeMsPerWorkspace: round(slope(xs, spawnMs), 2),
    firstTenP50: round(median(spawnMs.slice(0, 10)), 1),
    lastTenP50: round(median(spawnMs.slice(-10)), 1),
  };
  const rows = points.map((p) => [
    p.workspaces,
    `${p.healthy}/${p.workspaces}`,
    fmtMB(p.rssTotalBytes),
    `${fmtMB(p.rssPerDaemonBytes.p50)} (${fmtMB(p.rssPerDaemonBytes.min)}–${fmtMB(p.rssPerDaemonBytes.max)})`,
    `${fmtMs(p.listMs.p50)} / ${fmtMs(p.listMs.p99)}`,
    fmtMs(p.spawnNthMs),
    fmtMB(p.pm2DaemonRssBytes),
  ]);
  const table =
    markdownTable(['workspaces', 'healthy', 'RSS total (MB)', 'RSS per daemon p50 (min–max) MB', '`exai list` p50 / p99 (ms)', 'spawn of the Nth (ms)', 'pm2 daemon RSS (MB)'], rows) +
    `\n\nspawn time vs N: first 10 p50 ${fmtMs(growth.firstTenP50)} ms, last 10 p50 ${fmtMs(growth.lastTenP50)} ms, slope ${growth.slopeMsPerWorkspace} ms per workspace.`;

  const biggest = points.at(-1);
  const idle = biggest.rssPerDaemonBytes.p50;
  return {
    title: 'Fleet scale',
    note: `Workspaces spawned one by one with \`exai spawn\` (client config written); RSS read ${SETTLE_MS / 1000} s after the Nth spawn, daemons idle (no sessions).`,
    table,
    data: { points, spawnMs: spawnMs.map((x) => round(x, 1)), growth },
    targets: [
      { target: 'idle daemon RSS <= 60 MB (p50 per daemon)', measured: `${fmtMB(idle)} MB (${biggest.workspaces} daemons)`, met: idle <= 60 * 1024 * 1024 },
      {
        target: `\`exai list\` with ${biggest.workspaces} workspaces <= 500 ms (p50; issue 22)`,
        measured: `${fmtMs(biggest.listMs.p50)} ms`,
        met: biggest.listMs.p50 <= 500,
      },
    ],
  };
}
