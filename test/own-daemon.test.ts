/**
 * A workspace's own daemon (.exai/daemon.json; issue 25), with real daemons nobody here wrote:
 * server-everything in streamableHttp mode (port from PORT) in two workspaces at once, each
 * reached by a real SDK client through the URL exai wrote into its config; and the lifecycle
 * around it (stop/restart keeping the port, readiness failures, a daemon that ignores SIGTERM).
 */
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { connect as connectTcp } from 'node:net';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAlive, readJson, writeDaemon } from './own-daemon-helpers.js';
import { makeTestEnv, pm2Apps, ROOT, runCli, runPm2, spawnJson, waitFor, type TestEnv } from './helpers/env.js';

const EVERYTHING = join(ROOT, 'node_modules', '.bin', 'mcp-server-everything');

let t: TestEnv;

beforeAll(() => {
  t = makeTestEnv();
});
afterAll(async () => {
  await t?.cleanup();
});

function everythingSpec(ready: unknown): unknown {
  return {
    command: EVERYTHING,
    args: ['streamableHttp'],
    env: { PORT: '${port}', SECRET_TOKEN: '${token}' },
    ready,
    client: { type: 'http', url: 'http://127.0.0.1:${port}/mcp' },
  };
}

async function connectHttp(url: string): Promise<Client> {
  const client = new Client({ name: 'own-daemon-test', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(url)));
  return client;
}

describe('an HTTP daemon (server-everything streamableHttp), two workspaces at once', () => {
  it('runs each on its own sticky port, writes each client its url spelling, and a real SDK client reaches each', async () => {
    const a = t.workspace('http-a');
    const b = t.workspace('http-b');
    writeDaemon(a, everythingSpec({ tcp: true, timeout: '60s' }));
    writeDaemon(b, everythingSpec({ http: '/mcp', timeout: '60s' }));
    const [ra, rb] = await Promise.all([
      spawnJson(t.env, a, '--client', 'vscode', '--client', 'cursor', '--client', 'gemini', '--client', 'claude', '--client', 'codex'),
      spawnJson(t.env, b, '--client', 'vscode'),
    ]);
    expect(ra.port).not.toBe(rb.port);
    const vscodeA = readJson(join(a, '.vscode', 'mcp.json')).servers.exai;
    expect(vscodeA).toEqual({ type: 'http', url: `http://127.0.0.1:${ra.port}/mcp` });
    expect(readJson(join(a, '.cursor', 'mcp.json')).mcpServers.exai).toEqual({ url: `http://127.0.0.1:${ra.port}/mcp` });
    expect(readJson(join(a, '.gemini', 'settings.json')).mcpServers.exai).toEqual({ httpUrl: `http://127.0.0.1:${ra.port}/mcp` });
    expect(readJson(join(a, '.mcp.json')).mcpServers.exai).toEqual({ type: 'http', url: `http://127.0.0.1:${ra.port}/mcp` });
    expect(readFileSync(join(a, '.codex', 'config.toml'), 'utf8')).toContain(`url = "http://127.0.0.1:${ra.port}/mcp"`);
    const urlB = readJson(join(b, '.vscode', 'mcp.json')).servers.exai.url as string;

    const [ca, cb] = await Promise.all([connectHttp(vscodeA.url as string), connectHttp(urlB)]);
    try {
      const [ea, eb] = await Promise.all([
        ca.callTool({ name: 'echo', arguments: { message: 'to a' } }),
        cb.callTool({ name: 'echo', arguments: { message: 'to b' } }),
      ]);
      expect(JSON.stringify(ea.content)).toContain('to a');
      expect(JSON.stringify(eb.content)).toContain('to b');
    } finally {
      await Promise.all([ca.close(), cb.close()]);
    }

    // The token went to the daemon through the launcher, never into pm2's env.
    const jlist = await runPm2(['jlist'], t.env);
    const token = readFileSync(join(t.home, 'tokens', `${ra.id}.token`), 'utf8').trim();
    expect(token.length).toBeGreaterThan(8);
    expect(jlist.stdout).not.toContain(token);
    expect(statSync(join(t.home, 'state', ra.id)).mode & 0o777).toBe(0o700);

    // A second spawn reuses it; stop and restart keep the port.
    const again = await spawnJson(t.env, a);
    expect(again).toMatchObject({ reused: true, port: ra.port });
    expect((await runCli(['stop', '--workspace', a], t.env)).code).toBe(0);
    expect(isAlive(ra.pid)).toBe(false);
    const restarted = await spawnJson(t.env, a);
    expect(restarted).toMatchObject({ reused: false, port: ra.port });
    const res = await runCli(['restart', '--workspace', a, '--json'], t.env);
    expect(res.code, res.stderr).toBe(0);
    const c = await connectHttp(vscodeA.url as string);
    expect((await c.listTools()).tools.length).toBeGreaterThan(0);
    await c.close();

    // list shows it online on its port, health from the declared check.
    const list = await runCli(['list', '--json'], t.env);
    expect(list.code, list.stderr).toBe(0);
    const rows = JSON.parse(list.stdout) as { workspace: string; port: number; health?: string; status?: string }[];
    expect(rows.find((r) => r.workspace === a)).toMatchObject({ port: ra.port, status: 'online', healthy: true });

    // doctor: healthy by its declared check, configs hold its entry, and server-everything
    // listens on every address (express's default), which is a warning naming it.
    const doc = await runCli(['doctor', '--json'], t.env);
    const findings = (JSON.parse(doc.stdout) as { findings: { scope: string; check: string; status: string; message: string }[] }).findings.filter((f) => f.scope === a);
    expect(findings.find((f) => f.check === 'daemon')).toMatchObject({ status: 'ok' });
    expect(findings.find((f) => f.check === 'config gemini')).toMatchObject({ status: 'ok' });
    expect(findings.find((f) => f.check === 'listeners')?.message).toContain(`[::]:${ra.port}`);
    expect(doc.code, doc.stdout).toBe(0);

    // logs: the daemon's own output.
    const logs = await runCli(['logs', '--workspace', a], t.env);
    expect(logs.stdout).toContain(`listening on port ${ra.port}`);
  });
});

const node = process.execPath;

function supergatewaySpec(wake = false): Record<string, unknown> {
  return {
    command: join(ROOT, 'node_modules', '.bin', 'supergateway'),
    args: ['--stdio', `${node} ${join(ROOT, 'node_modules', '@modelcontextprotocol', 'server-everything', 'dist', 'index.js')} stdio`, '--outputTransport', 'ws', '--port', '${port}'],
    files: { '${stateDir}/instance.env': 'PORT=${port}\nTOKEN=${token}\n' },
    ready: { log: 'WebSocket endpoint', timeout: '60s' },
    client: { command: node, args: [join(ROOT, 'test', 'fixtures', 'ws-shim.mjs'), 'ws://127.0.0.1:${port}/message'], env: { SHIM_ENV_FILE: '${stateDir}/instance.env' }, ...(wake ? { wake: true } : {}) },
  };
}

describe('a WebSocket daemon with its own stdio shim (supergateway --outputTransport ws), two workspaces', () => {
  it('with "wake": exai shim --exec starts the stopped daemon, then runs its shim with stdio passed through', async () => {
    const ws = t.workspace('wake');
    writeDaemon(ws, supergatewaySpec(true));
    const r = await spawnJson(t.env, ws, '--client', 'claude');
    const entry = readJson(join(ws, '.mcp.json')).mcpServers.exai as { command: string; args: string[]; env: Record<string, string> };
    expect(entry.args.slice(1, 4)).toEqual(['shim', '--exec', '--']);
    expect(entry.env.EXAI_WORKSPACE).toBe(ws);
    expect((await runCli(['stop', '--workspace', ws], t.env)).code).toBe(0);
    expect(isAlive(r.pid)).toBe(false);
    // What the client passes: the entry's env (with this test's state dirs), PATH.
    const client = new Client({ name: 'wake-test', version: '1.0.0' });
    await client.connect(new StdioClientTransport({ command: entry.command, args: entry.args, env: { ...entry.env, EXAI_HOME: t.home, PM2_HOME: t.pm2Home, PATH: process.env.PATH ?? '' }, stderr: 'pipe' }));
    try {
      const res = await client.callTool({ name: 'echo', arguments: { message: 'woken' } });
      expect(JSON.stringify(res.content)).toContain('woken');
    } finally {
      await client.close();
    }
    const rows = JSON.parse((await runCli(['list', '--json'], t.env)).stdout) as { workspace: string; port: number; healthy: boolean }[];
    expect(rows.find((row) => row.workspace === ws)).toMatchObject({ port: r.port, healthy: true });
  });

  it('with "wake": idles out without a session (list: idle), stays up while one runs, and the next session wakes it', async () => {
    const ws = t.workspace('idle');
    writeDaemon(ws, supergatewaySpec(true));
    const r = await spawnJson(t.env, ws, '--client', 'cursor', '--idle-timeout', '2s');
    const status = async () => (JSON.parse((await runCli(['list', '--json'], t.env)).stdout) as { workspace: string; status: string }[]).find((row) => row.workspace === ws)?.status;
    await waitFor(async () => ((await status()) === 'idle' ? true : undefined), { what: 'the daemon to idle out', timeoutMs: 30_000 });
    expect(isAlive(r.pid)).toBe(false);
    const entry = readJson(join(ws, '.cursor', 'mcp.json')).mcpServers.exai as { command: string; args: string[]; env: Record<string, string> };
    const client = new Client({ name: 'idle-test', version: '1.0.0' });
    await client.connect(new StdioClientTransport({ command: entry.command, args: entry.args, env: { ...entry.env, PATH: process.env.PATH ?? '' }, stderr: 'pipe' }));
    try {
      // Three idle timeouts with a session open: it stays online and answers throughout.
      const until = Date.now() + 6_000;
      while (Date.now() < until) {
        const res = await client.callTool({ name: 'echo', arguments: { message: 'still here' } });
        expect(JSON.stringify(res.content)).toContain('still here');
        expect(await status()).toBe('online');
      }
    } finally {
      await client.close();
    }
    await waitFor(async () => ((await status()) === 'idle' ? true : undefined), { what: 'the daemon to idle out after the session', timeoutMs: 30_000 });
  });

  it('writes each shim command with its port and state dir, and two shims driven at once each reach their own daemon', async () => {
    const spec = supergatewaySpec();
    const a = t.workspace('ws-a');
    const b = t.workspace('ws-b');
    writeDaemon(a, spec);
    writeDaemon(b, spec);
    const [ra, rb] = await Promise.all([spawnJson(t.env, a, '--client', 'cursor', '--client', 'vscode'), spawnJson(t.env, b, '--client', 'cursor')]);
    const entryOf = (ws: string) => readJson(join(ws, '.cursor', 'mcp.json')).mcpServers.exai as { command: string; args: string[]; env: Record<string, string> };
    const ea = entryOf(a);
    const shimEnvFile = ea.env.SHIM_ENV_FILE!;
    expect(ea.args[1]).toBe(`ws://127.0.0.1:${ra.port}/message`);
    expect(ea.env.SHIM_ENV_FILE).toBe(join(t.home, 'state', ra.id, 'instance.env'));
    // VS Code expands ${workspaceFolder} itself; the stdio entry is as given, placeholders expanded.
    expect(readJson(join(a, '.vscode', 'mcp.json')).servers.exai).toMatchObject({ type: 'stdio', command: node, args: ea.args });
    const envFile = readFileSync(shimEnvFile, 'utf8');
    const token = readFileSync(join(t.home, 'tokens', `${ra.id}.token`), 'utf8').trim();
    expect(envFile).toBe(`PORT=${ra.port}\nTOKEN=${token}\n`);
    expect(statSync(shimEnvFile).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(a, '.cursor', 'mcp.json'), 'utf8')).not.toContain(token);

    const connect = async (ws: string) => {
      const e = entryOf(ws);
      const client = new Client({ name: 'ws-shim-test', version: '1.0.0' });
      await client.connect(new StdioClientTransport({ command: e.command, args: e.args, env: { ...e.env, PATH: process.env.PATH ?? '' }, stderr: 'pipe' }));
      return client;
    };
    const [ca, cb] = await Promise.all([connect(a), connect(b)]);
    try {
      const calls = await Promise.all([
        ...[1, 2, 3].map((i) => ca.callTool({ name: 'echo', arguments: { message: `a${i}` } })),
        ...[1, 2, 3].map((i) => cb.callTool({ name: 'echo', arguments: { message: `b${i}` } })),
      ]);
      expect(calls.map((c) => JSON.stringify(c.content).match(/Echo: (\w+)/)?.[1])).toEqual(['a1', 'a2', 'a3', 'b1', 'b2', 'b3']);
    } finally {
      await Promise.all([ca.close(), cb.close()]);
    }
    expect(ra.port).not.toBe(rb.port);
  });
});

describe("a workspace switching from exai's daemon to its own", () => {
  it("replaces exai's app and rewrites exai's entry into the daemon's, leaving none of exai's variables", async () => {
    const ws = t.workspace('switch');
    const before = await spawnJson(t.env, ws, '--client', 'vscode', '--client', 'cursor');
    writeFileSync(join(ws, 'daemon.cjs'), "require('node:net').createServer((s) => s.end('hi')).listen(Number(process.env.PORT), '127.0.0.1')");
    writeDaemon(ws, { command: node, args: ['daemon.cjs'], env: { PORT: '${port}' }, client: { command: node, args: ['${workspaceFolder}/shim.js'], env: { STATE: '${stateDir}' } } });
    const after = await spawnJson(t.env, ws);
    expect(after).toMatchObject({ reused: false, port: before.port });
    expect(isAlive(before.pid)).toBe(false);
    expect(readJson(join(ws, '.cursor', 'mcp.json')).mcpServers.exai).toEqual({ type: 'stdio', command: node, args: [join(ws, 'shim.js')], env: { STATE: join(t.home, 'state', after.id) } });
    expect(readJson(join(ws, '.vscode', 'mcp.json')).servers.exai).toEqual({ type: 'stdio', command: node, args: ['${workspaceFolder}/shim.js'], env: { STATE: join(t.home, 'state', after.id) } });
  });
});

describe('daemon.json problems are one clear line before anything starts', () => {
  it('refuses a daemon.json beside a servers.json, a bad field, and ${token} in the client entry', async () => {
    const ws = t.workspace('bad');
    writeDaemon(ws, everythingSpec({ tcp: true }));
    writeFileSync(join(ws, '.exai', 'servers.json'), '{"servers": {}}');
    let res = await runCli(['spawn', '--workspace', ws], t.env);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/^exai: DAEMON_FILE_INVALID: .*servers\.json exists too.*\n$/);
    writeFileSync(join(ws, '.exai', 'servers.json'), '');
    const { rmSync } = await import('node:fs');
    rmSync(join(ws, '.exai', 'servers.json'));
    writeDaemon(ws, { command: 'x', ready: { tcp: true, http: '/h' }, client: { type: 'http', url: 'http://127.0.0.1:${port}/' } });
    res = await runCli(['spawn', '--workspace', ws], t.env);
    expect(res.stderr).toMatch(/DAEMON_FILE_INVALID: .*ready: name exactly one of/);
    writeDaemon(ws, { command: 'x', client: { command: 'shim', env: { T: '${token}' } } });
    res = await runCli(['spawn', '--workspace', ws], t.env);
    expect(res.stderr).toMatch(/DAEMON_FILE_INVALID: .*client\.env\.T: \$\{token\} is refused in the client entry/);
    expect(res.stderr.trim().split('\n')).toHaveLength(1);
    expect(existsSync(join(t.home, 'registry.json')) ? JSON.stringify(readJson(join(t.home, 'registry.json'))) : '').not.toContain(ws);
  });
});

describe('readiness failures and stop', () => {

  it('a daemon that never becomes ready: one line with its last output, nothing left running', async () => {
    const ws = t.workspace('never');
    writeDaemon(ws, { command: node, args: ['-e', 'console.log("warming up"); console.error("still warming"); setInterval(() => {}, 1000)'], files: { '${stateDir}/instance.env': 'TOKEN=${token}\n' }, ready: { log: 'listening', timeout: '2s' }, client: { command: node, args: ['-e', '0'] } });
    const listed = (dir: string) => (existsSync(dir) ? readdirSync(dir) : []);
    const before = new Set([...listed(join(t.home, 'tokens')), ...listed(join(t.home, 'state'))]);
    const res = await runCli(['spawn', '--workspace', ws], t.env);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/\nexai: DAEMON_UNHEALTHY: .*did not become ready \("listening" in its output\) within 2000 ms.*warming up.*still warming.*\n$/);
    // Never registered, so `exai logs` could not show it: the hint names the log file instead.
    expect(res.stderr).not.toContain('exai logs');
    const outLog = /its whole output: (\S+\.out\.log),/.exec(res.stderr)?.[1];
    expect(readFileSync(outLog!, 'utf8')).toContain('warming up');
    // ...and leaves no launch file (with passed values and the token) nor state dirs nobody could remove.
    const leftovers = [...listed(join(t.home, 'tokens')), ...listed(join(t.home, 'state'))].filter((f) => !before.has(f));
    expect(leftovers).toEqual([]);
    const apps = await pm2Apps(t.env);
    expect(apps.filter((a) => a.name.includes('never'))).toEqual([]);
  });

  it('--port N moves it: the daemon, its files and the client entry follow; a port another process holds is refused', async () => {
    const ws = t.workspace('moves');
    writeFileSync(join(ws, 'daemon.cjs'), "require('node:net').createServer((s) => s.end(process.env.PORT)).listen(Number(process.env.PORT), '127.0.0.1')");
    writeDaemon(ws, { command: node, args: ['daemon.cjs'], env: { PORT: '${port}' }, files: { '${stateDir}/port': '${port}' }, client: { type: 'http', url: 'http://127.0.0.1:${port}/mcp' } });
    const first = await spawnJson(t.env, ws, '--client', 'gemini');
    const target = t.portBase + 777;
    const moved = await spawnJson(t.env, ws, '--port', String(target));
    expect(moved).toMatchObject({ port: target, movedFrom: first.port });
    expect(readJson(join(ws, '.gemini', 'settings.json')).mcpServers.exai).toEqual({ httpUrl: `http://127.0.0.1:${target}/mcp` });
    expect(readFileSync(join(t.home, 'state', first.id, 'port'), 'utf8')).toBe(String(target));
    const answer = await new Promise<string>((resolve, reject) => {
      let text = '';
      connectTcp({ host: '127.0.0.1', port: target }).setEncoding('utf8').on('data', (d: string) => (text += d)).on('end', () => resolve(text)).on('error', reject);
    }).catch(async (err: unknown) => {
      // Beside two CPU hogs this daemon (no socket error handler) died of an ECONNRESET right
      // after spawn said ready: the readiness check reset the connection it had greeted
      // (src/transport/knock.ts now closes with a FIN). Should it fail again: pm2's and the log's view.
      const logs = await runCli(['logs', '--workspace', ws, '--lines', '40'], t.env);
      const apps = await runPm2(['jlist'], t.env);
      throw new Error(`${String(err)} after spawn --port said ready; exai logs:\n${logs.stdout}${logs.stderr}\npm2 jlist: ${apps.stdout.slice(0, 4000)}`);
    });
    expect(answer).toBe(String(target));
    // doctor finds a config that lost the daemon's entry, and --fix writes it back.
    writeFileSync(join(ws, '.gemini', 'settings.json'), '{}\n');
    type Doc = { findings: { scope: string; check: string; status: string }[] };
    const gemini = async (args: string[]) => (JSON.parse((await runCli(['doctor', '--json', ...args], t.env)).stdout) as Doc).findings.find((f) => f.scope === ws && f.check === 'config gemini');
    expect(await gemini([])).toMatchObject({ status: 'problem' });
    expect(await gemini(['--fix'])).toMatchObject({ status: 'fixed' });
    expect(readJson(join(ws, '.gemini', 'settings.json')).mcpServers.exai).toEqual({ httpUrl: `http://127.0.0.1:${target}/mcp` });
    const { createServer } = await import('node:net');
    const squatter = createServer().listen(t.portBase + 778, '127.0.0.1');
    await new Promise((r) => squatter.once('listening', r));
    try {
      const res = await runCli(['spawn', '--workspace', ws, '--port', String(t.portBase + 778)], t.env);
      expect(res.code).toBe(1);
      expect(res.stderr).toMatch(/PORT_TAKEN: port \d+ on 127\.0\.0\.1 is in use/);
      expect((await spawnJson(t.env, ws)).port).toBe(target);
    } finally {
      squatter.close();
    }
  });

  it('a command that does not exist: one line naming it', async () => {
    const ws = t.workspace('missing');
    writeDaemon(ws, { command: 'no-such-daemon-25', ready: { tcp: true, timeout: '60s' }, client: { command: node } });
    const res = await runCli(['spawn', '--workspace', ws], t.env);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/\nexai: DAEMON_UNHEALTHY: .*exited before it became ready.*cannot run "no-such-daemon-25" in .*ENOENT.*\n$/);
  });

  it('a daemon that exits at once: one line with what it said', async () => {
    const ws = t.workspace('exits');
    writeDaemon(ws, { command: node, args: ['-e', 'console.error("config missing: EX_API_KEY"); process.exit(3)'], ready: { tcp: true, timeout: '60s' }, client: { command: node } });
    const started = Date.now();
    const res = await runCli(['spawn', '--workspace', ws], t.env);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/\nexai: DAEMON_UNHEALTHY: .*exited before it became ready.*config missing: EX_API_KEY.*\n$/);
    expect(Date.now() - started).toBeLessThan(30_000);
    expect((await pm2Apps(t.env)).filter((a) => a.name.includes('exits'))).toEqual([]);
  });

  it("exai's own shim in a daemon.json workspace refuses at once (it would wait forever on a daemon that does not speak exai's protocol)", async () => {
    const ws = t.workspace('plainshim');
    writeDaemon(ws, { command: node, args: ['-e', 'setInterval(() => {}, 1000)'], client: { type: 'http', url: 'http://127.0.0.1:${port}/mcp' } });
    const init = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '0' } } });
    const res = await runCli(['shim'], { ...t.env, EXAI_WORKSPACE: ws }, { input: `${init}\n`, timeoutMs: 20_000 });
    expect(res.code).toBe(2);
    expect(res.stdout).toBe('');
    expect(res.stderr).toContain('runs its own daemon (.exai/daemon.json)');
    expect((await pm2Apps(t.env)).filter((a) => a.name.includes('plainshim'))).toEqual([]);
  });

  it('a daemon that ignores SIGTERM (and its child) does not survive stop', async () => {
    const ws = t.workspace('stubborn');
    const script = join(ws, 'stubborn.js');
    writeFileSync(script, `
      const { spawn } = require('node:child_process');
      const net = require('node:net');
      process.on('SIGTERM', () => console.log('ignoring SIGTERM'));
      // Its worker also opens a side port (as EX-AI's monitoring server does), and ignores SIGTERM too.
      const worker = 'process.on("SIGTERM", () => {}); const s = require("node:net").createServer().listen(0, "127.0.0.1", () => require("node:fs").writeFileSync(process.argv[1], String(s.address().port)))';
      const child = spawn(process.execPath, ['-e', worker, process.argv[2] + '.side'], { stdio: 'ignore' });
      require('node:fs').writeFileSync(process.argv[2], String(child.pid));
      net.createServer().listen(Number(process.env.PORT), '127.0.0.1');
    `);
    writeFileSync(join(ws, 'package.json'), '{"type": "commonjs"}');
    writeDaemon(ws, { command: node, args: [script, '${stateDir}/child.pid'], env: { PORT: '${port}' }, ready: { tcp: true, timeout: '30s' }, client: { command: node } });
    const r = await spawnJson(t.env, ws);
    const childPid = Number(readFileSync(join(t.home, 'state', r.id, 'child.pid'), 'utf8'));
    expect(isAlive(r.pid)).toBe(true);
    expect(isAlive(childPid)).toBe(true);
    const sideFile = join(t.home, 'state', r.id, 'child.pid.side');
    const side = await waitFor(() => (existsSync(sideFile) ? Number(readFileSync(sideFile, 'utf8')) : undefined), { what: 'the side port' });
    if (process.platform === 'linux') {
      const doc = await runCli(['doctor', '--json'], t.env);
      const findings = (JSON.parse(doc.stdout) as { findings: { scope: string; check: string; status: string; message: string }[] }).findings;
      expect(findings.find((f) => f.scope === ws && f.check === 'listeners')).toMatchObject({ status: 'warning', message: expect.stringContaining(`127.0.0.1:${side}`) });
    }
    const res = await runCli(['stop', '--workspace', ws], t.env);
    expect(res.code, res.stderr).toBe(0);
    await waitFor(() => (!isAlive(childPid) ? true : undefined), { what: 'the stubborn child to die', timeoutMs: 15_000 });
    const back = await spawnJson(t.env, ws);
    expect(back.port).toBe(r.port);
  });
});
