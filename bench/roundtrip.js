/**
 * Section "roundtrip": MCP `ping` and `tools/call` latency (p50, p99) and throughput, with 1
 * and 8 concurrent clients (each with its own connection), through
 *  (a) SDK client -> `exai shim` (stdio) -> daemon (pm2, spawned by `exai spawn`);
 *  (b) SDK client -> the daemon's WebSocket directly;
 *  (b') SDK client -> the daemon's Streamable HTTP endpoint (no shim; a 2025-11-25 session);
 *  (c) SDK client -> a plain stdio SDK server with the same tool (the floor; one server
 *      process per client, as stdio works);
 *  (d) SDK client -> supergateway (stdio -> WebSocket) -> that same stdio server (the peer
 *      bridge; one supergateway and one server shared by all clients, as supergateway works).
 * The four paths run in interleaved rounds, so a noisy moment hurts them alike.
 */
import { exai, makeBenchEnv } from './lib/env.js';
import { OPS, batch, closeAll, connectDaemonHttp, connectDaemonWs, connectFloor, connectShim, connectSupergateway, daemonToken, startSupergateway } from './lib/mcp.js';
import { fmtMs, fmtRatio, markdownTable, ratio, round, summarize } from './lib/stats.js';

export const PATHS = {
  shim: 'client → `exai shim` → daemon',
  ws: 'client → daemon WebSocket',
  http: 'client → daemon Streamable HTTP',
  stdio: 'client → stdio server (floor)',
  supergateway: 'client → supergateway (WS) → stdio server',
};

export async function run({ quick = false, log = () => {} } = {}) {
  const rounds = quick ? 2 : 6;
  // Requests per client per round: 1 client sends more so its p99 rests on enough samples.
  const perRound = { 1: quick ? 60 : 400, 8: quick ? 15 : 80 };
  const e = makeBenchEnv('roundtrip');
  const open = [];
  let gateway;
  try {
    const workspace = e.workspace('rt');
    const spawned = JSON.parse((await exai(['spawn', '--workspace', workspace, '--json', '--no-config'], e.env)).stdout);
    const token = await daemonToken(e.home, spawned.id);
    gateway = await startSupergateway(e.env);

    const connect = {
      shim: () => connectShim(e.env, { port: spawned.port, workspace }),
      ws: () => connectDaemonWs({ port: spawned.port, token }),
      http: () => connectDaemonHttp({ port: spawned.port, token }),
      stdio: () => connectFloor(e.env),
      supergateway: () => connectSupergateway(gateway.port),
    };
    const results = {};
    for (const concurrency of [1, 8]) {
      log(`roundtrip: connecting ${concurrency} client(s) per path`);
      const clients = {};
      for (const [path, make] of Object.entries(connect)) {
        clients[path] = [];
        for (let i = 0; i < concurrency; i++) {
          const client = await make();
          open.push(client);
          clients[path].push(client);
          // What an editor does first; it also primes the client's output-schema validator.
          await client.listTools();
        }
      }
      for (const [opName, op] of Object.entries(OPS)) {
        const acc = Object.fromEntries(Object.keys(connect).map((p) => [p, { latencies: [], wallMs: 0, calls: 0 }]));
        // Warm-up: JIT, socket buffers, the daemon's per-session state.
        for (const path of Object.keys(connect)) await batch(clients[path], op, Math.max(20, perRound[concurrency]));
        for (let r = 0; r < rounds; r++) {
          log(`roundtrip: ${opName} x${concurrency}, round ${r + 1}/${rounds}`);
          const order = Object.keys(connect);
          if (r % 2 === 1) order.reverse();
          for (const path of order) {
            const b = await batch(clients[path], op, perRound[concurrency]);
            acc[path].latencies.push(...b.latencies);
            acc[path].wallMs += b.wallMs;
            acc[path].calls += b.latencies.length;
          }
        }
        for (const [path, a] of Object.entries(acc)) {
          results[`${opName}|${concurrency}|${path}`] = { ...summarize(a.latencies), callsPerSec: round((a.calls / a.wallMs) * 1000, 0) };
        }
      }
      await closeAll(Object.values(clients).flat());
      open.length = 0;
    }

    const rows = [];
    for (const opName of Object.keys(OPS)) {
      for (const concurrency of [1, 8]) {
        const floor = results[`${opName}|${concurrency}|stdio`];
        for (const path of Object.keys(PATHS)) {
          const s = results[`${opName}|${concurrency}|${path}`];
          rows.push([`${opName}, ${concurrency} client${concurrency > 1 ? 's' : ''}: ${PATHS[path]}`, fmtMs(s.p50), fmtMs(s.p99), s.callsPerSec, path === 'stdio' ? '' : fmtRatio(ratio(s.p50, floor.p50))]);
        }
      }
    }
    const shim1 = results['ping|1|shim'];
    const floor1 = results['ping|1|stdio'];
    const sg1 = results['ping|1|supergateway'];
    const http1 = results['ping|1|http'];
    const pingRatio = ratio(shim1.p50, floor1.p50);
    const httpRatio = ratio(http1.p50, floor1.p50);
    return {
      title: 'Round trip',
      note: `Closed loop, ${rounds} interleaved rounds after warm-up; calls/s = all calls / summed batch wall time; the daemon runs under pm2 (\`exai spawn\`). tools/call = \`exai_status\` (same tool shape on the floor server).`,
      table: markdownTable(['round trip (ms)', 'p50', 'p99', 'calls/s', 'p50 / floor'], rows),
      data: { daemonPid: spawned.pid, results, paths: PATHS },
      targets: [
        {
          target: 'ping through shim+daemon p50 <= 2x direct-stdio floor',
          measured: `${fmtMs(shim1.p50)} / ${fmtMs(floor1.p50)} ms = ${fmtRatio(pingRatio)}`,
          met: pingRatio !== null && pingRatio <= 2,
        },
        {
          target: 'ping over the daemon\'s Streamable HTTP p50 vs direct-stdio floor (report)',
          measured: `${fmtMs(http1.p50)} / ${fmtMs(floor1.p50)} ms = ${fmtRatio(httpRatio)}; shim ${fmtMs(shim1.p50)} ms`,
          met: null,
        },
        {
          target: "ping through shim+daemon p50 below supergateway's",
          measured: `${fmtMs(shim1.p50)} vs ${fmtMs(sg1.p50)} ms`,
          met: shim1.p50 < sg1.p50,
        },
      ],
    };
  } finally {
    await closeAll(open);
    await gateway?.close();
    await e.cleanup();
  }
}
