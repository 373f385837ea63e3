/**
 * Section "wake": the first `tools/call` of a client on an idle workspace (its daemon exited
 * after its idle timeout; pm2 warm). Timed from spawning `exai shim` (as an editor does) until
 * the call's answer: the shim finds nothing on the port, starts the daemon through pm2 on the
 * same port, connects, initializes and calls `exai_status`. The floor: `pm2 start
 * --wait-ready` of a bare listener (the pm2 CLI, same pm2) plus one HTTP request to it.
 * Alternating, after a warm-up of each.
 */
import { request } from 'node:http';
import { join } from 'node:path';
import { ROOT, exai, makeBenchEnv, pm2Cli, sleep } from './lib/env.js';
import { connectShim, freePort } from './lib/mcp.js';
import { fmtMs, fmtRatio, markdownTable, ratio, summarize } from './lib/stats.js';

const LISTENER = join(ROOT, 'bench', 'fixtures', 'listener.js');
const IDLE = '1s';

function get(port) {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/health', timeout: 2_000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end();
  });
}

/** Until nothing answers on the port, and a moment more for pm2 to record the exit. */
async function waitIdle(port) {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    try {
      await get(port);
      await sleep(100);
    } catch {
      await sleep(500);
      return;
    }
  }
  throw new Error(`the daemon on port ${port} did not go idle within 60 s`);
}

async function wakeOnce(e, spawned) {
  await waitIdle(spawned.port);
  const started = performance.now();
  const client = await connectShim(e.env, { port: spawned.port, workspace: spawned.workspace });
  try {
    const status = await client.callTool({ name: 'exai_status', arguments: {} });
    const ms = performance.now() - started;
    if (status.structuredContent?.port !== spawned.port) throw new Error(`woke on port ${status.structuredContent?.port}, not ${spawned.port}`);
    return ms;
  } finally {
    await client.close();
  }
}

async function floorOnce(e, i) {
  const port = await freePort();
  const started = performance.now();
  await pm2Cli(['start', LISTENER, '--name', `floor-${i}`, '--wait-ready', '--listen-timeout', '10000'], { ...e.env, PORT: String(port) });
  await get(port);
  const ms = performance.now() - started;
  await pm2Cli(['delete', `floor-${i}`], e.env);
  return ms;
}

export async function run({ quick = false, log = () => {} } = {}) {
  const runs = quick ? 3 : 12;
  const e = makeBenchEnv('wake');
  const samples = { wake: [], floor: [] };
  try {
    const ws = e.workspace('wake');
    const spawned = JSON.parse((await exai(['spawn', '--workspace', ws, '--idle-timeout', IDLE, '--json'], e.env)).stdout);
    // Warm-up: both code paths once (page cache, the daemon's code cache in EXAI_HOME).
    await wakeOnce(e, spawned);
    await floorOnce(e, 'warmup');
    for (let i = 0; i < runs; i++) {
      log(`wake: ${i + 1}/${runs}`);
      const order = i % 2 === 0 ? ['wake', 'floor'] : ['floor', 'wake'];
      for (const which of order) {
        if (which === 'wake') samples.wake.push(await wakeOnce(e, spawned));
        else samples.floor.push(await floorOnce(e, i));
      }
    }
  } finally {
    await e.cleanup();
  }
  const s = { wake: summarize(samples.wake), floor: summarize(samples.floor) };
  const r = ratio(s.wake.p50, s.floor.p50);
  const table = markdownTable(
    ['wake (ms)', 'p50', 'p99', 'n', 'exai / floor (p50)'],
    [
      ['idle workspace: `exai shim` spawned → first `tools/call` answered', fmtMs(s.wake.p50), fmtMs(s.wake.p99), s.wake.n, fmtRatio(r)],
      ['floor: `pm2 start --wait-ready` of a bare listener + one request', fmtMs(s.floor.p50), fmtMs(s.floor.p99), s.floor.n, ''],
    ],
  );
  return {
    title: 'Wake of an idle workspace',
    note: `--idle-timeout ${IDLE}; pm2 warm; wake and floor alternate. The wake includes the shim's own start, pm2 starting the daemon, initialize and the call.`,
    table,
    data: { ms: s, ratio: r },
    targets: [
      {
        target: 'first tools/call on an idle workspace <= 1.3x the floor (p50; issue 22)',
        measured: `${fmtMs(s.wake.p50)} / ${fmtMs(s.floor.p50)} ms = ${fmtRatio(r)}`,
        met: r !== null && r <= 1.3,
      },
    ],
  };
}
