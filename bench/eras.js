/**
 * Section "eras" (issue 20): an echo through exai for each cell of client era × server era,
 * next to the same call over direct stdio. Clients: the v1 SDK client (2025-11-25) and the SDK v2
 * client pinned to 2026-07-28, both through `exai shim`; servers: server-everything (2025-11-25)
 * and test/fixtures/era-server.mjs (SDK v2, 2026-07-28 only). The floor of a cell is the same
 * client era's direct call to the same server (a 2026-07-28 client cannot call server-everything
 * directly: its floor is the v1 client's). Beside them, the v1 client's echo through two bare byte
 * relays (bench/fixtures/bare-relay.js): what a shim and a daemon cost as two more Node processes
 * on the path, before they parse or route anything: the floor of any relay built like exai's; and
 * through two that parse each message and map request ids (`--parse`), the least a relay that
 * routes and multiplexes does, with NDJSON instead of exai's WebSocket between them.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client as ClientV2 } from '@modelcontextprotocol/client';
import { StdioClientTransport as StdioV2 } from '@modelcontextprotocol/client/stdio';
import { CLI, ROOT, exai, makeBenchEnv } from './lib/env.js';
import { EVERYTHING, batch, closeAll, connectShim, connectStdio, startBareRelay } from './lib/mcp.js';
import { fmtMs, fmtRatio, markdownTable, ratio, round, summarize } from './lib/stats.js';

const ERA_SERVER = join(ROOT, 'test', 'fixtures', 'era-server.mjs');

async function connectV2(command, args, env, cwd) {
  const client = new ClientV2({ name: 'bench-v2', version: '0' }, { versionNegotiation: { mode: { pin: '2026-07-28' } } });
  const stringEnv = Object.fromEntries(Object.entries(env).filter(([, v]) => typeof v === 'string'));
  await client.connect(new StdioV2({ command, args, env: stringEnv, cwd, stderr: 'ignore' }));
  return client;
}

export async function run({ quick = false, log = () => {} } = {}) {
  const rounds = quick ? 2 : 3;
  const perRound = quick ? 50 : 200;
  const warmup = quick ? 50 : 1000;
  const e = makeBenchEnv('eras');
  const open = [];
  let bareDaemon;
  let parsingDaemon;
  try {
    const workspace = e.workspace('eras');
    mkdirSync(join(workspace, '.exai'), { recursive: true });
    writeFileSync(
      join(workspace, '.exai', 'servers.json'),
      JSON.stringify({ servers: { everything: { command: process.execPath, args: [EVERYTHING, 'stdio'] }, modern: { command: process.execPath, args: [ERA_SERVER, '--modern-only'] } } }, null, 2),
    );
    const spawned = JSON.parse((await exai(['spawn', '--workspace', workspace, '--json', '--no-config'], e.env)).stdout);
    const shimEnv = { ...e.env, EXAI_WS_PORT: String(spawned.port), EXAI_WORKSPACE: workspace };
    const v1 = await connectShim(e.env, { port: spawned.port, workspace });
    const v2 = await connectV2(process.execPath, [CLI, 'shim'], shimEnv, workspace);
    const v1Everything = await connectStdio(process.execPath, [EVERYTHING, 'stdio'], e.env);
    const v2Modern = await connectV2(process.execPath, [ERA_SERVER, '--modern-only'], e.env, ROOT);
    const bare = await startBareRelay();
    bareDaemon = bare.child;
    const v1Bare = await connectStdio(process.execPath, bare.shimArgs, e.env);
    const parsing = await startBareRelay({ parse: true });
    parsingDaemon = parsing.child;
    const v1Parsing = await connectStdio(process.execPath, parsing.shimArgs, e.env);
    open.push(v1, v2, v1Everything, v2Modern, v1Bare, v1Parsing);
    for (const c of [v1, v2]) await c.listTools();
    log('eras: connected');
    const echoEverything = (c, name) => c.callTool({ name, arguments: { message: 'hello from bench' } });
    const echoModern = (c, name) => c.callTool({ name, arguments: { text: 'hello from bench' } });
    const paths = {
      '2025 → 2025': { client: v1, op: (c) => echoEverything(c, 'everything__echo'), floor: 'v1 everything' },
      '2025 → 2026': { client: v1, op: (c) => echoModern(c, 'modern__echo'), floor: 'v2 modern' },
      '2026 → 2025': { client: v2, op: (c) => echoEverything(c, 'everything__echo'), floor: 'v1 everything' },
      '2026 → 2026': { client: v2, op: (c) => echoModern(c, 'modern__echo'), floor: 'v2 modern' },
      'v1 everything': { client: v1Everything, op: (c) => echoEverything(c, 'echo') },
      'v2 modern': { client: v2Modern, op: (c) => echoModern(c, 'echo') },
      'v1 everything, two bare relays': { client: v1Bare, op: (c) => echoEverything(c, 'echo') },
      'v1 everything, two parsing relays': { client: v1Parsing, op: (c) => echoEverything(c, 'echo') },
    };
    const acc = Object.fromEntries(Object.keys(paths).map((p) => [p, { latencies: [], wallMs: 0, calls: 0 }]));
    for (const { client, op } of Object.values(paths)) await batch([client], op, warmup);
    for (let r = 0; r < rounds; r++) {
      log(`eras: round ${r + 1}/${rounds}`);
      const order = Object.keys(paths);
      if (r % 2 === 1) order.reverse();
      for (const p of order) {
        const b = await batch([paths[p].client], paths[p].op, perRound);
        acc[p].latencies.push(...b.latencies);
        acc[p].wallMs += b.wallMs;
        acc[p].calls += b.latencies.length;
      }
    }
    const results = Object.fromEntries(Object.entries(acc).map(([p, a]) => [p, { ...summarize(a.latencies), callsPerSec: round((a.calls / a.wallMs) * 1000, 0) }]));
    const cells = ['2025 → 2025', '2025 → 2026', '2026 → 2025', '2026 → 2026'];
    const table = markdownTable(
      ['echo, client era → server era, 1 client (ms)', 'p50', 'p99', 'calls/s', 'direct p50', 'p50 / direct'],
      [
        ...cells.map((c) => {
          const s = results[c];
          const floor = results[paths[c].floor];
          return [`${c} through \`exai shim\``, fmtMs(s.p50), fmtMs(s.p99), s.callsPerSec, `${fmtMs(floor.p50)} (${paths[c].floor})`, fmtRatio(ratio(s.p50, floor.p50))];
        }),
        ...[
          ['v1 everything, two bare relays', '2025 → 2025 through two bare byte relays (the floor of any shim + daemon)'],
          ['v1 everything, two parsing relays', '2025 → 2025 through two relays that parse each message and map ids (NDJSON over TCP, no WebSocket)'],
        ].map(([path, label]) => {
          const s = results[path];
          const floor = results['v1 everything'];
          return [label, fmtMs(s.p50), fmtMs(s.p99), s.callsPerSec, `${fmtMs(floor.p50)} (v1 everything)`, fmtRatio(ratio(s.p50, floor.p50))];
        }),
      ],
    );
    return {
      title: 'Eras',
      note: `${rounds} interleaved rounds of ${perRound} calls after ${warmup} warm-up calls per path. Direct: the v1 client to server-everything, the v2 client pinned to 2026-07-28 to the 2026-only fixture.`,
      table,
      data: { results },
      targets: [
        ...cells.map((c) => {
          const r = ratio(results[c].p50, results[paths[c].floor].p50);
          return { target: `echo ${c} through exai p50 <= 2x direct stdio`, measured: fmtRatio(r), met: r <= 2 };
        }),
        {
          target: 'echo 2025 → 2025 through two bare byte relays vs direct stdio (report: the floor of the 2x targets)',
          measured: fmtRatio(ratio(results['v1 everything, two bare relays'].p50, results['v1 everything'].p50)),
          met: null,
        },
        {
          target: 'echo 2025 → 2025 through two relays that parse each message vs direct stdio (report: the floor of a routing relay)',
          measured: fmtRatio(ratio(results['v1 everything, two parsing relays'].p50, results['v1 everything'].p50)),
          met: null,
        },
      ],
    };
  } finally {
    await closeAll(open);
    bareDaemon?.kill();
    parsingDaemon?.kill();
    await e.cleanup();
  }
}
