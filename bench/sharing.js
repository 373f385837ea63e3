/**
 * Section "sharing": one workspace, 4 sessions, 2 upstream servers (server-everything and
 * server-filesystem). Through exai: 4 shims, one daemon, one of each server (what the daemon
 * runs under pm2, process tree and all). Without exai, as editors do: each of the 4 sessions
 * launches both servers itself. Each side runs alone, warmed by one list and one call per
 * server and session, then measured: processes, RSS and PSS (/proc/<pid>/smaps_rollup, which
 * counts shared pages once). pm2's own daemon is not counted (it runs either way, for every
 * workspace); its size is reported beside. Also over Streamable HTTP: the same 4 sessions as
 * HTTP clients of a fresh daemon, no shims (the clients live in the editor's own process, so
 * only the daemon and the servers count).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { exai, makeBenchEnv, sleep } from './lib/env.js';
import { closeAll, connectDaemonHttp, connectShim, connectStdio, daemonToken, EVERYTHING } from './lib/mcp.js';
import { descendants, memoryOf, totalMemory } from './lib/mem.js';
import { fmtMB, fmtRatio, markdownTable, ratio } from './lib/stats.js';

export const FILESYSTEM = EVERYTHING.replace('server-everything', 'server-filesystem');
const SESSIONS = 4;
/** Long enough for the start-up garbage to be collected and the heaps to settle. */
const SETTLE_MS = 5_000;

const pidOf = (client) => client.transport?.pid;

async function exercise(client, names) {
  await client.listTools();
  await client.callTool({ name: names.echo, arguments: { message: 'hi' } });
  await client.callTool({ name: names.dirs, arguments: {} });
}

export async function run({ quick = false, log = () => {} } = {}) {
  const sessions = quick ? 2 : SESSIONS;
  const e = makeBenchEnv('sharing');
  const result = {};
  try {
    const ws = e.workspace('shared');
    mkdirSync(join(ws, '.exai'), { recursive: true });
    const servers = {
      ev: { command: process.execPath, args: [EVERYTHING, 'stdio'] },
      fs: { command: process.execPath, args: [FILESYSTEM, ws] },
    };
    writeFileSync(join(ws, '.exai', 'servers.json'), JSON.stringify({ servers }));

    log(`sharing: ${sessions} sessions through exai`);
    const spawned = JSON.parse((await exai(['spawn', '--workspace', ws, '--json'], e.env)).stdout);
    const shims = [];
    try {
      for (let i = 0; i < sessions; i++) shims.push(await connectShim(e.env, { port: spawned.port, workspace: ws }));
      for (const c of shims) await exercise(c, { echo: 'ev__echo', dirs: 'fs__list_allowed_directories' });
      await sleep(SETTLE_MS);
      const shimPids = shims.map(pidOf);
      const upstreamPids = descendants(spawned.pid);
      result.exai = {
        total: totalMemory([...shimPids, spawned.pid, ...upstreamPids]),
        shims: totalMemory(shimPids),
        daemon: totalMemory([spawned.pid]),
        upstreams: totalMemory(upstreamPids),
      };
      const pm2Pid = Number(readFileSync(join(e.pm2Home, 'pm2.pid'), 'utf8').trim());
      result.pm2 = memoryOf(pm2Pid) ?? null;
    } finally {
      await closeAll(shims);
    }
    await exai(['stop', '--workspace', ws], e.env);

    log(`sharing: ${sessions} HTTP sessions through exai, no shims`);
    const again = JSON.parse((await exai(['spawn', '--workspace', ws, '--json'], e.env)).stdout);
    const httpClients = [];
    try {
      const token = await daemonToken(e.home, again.id);
      for (let i = 0; i < sessions; i++) httpClients.push(await connectDaemonHttp({ port: again.port, token }));
      for (const c of httpClients) await exercise(c, { echo: 'ev__echo', dirs: 'fs__list_allowed_directories' });
      await sleep(SETTLE_MS);
      const upstreamPids = descendants(again.pid);
      result.http = {
        total: totalMemory([again.pid, ...upstreamPids]),
        daemon: totalMemory([again.pid]),
        upstreams: totalMemory(upstreamPids),
      };
    } finally {
      await closeAll(httpClients);
    }
    await exai(['stop', '--workspace', ws], e.env);

    log(`sharing: ${sessions} sessions, each launching both servers`);
    const direct = [];
    try {
      for (let i = 0; i < sessions; i++) {
        const ev = await connectStdio(process.execPath, [EVERYTHING, 'stdio'], e.env);
        const fs = await connectStdio(process.execPath, [FILESYSTEM, ws], e.env);
        direct.push({ ev, fs });
      }
      for (const { ev, fs } of direct) {
        await ev.listTools();
        await ev.callTool({ name: 'echo', arguments: { message: 'hi' } });
        await fs.listTools();
        await fs.callTool({ name: 'list_allowed_directories', arguments: {} });
      }
      await sleep(SETTLE_MS);
      const pids = direct.flatMap(({ ev, fs }) => [pidOf(ev), pidOf(fs), ...descendants(pidOf(ev)), ...descendants(pidOf(fs))]);
      result.direct = { total: totalMemory(pids) };
    } finally {
      await closeAll(direct.flatMap(({ ev, fs }) => [ev, fs]));
    }
  } finally {
    await e.cleanup();
  }

  const x = result.exai;
  const d = result.direct.total;
  const ratios = { rss: ratio(x.total.rss, d.rss), pss: ratio(x.total.pss, d.pss), processes: ratio(x.total.processes, d.processes) };
  const h = result.http;
  const httpRatios = { rss: ratio(h.total.rss, d.rss), pss: ratio(h.total.pss, d.pss) };
  const row = (name, m, r = '') => [name, m.processes, fmtMB(m.rss), fmtMB(m.pss), r];
  const table =
    markdownTable(
      ['4 sessions × 2 servers', 'processes', 'RSS (MB)', 'PSS (MB)', 'exai / direct (RSS, PSS)'],
      [
        row('through exai: total', x.total, `${fmtRatio(ratios.rss)}, ${fmtRatio(ratios.pss)}`),
        row('  shims', x.shims),
        row('  daemon', x.daemon),
        row('  upstream servers (process trees)', x.upstreams),
        row('through exai over Streamable HTTP (no shims): total', h.total, `${fmtRatio(httpRatios.rss)}, ${fmtRatio(httpRatios.pss)}`),
        row('  daemon', h.daemon),
        row('  upstream servers (process trees)', h.upstreams),
        row('each session launching both servers', d),
      ],
    ) +
    `\n\nOne shim: RSS ${fmtMB(x.shims.rss / sessions)} MB, PSS ${fmtMB(x.shims.pss / sessions)} MB.` +
    (result.pm2 ? ` pm2's own daemon, not counted: RSS ${fmtMB(result.pm2.rss)} MB, PSS ${fmtMB(result.pm2.pss)} MB.` : '');
  return {
    title: 'Sharing: 4 sessions, 2 upstream servers',
    note: `One workspace; each side measured alone, ${SETTLE_MS / 1000} s after one list and one call per server and session.`,
    table,
    data: { sessions, bytes: result, ratios, httpRatios, perShim: { rss: x.shims.rss / sessions, pss: x.shims.pss / sessions } },
    targets: [
      {
        target: `${sessions} sessions × 2 servers through exai <= 0.5x the PSS of each session launching its own`,
        measured: `${fmtMB(x.total.pss)} / ${fmtMB(d.pss)} MB = ${fmtRatio(ratios.pss)} (RSS ${fmtRatio(ratios.rss)})`,
        met: ratios.pss !== null && ratios.pss <= 0.5,
      },
      {
        target: `${sessions} HTTP sessions × 2 servers through exai (no shims) <= 0.4x the PSS of each session launching its own`,
        measured: `${fmtMB(h.total.pss)} / ${fmtMB(d.pss)} MB = ${fmtRatio(httpRatios.pss)} (RSS ${fmtRatio(httpRatios.rss)})`,
        met: httpRatios.pss !== null && httpRatios.pss <= 0.4,
      },
    ],
  };
}
