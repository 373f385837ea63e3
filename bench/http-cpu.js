/**
 * Section "httpcpu" (issue 23): where the CPU of one request goes, per path, with real SDK
 * clients: the client's (this process, process.cpuUsage), the daemon's and the upstream
 * server's (/proc/<pid>/stat), per call, next to the p50 latency. On a busy machine latency
 * moves with the load; CPU per request much less, so this says which side to work on.
 * Paths: server-everything `echo` and MCP `ping` through the daemon over Streamable HTTP (the
 * v1 client, a 2025-11-25 session; the SDK v2 client pinned to 2026-07-28, whose `echo` only),
 * over the daemon's WebSocket (exai's client transport), and direct stdio to server-everything
 * (the floor: client and server only).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client as ClientV2, StreamableHTTPClientTransport as HttpV2 } from '@modelcontextprotocol/client';
import { exai, makeBenchEnv } from './lib/env.js';
import { EVERYTHING, batch, closeAll, connectDaemonHttp, connectDaemonWs, connectStdio, daemonToken } from './lib/mcp.js';
import { descendants } from './lib/mem.js';
import { fmtMs, markdownTable, round, summarize } from './lib/stats.js';

/** Clock ticks per second of /proc/<pid>/stat (USER_HZ: 100 on Linux). */
const HZ = 100;

/** utime + stime of a process, ms. */
function cpuOf(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / HZ;
  } catch {
    return 0;
  }
}
const cpuOfAll = (pids) => pids.reduce((sum, pid) => sum + cpuOf(pid), 0);
const selfCpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

async function connectHttpV2({ port, token }) {
  const client = new ClientV2({ name: 'bench-v2-http', version: '0' }, { versionNegotiation: { mode: { pin: '2026-07-28' } } });
  await client.connect(new HttpV2(new URL(`http://127.0.0.1:${port}/mcp`), { requestInit: { headers: { Authorization: `Bearer ${token}` } } }));
  return client;
}

export async function run({ quick = false, log = () => {} } = {}) {
  const calls = quick ? 200 : 2000;
  const rounds = quick ? 1 : 3;
  const e = makeBenchEnv('httpcpu');
  const open = [];
  try {
    const workspace = e.workspace('cpu');
    mkdirSync(join(workspace, '.exai'), { recursive: true });
    writeFileSync(join(workspace, '.exai', 'servers.json'), JSON.stringify({ servers: { everything: { command: process.execPath, args: [EVERYTHING, 'stdio'] } } }));
    const spawned = JSON.parse((await exai(['spawn', '--workspace', workspace, '--json', '--no-config'], e.env)).stdout);
    const token = await daemonToken(e.home, spawned.id);
    const upstreams = descendants(spawned.pid);
    const echo = (name) => (c) => c.callTool({ name, arguments: { message: 'hello from bench' } });
    const clients = {
      httpV1: await connectDaemonHttp({ port: spawned.port, token }),
      httpV2: await connectHttpV2({ port: spawned.port, token }),
      ws: await connectDaemonWs({ port: spawned.port, token }),
      stdio: await connectStdio(process.execPath, [EVERYTHING, 'stdio'], e.env),
    };
    open.push(...Object.values(clients));
    const stdioPid = clients.stdio.transport.pid;
    const paths = {
      'echo, HTTP 2025 (v1 client)': { client: clients.httpV1, op: echo('everything__echo'), daemon: true },
      'echo, HTTP 2026-07-28 (v2 client)': { client: clients.httpV2, op: echo('everything__echo'), daemon: true },
      'echo, WebSocket (v1 client)': { client: clients.ws, op: echo('everything__echo'), daemon: true },
      'echo, direct stdio (v1 client)': { client: clients.stdio, op: echo('echo'), daemon: false },
      'ping, HTTP 2025 (v1 client)': { client: clients.httpV1, op: (c) => c.ping(), daemon: true },
      'ping, WebSocket (v1 client)': { client: clients.ws, op: (c) => c.ping(), daemon: true },
      'ping, direct stdio (v1 client)': { client: clients.stdio, op: (c) => c.ping(), daemon: false },
    };
    const acc = Object.fromEntries(Object.keys(paths).map((p) => [p, { latencies: [], client: 0, daemon: 0, server: 0, calls: 0 }]));
    for (const { client, op } of Object.values(paths)) await batch([client], op, Math.min(500, calls));
    for (let r = 0; r < rounds; r++) {
      const order = Object.keys(paths);
      if (r % 2 === 1) order.reverse();
      for (const name of order) {
        log(`httpcpu: ${name}, round ${r + 1}/${rounds}`);
        const { client, op, daemon } = paths[name];
        const serverPids = daemon ? upstreams : [stdioPid];
        const before = { client: selfCpu(), daemon: daemon ? cpuOf(spawned.pid) : 0, server: cpuOfAll(serverPids) };
        const b = await batch([client], op, calls);
        const a = acc[name];
        a.client += selfCpu() - before.client;
        a.daemon += daemon ? cpuOf(spawned.pid) - before.daemon : 0;
        a.server += cpuOfAll(serverPids) - before.server;
        a.latencies.push(...b.latencies);
        a.calls += b.latencies.length;
      }
    }
    const per = (ms, n) => round(ms / n, 3);
    const results = Object.fromEntries(
      Object.entries(acc).map(([name, a]) => [name, { p50: summarize(a.latencies).p50, client: per(a.client, a.calls), daemon: paths[name].daemon ? per(a.daemon, a.calls) : null, server: per(a.server, a.calls) }]),
    );
    const rows = Object.entries(results).map(([name, r]) => [name, fmtMs(r.p50), r.client.toFixed(3), r.daemon === null ? '–' : r.daemon.toFixed(3), r.server.toFixed(3)]);
    return {
      title: 'CPU per request (HTTP, WebSocket, stdio)',
      note: `${rounds} interleaved rounds of ${calls} closed-loop calls per path, 1 client; CPU ms per call: the client (this process), the daemon (pm2), the upstream server (or the stdio server). /proc counts in 10 ms ticks: ± ${round(10 / calls, 3)} ms per call per round.`,
      table: markdownTable(['path', 'p50 (ms)', 'client CPU (ms)', 'daemon CPU (ms)', 'server CPU (ms)'], rows),
      data: { results },
      targets: [],
    };
  } finally {
    await closeAll(open);
    await e.cleanup();
  }
}
