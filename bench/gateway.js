/**
 * Section "gateway": server-everything's `echo` through exai (SDK client -> `exai shim` ->
 * daemon -> upstream, declared in `<workspace>/.exai/servers.json`) and through the daemon's
 * WebSocket and its Streamable HTTP endpoint without the shim, beside the same server over direct stdio (the floor).
 * When the daemon does not serve `everything__echo` (gateway not there yet), the exai rows
 * say "not available" and the floor is still measured.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { exai, makeBenchEnv, sleep } from './lib/env.js';
import { EVERYTHING, batch, closeAll, connectDaemonHttp, connectDaemonWs, connectShim, connectStdio, daemonToken } from './lib/mcp.js';
import { fmtMs, fmtRatio, markdownTable, ratio, round, summarize } from './lib/stats.js';

const PREFIXED = 'everything__echo';

async function waitForTool(client, name, timeoutMs) {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const { tools } = await client.listTools();
    if (tools.some((t) => t.name === name)) return true;
    if (performance.now() > deadline) return false;
    await sleep(250);
  }
}

export async function run({ quick = false, log = () => {} } = {}) {
  const rounds = quick ? 2 : 5;
  const perRound = quick ? 50 : 200;
  const warmup = quick ? 50 : 2000;
  const e = makeBenchEnv('gateway');
  const open = [];
  try {
    const workspace = e.workspace('gw');
    mkdirSync(join(workspace, '.exai'), { recursive: true });
    writeFileSync(
      join(workspace, '.exai', 'servers.json'),
      JSON.stringify({ servers: { everything: { command: process.execPath, args: [EVERYTHING, 'stdio'] } } }, null, 2),
    );
    const spawned = JSON.parse((await exai(['spawn', '--workspace', workspace, '--json', '--no-config'], e.env)).stdout);
    const token = await daemonToken(e.home, spawned.id);

    const paths = {};
    const shim = await connectShim(e.env, { port: spawned.port, workspace });
    open.push(shim);
    log('gateway: waiting for everything__echo in tools/list');
    const available = await waitForTool(shim, PREFIXED, quick ? 10_000 : 30_000);
    if (available) {
      const ws = await connectDaemonWs({ port: spawned.port, token });
      open.push(ws);
      await ws.listTools();
      paths.shim = { client: shim, tool: PREFIXED };
      paths.ws = { client: ws, tool: PREFIXED };
      const http = await connectDaemonHttp({ port: spawned.port, token });
      open.push(http);
      await http.listTools();
      paths.http = { client: http, tool: PREFIXED };
    }
    const direct = await connectStdio(process.execPath, [EVERYTHING, 'stdio'], e.env);
    open.push(direct);
    await direct.listTools();
    paths.stdio = { client: direct, tool: 'echo' };

    const acc = Object.fromEntries(Object.keys(paths).map((p) => [p, { latencies: [], wallMs: 0, calls: 0 }]));
    const ops = Object.fromEntries(
      Object.entries(paths).map(([p, { tool }]) => [p, (c) => c.callTool({ name: tool, arguments: { message: 'hello from bench' } })]),
    );
    // A daemon lives for hours: measure its steady state, after the JIT has compiled the hot path
    // (a few hundred calls leave it half-warm, which favours nobody but moves from run to run).
    for (const [p, { client }] of Object.entries(paths)) await batch([client], ops[p], warmup);
    for (let r = 0; r < rounds; r++) {
      log(`gateway: round ${r + 1}/${rounds}`);
      const order = Object.keys(paths);
      if (r % 2 === 1) order.reverse();
      for (const p of order) {
        const b = await batch([paths[p].client], ops[p], perRound);
        acc[p].latencies.push(...b.latencies);
        acc[p].wallMs += b.wallMs;
        acc[p].calls += b.latencies.length;
      }
    }
    const results = Object.fromEntries(
      Object.entries(acc).map(([p, a]) => [p, { ...summarize(a.latencies), callsPerSec: round((a.calls / a.wallMs) * 1000, 0) }]),
    );
    const floor = results.stdio;
    const row = (name, s) =>
      s ? [name, fmtMs(s.p50), fmtMs(s.p99), s.callsPerSec, s === floor ? '' : fmtRatio(ratio(s.p50, floor.p50))] : [name, 'not available', '', '', ''];
    const table = markdownTable(
      ['`echo` of server-everything, 1 client (ms)', 'p50', 'p99', 'calls/s', 'p50 / floor'],
      [
        row('client → `exai shim` → daemon → upstream', results.shim),
        row('client → daemon WebSocket → upstream', results.ws),
        row('client → daemon Streamable HTTP → upstream (no shim)', results.http),
        row('client → server-everything over stdio (floor)', floor),
      ],
    );
    const echoRatio = results.shim ? ratio(results.shim.p50, floor.p50) : null;
    const httpRatio = results.http ? ratio(results.http.p50, floor.p50) : null;
    return {
      title: 'Gateway',
      note: available
        ? `${rounds} interleaved rounds of ${perRound} calls after warm-up.`
        : `\`${PREFIXED}\` did not show up in the daemon's tools/list: the gateway rows are not available in this build.`,
      table,
      data: { available, results },
      targets: [
        {
          target: 'server-everything echo through shim+daemon p50 <= 2.5x direct stdio',
          measured: results.shim ? `${fmtMs(results.shim.p50)} / ${fmtMs(floor.p50)} ms = ${fmtRatio(echoRatio)}` : 'not available',
          met: echoRatio === null ? null : echoRatio <= 2.5,
        },
        {
          target: 'server-everything echo over the daemon\'s Streamable HTTP p50 <= 1.5x direct stdio',
          measured: results.http ? `${fmtMs(results.http.p50)} / ${fmtMs(floor.p50)} ms = ${fmtRatio(httpRatio)}` : 'not available',
          met: httpRatio === null ? null : httpRatio <= 1.5,
        },
      ],
    };
  } finally {
    await closeAll(open);
    await e.cleanup();
  }
}
