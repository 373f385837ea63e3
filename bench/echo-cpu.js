#!/usr/bin/env node
/**
 * Where a relayed echo's time goes (issues 20/22): latency p50 and CPU per echo of the daemon
 * and of the shim, for each client era × server era, next to direct stdio. CPU per call (from
 * /proc/<pid>/stat, so Linux only) is the number that holds on a busy machine; latency is not.
 *
 * `node bench/echo-cpu.js [--calls 3000] [--warmup 1000] [--prof DIR] [--strace DIR]`: with
 * --prof the daemon and the shims write V8 CPU profiles (--cpu-prof, 50 µs sampling) into DIR.
 * The daemon is a plain child process (no pm2), in a temp EXAI_HOME that is removed afterwards.
 * With --strace the daemon and the shim of each relayed path are traced during its calls
 * (`strace -c -f` by default; another tracer with TRACER and its arguments in STRACE_ARGS, e.g.
 * TRACER=perf STRACE_ARGS='stat -e task-clock,context-switches,page-faults').
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { Client as ClientV2 } from '@modelcontextprotocol/client';
import { StdioClientTransport as StdioV2 } from '@modelcontextprotocol/client/stdio';
import { CLI, ROOT } from './lib/env.js';
import { EVERYTHING, freePort, startBareRelay } from './lib/mcp.js';

const ERA_SERVER = join(ROOT, 'test', 'fixtures', 'era-server.mjs');
const { values } = parseArgs({ options: { calls: { type: 'string', default: '3000' }, warmup: { type: 'string', default: '1000' }, prof: { type: 'string' }, 'only-2025': { type: 'boolean', default: false }, strace: { type: 'string' } } });
const calls = Number(values.calls);
const warmup = Number(values.warmup);
const prof = values.prof ? [`--cpu-prof`, `--cpu-prof-interval=50`, `--cpu-prof-dir=${values.prof}`] : [];

const TICK_MS = 10; // CLK_TCK 100 on Linux
/** [user, system] CPU ms of a process so far. */
function cpuMs(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return [Number(fields[11]) * TICK_MS, Number(fields[12]) * TICK_MS];
}
const stringEnv = (env) => Object.fromEntries(Object.entries(env).filter(([, v]) => typeof v === 'string'));

async function startDaemon(env) {
  const port = await freePort();
  const child = spawn(process.execPath, [...prof, CLI, 'daemon'], { env: { ...env, EXAI_WS_PORT: String(port) }, stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
  const outcome = await new Promise((resolve) => {
    child.on('message', (m) => m === 'ready' && resolve('ready'));
    child.on('exit', (code) => resolve(code));
  });
  if (outcome !== 'ready') throw new Error(`daemon did not start (${outcome}): ${stderr}`);
  return { child, port };
}

async function v1(command, args, env, cwd) {
  const transport = new StdioClientTransport({ command, args, env: stringEnv(env), cwd, stderr: 'ignore' });
  const client = new Client({ name: 'echo-cpu', version: '0' });
  await client.connect(transport);
  return { client, pid: transport.pid };
}
async function v2(command, args, env, cwd) {
  const transport = new StdioV2({ command, args, env: stringEnv(env), cwd, stderr: 'ignore' });
  const client = new ClientV2({ name: 'echo-cpu-v2', version: '0' }, { versionNegotiation: { mode: { pin: '2026-07-28' } } });
  await client.connect(transport);
  return { client, pid: transport.pid };
}

const dir = realpathSync(mkdtempSync(join(tmpdir(), 'exai-echo-cpu-')));
const workspace = join(dir, 'workspace');
mkdirSync(join(workspace, '.exai'), { recursive: true });
writeFileSync(
  join(workspace, '.exai', 'servers.json'),
  JSON.stringify({
    servers: {
      everything: { command: process.execPath, args: [EVERYTHING, 'stdio'] },
      ...(values['only-2025'] ? {} : { modern: { command: process.execPath, args: [ERA_SERVER, '--modern-only'] } }),
    },
  }),
);
const env = { ...process.env, EXAI_HOME: join(dir, 'home'), PM2_HOME: join(dir, 'pm2'), EXAI_WORKSPACE: workspace };
const open = [];
let daemon;
let bareDaemon;
try {
  daemon = await startDaemon(env);
  const shimEnv = { ...env, EXAI_WS_PORT: String(daemon.port) };
  const s1 = await v1(process.execPath, [...prof, CLI, 'shim'], shimEnv, workspace);
  const d1 = await v1(process.execPath, [EVERYTHING, 'stdio'], env, ROOT);
  open.push(s1, d1);
  const s2 = values['only-2025'] ? undefined : await v2(process.execPath, [...prof, CLI, 'shim'], shimEnv, workspace);
  const d2 = values['only-2025'] ? undefined : await v2(process.execPath, [ERA_SERVER, '--modern-only'], env, ROOT);
  if (s2) open.push(s2, d2);
  await s1.client.listTools();
  await s2?.client.listTools();
  const old = (c, name) => c.callTool({ name, arguments: { message: 'hello from bench' } });
  const modern = (c, name) => c.callTool({ name, arguments: { text: 'hello from bench' } });
  // The floor of any relay: the same call through two bare byte relays (bench/fixtures/bare-relay.js).
  const bare = await startBareRelay();
  bareDaemon = bare.child;
  const b1 = await v1(process.execPath, bare.shimArgs, env, ROOT);
  open.push(b1);
  const paths = {
    '2025→2025': [s1, (c) => old(c, 'everything__echo')],
    '2025→2026': [s2 && s1, (c) => modern(c, 'modern__echo')],
    '2026→2025': [s2, (c) => old(c, 'everything__echo')],
    '2026→2026': [s2, (c) => modern(c, 'modern__echo')],
    '2025→2025 bare relays': [b1, (c) => old(c, 'echo')],
    'direct v1 everything': [d1, (c) => old(c, 'echo')],
    'direct v2 modern': [d2, (c) => modern(c, 'echo')],
  };
  const rows = [];
  for (const [name, [peer, op]] of Object.entries(paths)) {
    if (!peer) continue;
    for (let i = 0; i < warmup; i++) await op(peer.client);
    const shimPid = name.startsWith('direct') ? undefined : peer.pid;
    const daemonPid = name.includes('bare') ? bareDaemon.pid : daemon.child.pid;
    const d0 = cpuMs(daemonPid);
    const s0 = shimPid ? cpuMs(shimPid) : [0, 0];
    const own0 = process.cpuUsage();
    // --strace DIR: syscall counts of the daemon (the bare one on the bare path) and the shim.
    const tracers = values.strace && shimPid
      ? [['daemon', daemonPid], ['shim', shimPid]].map(([who, pid]) => spawn(process.env.TRACER ?? 'strace', [...(process.env.STRACE_ARGS ?? '-c -f').split(' '), '-o', join(values.strace, `${name}.${who}.txt`), '-p', String(pid)], { stdio: 'ignore' }))
      : [];
    if (tracers.length) await new Promise((r) => setTimeout(r, 1000)); // strace attaching; counts only
    const lat = [];
    for (let i = 0; i < calls; i++) {
      const t = performance.now();
      await op(peer.client);
      lat.push(performance.now() - t);
    }
    const own = process.cpuUsage(own0);
    for (const t of tracers) {
      t.kill('SIGINT');
      await new Promise((r) => t.once('exit', r));
    }
    lat.sort((a, b) => a - b);
    const us = (ms) => Math.round((ms * 1000) / calls);
    const per = (pid, before) => {
      const [u, s] = cpuMs(pid);
      return `${us(u - before[0] + s - before[1])} (${us(u - before[0])}u ${us(s - before[1])}s)`;
    };
    rows.push({
      path: name,
      p50ms: Math.round(lat[Math.floor(calls / 2)] * 1000) / 1000,
      'daemon µs/call': name.startsWith('direct') ? null : per(daemonPid, d0),
      'shim µs/call': shimPid ? per(shimPid, s0) : null,
      'client µs/call': Math.round((own.user + own.system) / calls),
    });
  }
  console.table(rows);
} finally {
  for (const p of open) await p.client.close().catch(() => undefined);
  bareDaemon?.kill();
  if (daemon) {
    daemon.child.kill('SIGTERM');
    await new Promise((r) => (daemon.child.exitCode !== null ? r() : daemon.child.once('exit', r)));
  }
  rmSync(dir, { recursive: true, force: true });
}
