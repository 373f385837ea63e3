#!/usr/bin/env node
/**
 * bench/shim: what the shim costs the editor.
 *
 *  - cold start: spawning `exai shim` until the first response (initialize) arrives, with the
 *    daemon already running; next to it, the same for a plain stdio SDK server.
 *  - ping round trip: MCP `ping` through shim + daemon, through a direct WebSocket to the
 *    daemon (no shim), and to a plain stdio SDK server (the floor: what stdio MCP costs anyway).
 *
 * Run after `npm run build`: `node bench/shim.js [--cold 10] [--pings 1000] [--json]`.
 * Prints a markdown table and the JSON (or only the JSON with --json); `benchShim()` returns it.
 * Everything lives in a temp EXAI_HOME; the daemon is a plain child process (no pm2 needed).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, realpathSync, rmSync, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { freePort } from './lib/mcp.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CLI = join(ROOT, 'dist', 'cli', 'main.js');

/** The floor: the smallest stdio MCP server the SDK makes (it answers ping by itself). */
const FLOOR_SERVER = `
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
const server = new Server({ name: 'floor', version: '1.0.0' }, { capabilities: { tools: {} } });
await server.connect(new StdioServerTransport());
`;


async function startDaemon(env) {
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const child = spawn(process.execPath, [CLI, 'daemon'], {
      env: { ...env, EXAI_WS_PORT: String(port) },
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
    const outcome = await new Promise((resolve) => {
      child.on('message', (m) => m === 'ready' && resolve('ready'));
      child.on('exit', (code) => resolve(code));
    });
    if (outcome === 'ready') return { child, port };
    if (attempt >= 3) throw new Error(`exai daemon did not start (exit ${outcome}): ${stderr}`);
  }
}

function stringEnv(env) {
  return Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined));
}

async function connectStdio(command, args, env) {
  const transport = new StdioClientTransport({ command, args, env: stringEnv(env), cwd: ROOT, stderr: 'ignore' });
  const client = new Client({ name: 'bench', version: '1.0.0' });
  await client.connect(transport);
  return client;
}

async function timeColdStarts(runs, connect) {
  const samples = [];
  for (let i = 0; i < runs; i++) {
    const started = performance.now();
    const client = await connect();
    samples.push(performance.now() - started);
    await client.close();
  }
  return samples;
}

async function timePings(client, count) {
  for (let i = 0; i < Math.min(100, count); i++) await client.ping();
  const samples = [];
  for (let i = 0; i < count; i++) {
    const started = performance.now();
    await client.ping();
    samples.push(performance.now() - started);
  }
  return samples;
}

function stats(samples) {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
  const round = (x) => Math.round(x * 1000) / 1000;
  return { n: sorted.length, median: round(at(0.5)), p99: round(at(0.99)), min: round(sorted[0]), max: round(sorted.at(-1)) };
}

export async function benchShim({ coldRuns = 10, pings = 1000 } = {}) {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), 'exai-bench-shim-')));
  const workspace = join(dir, 'workspace');
  mkdirSync(workspace);
  const env = {
    ...process.env,
    EXAI_HOME: join(dir, 'home'),
    // Self-start never triggers here (the daemon is up), but keep pm2 away from the user's ~/.pm2.
    PM2_HOME: join(dir, 'pm2'),
    EXAI_WORKSPACE: workspace,
  };
  const daemon = await startDaemon(env);
  const shimEnv = { ...env, EXAI_WS_PORT: String(daemon.port) };
  const clients = [];
  try {
    const shimCold = await timeColdStarts(coldRuns, () => connectStdio(process.execPath, [CLI, 'shim'], shimEnv));
    const floorCold = await timeColdStarts(coldRuns, () =>
      connectStdio(process.execPath, ['--input-type=module', '-e', FLOOR_SERVER], env),
    );

    const viaShim = await connectStdio(process.execPath, [CLI, 'shim'], shimEnv);
    clients.push(viaShim);
    const floor = await connectStdio(process.execPath, ['--input-type=module', '-e', FLOOR_SERVER], env);
    clients.push(floor);
    const { WebSocketClientTransport } = await import(join(ROOT, 'dist', 'transport', 'ws-client.js'));
    const { readToken } = await import(join(ROOT, 'dist', 'workspace', 'token.js'));
    const { resolveWorkspace } = await import(join(ROOT, 'dist', 'workspace', 'identity.js'));
    const token = readToken(env.EXAI_HOME, resolveWorkspace(workspace).id);
    const direct = new Client({ name: 'bench-ws', version: '1.0.0' });
    await direct.connect(new WebSocketClientTransport({ port: daemon.port, token }));
    clients.push(direct);

    // Interleaved rounds, so a noisy moment on the machine hurts every path alike.
    const pingShim = [];
    const pingWs = [];
    const pingFloor = [];
    const rounds = 5;
    const per = Math.ceil(pings / rounds);
    for (let r = 0; r < rounds; r++) {
      pingShim.push(...(await timePings(viaShim, per)));
      pingWs.push(...(await timePings(direct, per)));
      pingFloor.push(...(await timePings(floor, per)));
    }

    const result = {
      node: process.version,
      coldStartMs: { shim: stats(shimCold), floor: stats(floorCold) },
      pingMs: { shim: stats(pingShim), directWebSocket: stats(pingWs), floor: stats(pingFloor) },
    };
    result.ratio = {
      coldStartMedian: round2(result.coldStartMs.shim.median / result.coldStartMs.floor.median),
      pingMedian: round2(result.pingMs.shim.median / result.pingMs.floor.median),
      pingP99: round2(result.pingMs.shim.p99 / result.pingMs.floor.p99),
    };
    return result;
  } finally {
    for (const client of clients) await client.close().catch(() => undefined);
    daemon.child.kill('SIGINT');
    await new Promise((resolve) => (daemon.child.exitCode !== null ? resolve() : daemon.child.once('exit', resolve)));
    rmSync(dir, { recursive: true, force: true });
  }
}

function round2(x) {
  return Math.round(x * 100) / 100;
}

export function markdown(result) {
  const row = (name, s) => `| ${name} | ${s.median} | ${s.p99} | ${s.n} |`;
  return [
    '| measurement (ms) | median | p99 | n |',
    '| --- | ---: | ---: | ---: |',
    row('cold start to first response: `exai shim` (daemon up)', result.coldStartMs.shim),
    row('cold start to first response: plain stdio SDK server', result.coldStartMs.floor),
    row('ping: client → shim → daemon', result.pingMs.shim),
    row('ping: client → daemon over WebSocket (no shim)', result.pingMs.directWebSocket),
    row('ping: plain stdio SDK server (floor)', result.pingMs.floor),
    '',
    `ratio shim / floor: cold start median ${result.ratio.coldStartMedian}x, ping median ${result.ratio.pingMedian}x, ping p99 ${result.ratio.pingP99}x`,
  ].join('\n');
}

if (process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: { cold: { type: 'string', default: '10' }, pings: { type: 'string', default: '1000' }, json: { type: 'boolean', default: false } },
  });
  const result = await benchShim({ coldRuns: Number(values.cold), pings: Number(values.pings) });
  if (!values.json) process.stdout.write(markdown(result) + '\n\n');
  process.stdout.write(JSON.stringify(result, null, 2) + '\n');
}
