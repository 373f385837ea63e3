/**
 * How often one wake of an idle workspace opens registry.json and the workspace's token
 * (issue 22): a strict client (env: only HOME, PATH and the exai entry's env from the
 * .vscode/mcp.json exai wrote) runs `exai shim` under `strace -f -e trace=openat`, initializes
 * and calls `exai_status`. Counted apart: the shim's process tree (what issue 22 measures: 11
 * and 6 before the start path resolved once) and pm2's daemon with its fork of the workspace daemon. Needs strace (Linux).
 *   node bench/strace-wake.js [--keep]
 */
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { CLI, exai, makeBenchEnv, sleep } from './lib/env.js';

function alive(port) {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/health', timeout: 1_000 }, (res) => {
      res.resume();
      resolve(true);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

const e = makeBenchEnv('strace');
try {
  const ws = e.workspace('wake');
  const spawned = JSON.parse((await exai(['spawn', '--workspace', ws, '--idle-timeout', '1s', '--json'], e.env)).stdout);
  while (await alive(spawned.port)) await sleep(100);
  await sleep(500); // pm2 records the exit
  const entry = JSON.parse(readFileSync(join(ws, '.vscode', 'mcp.json'), 'utf8')).servers.exai;
  const env = { HOME: process.env.HOME, PATH: process.env.PATH, ...entry.env };
  for (const [k, v] of Object.entries(env)) env[k] = String(v).replaceAll('${workspaceFolder}', ws);
  const trace = join(e.dir, 'openat.trace');
  // pm2's daemon forks the workspace daemon: trace it too (attach to the running God daemon).
  const godPid = Number(readFileSync(join(e.pm2Home, 'pm2.pid'), 'utf8'));
  const god = spawn('strace', ['-f', '-e', 'trace=openat', '-o', `${trace}.god`, '-p', String(godPid)], { stdio: 'ignore' });
  await sleep(500);
  const child = spawn('strace', ['-f', '-e', 'trace=openat', '-o', trace, entry.command, ...entry.args.map((a) => a.replaceAll('${workspaceFolder}', ws))], { env, cwd: ws, stdio: ['pipe', 'pipe', 'inherit'] });
  const started = performance.now();
  let buf = '';
  const answered = new Promise((resolve) => child.stdout.on('data', (d) => { buf += d; if (buf.includes('"id":2')) resolve(); }));
  const send = (m) => child.stdin.write(JSON.stringify(m) + '\n');
  send({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'strace', version: '0' } } });
  send({ jsonrpc: '2.0', method: 'notifications/initialized' });
  send({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'exai_status', arguments: {} } });
  await answered;
  const ms = performance.now() - started;
  child.stdin.end();
  await new Promise((r) => child.on('exit', r));
  god.kill('SIGINT');
  await new Promise((r) => god.on('exit', r));
  const ok = (l) => !/= -1 /.test(l);
  const count = (file, needle) => readFileSync(file, 'utf8').split('\n').filter((l) => l.includes(needle) && ok(l)).length;
  const registry = `${join(e.home, 'registry.json')}"`;
  const token = `${spawned.id}.token"`;
  // The shim's process tree is the wake's client side (the issue's measure); pm2's fork of the daemon reads its own once.
  console.log(
    JSON.stringify({
      wakeMs: Math.round(ms),
      shim: { registryOpens: count(trace, registry), tokenOpens: count(trace, token) },
      daemon: { registryOpens: count(`${trace}.god`, registry), tokenOpens: count(`${trace}.god`, token) },
    }),
  );
  if (process.argv.includes('--keep')) console.log(`traces: ${trace} ${trace}.god`);
} finally {
  if (!process.argv.includes('--keep')) await e.cleanup();
  else await e.killPm2();
}
