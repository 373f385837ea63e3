/**
 * `exai shim` as a real child process, talked to by a real SDK client over stdio, in front
 * of a real `exai daemon` child process (no pm2 here: the daemon is restarted by the test,
 * which makes the reconnect deterministic; test/shim.test.ts does the same under pm2).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { homeLayout } from '../src/workspace/layout.js';
import { Registry } from '../src/supervisor/registry.js';
import { readToken } from '../src/workspace/token.js';
import { resolveWorkspace, type Workspace } from '../src/workspace/identity.js';
import { LineSplitter } from '../src/shim/framing.js';
import type { ExaiStatus as Status } from '../src/daemon/builtins.js';
import { CLI, ROOT, childExit, makeTestEnv, runCli, waitFor, type TestEnv } from './helpers/env.js';
import { exaiStatus as status } from './helpers/mcp-client.js';

let t: TestEnv;
let workspace: Workspace;
let port: number;
let daemon: ChildProcess | undefined;
const clients: Client[] = [];
const children: ChildProcess[] = [];

function startDaemon(): Promise<ChildProcess> {
  const child = spawn(process.execPath, [CLI, 'daemon'], {
    env: { ...t.env, EXAI_WS_PORT: String(port), EXAI_WORKSPACE: workspace.path },
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  return new Promise((resolve, reject) => {
    child.on('message', (m) => m === 'ready' && resolve(child));
    child.on('exit', (code) => reject(new Error(`daemon exited with ${code}: ${stderr}`)));
  });
}

function shimEnv(overrides: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(t.env)) if (v !== undefined) env[k] = v;
  return { ...env, EXAI_WS_PORT: String(port), EXAI_WORKSPACE: workspace.path, ...overrides };
}

async function shimClient(env = shimEnv()) {
  const transport = new StdioClientTransport({ command: process.execPath, args: [CLI, 'shim'], env, stderr: 'pipe', cwd: ROOT });
  let stderr = '';
  transport.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const client = new Client({ name: 'shim-process-test', version: '1.0.0' });
  clients.push(client);
  await client.connect(transport);
  return { client, transport, stderr: () => stderr };
}

/** The shim as a bare child process, for exit-code and stdin tests. */
function rawShim(env: Record<string, string>) {
  const child = spawn(process.execPath, [CLI, 'shim'], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  children.push(child);
  const lines: Record<string, unknown>[] = [];
  let stderr = '';
  const splitter = new LineSplitter((line) => lines.push(JSON.parse(line.toString()) as Record<string, unknown>));
  child.stdout.on('data', (d: Buffer) => splitter.push(d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const send = (msg: unknown) => child.stdin.write(JSON.stringify(msg) + '\n');
  const response = (id: unknown) =>
    waitFor(() => lines.find((m) => m.id === id && ('result' in m || 'error' in m)), { what: `response ${String(id)}` });
  return { child, lines, send, response, stderr: () => stderr };
}

const INIT = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '0' } } };

function hasScript(): boolean {
  return spawnSync('script', ['--version'], { stdio: 'ignore' }).status === 0;
}

function shimLog(): string {
  try {
    return readFileSync(homeLayout(t.home).shimLog(workspace.id), 'utf8');
  } catch {
    return '';
  }
}

beforeAll(async () => {
  t = makeTestEnv();
  workspace = resolveWorkspace(t.workspace('proc'));
  // Not a spawn candidate (base + k * stride), so nothing else in this file picks it.
  port = t.portBase + 3;
  daemon = await startDaemon();
});

afterAll(async () => {
  for (const client of clients) await client.close().catch(() => undefined);
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  daemon?.kill('SIGKILL');
  await t.cleanup();
});

describe('exai shim in front of a real daemon process', () => {
  it('serves initialize, tools/list and exai_status to a real SDK client over stdio', async () => {
    const { client } = await shimClient();
    expect(client.getServerVersion()?.name).toBeTruthy();
    const tools = await client.listTools();
    expect(tools.tools.map((tool) => tool.name)).toContain('exai_status');
    const s = await status(client);
    expect(s).toMatchObject({ workspace: workspace.path, port, pid: daemon!.pid });
  });

  it('continues the same session after the daemon is killed and comes back, without re-initializing', async () => {
    const { client } = await shimClient();
    const before = await status(client);
    const logBefore = shimLog().length;
    daemon!.kill('SIGKILL');
    await childExit(daemon!);
    await waitFor(() => (shimLog().slice(logBefore).includes('lost the connection') ? true : undefined), { what: 'shim noticed the drop' });
    // Asked while the daemon is away: queued, then answered by the new daemon.
    const pending = status(client);
    daemon = await startDaemon();
    const after = await pending;
    expect(after.pid).toBe(daemon.pid);
    expect(after.pid).not.toBe(before.pid);
    expect((await client.listTools()).tools.map((tool) => tool.name)).toContain('exai_status');
    // The daemon does not insist on initialize, so the log is where the replay shows.
    expect(shimLog().slice(logBefore)).toMatch(/reconnected to the daemon[^]*replayed the client's initialize/);
  });

  it('takes the port from the registry when the client config holds a stale one', async () => {
    await new Registry(t.home).update((data) => {
      const now = new Date().toISOString();
      data.workspaces[workspace.id] = {
        workspace: workspace.path,
        id: workspace.id,
        name: workspace.name,
        port,
        pinned: true,
        clients: [],
        createdAt: now,
        updatedAt: now,
      };
    });
    const { client } = await shimClient(shimEnv({ EXAI_WS_PORT: String(t.portBase + 7) }));
    expect((await status(client)).port).toBe(port);
  });

  it('is gone within a second of stdin closing, and on SIGTERM, with exit code 0', async () => {
    for (const how of ['stdin', 'SIGTERM'] as const) {
      const shim = rawShim(shimEnv());
      shim.send(INIT);
      expect(await shim.response(1)).toHaveProperty('result');
      const started = Date.now();
      if (how === 'stdin') shim.child.stdin.end();
      else shim.child.kill('SIGTERM');
      const exit = await childExit(shim.child);
      expect({ how, ...exit }).toEqual({ how, code: 0, signal: null });
      expect(Date.now() - started).toBeLessThan(1000);
      expect(shim.lines.every((m) => m.jsonrpc === '2.0')).toBe(true);
    }
  });

  it('answers what was asked before it exits on stdin end: printf "<initialize>\\n<initialized>\\n<ping>\\n" | exai shim', async () => {
    const input = [INIT, { jsonrpc: '2.0', method: 'notifications/initialized' }, { jsonrpc: '2.0', id: 2, method: 'ping' }]
      .map((m) => `${JSON.stringify(m)}\n`)
      .join('');
    const started = Date.now();
    const result = await runCli(['shim'], shimEnv(), { input });
    expect(result.code, result.stderr).toBe(0);
    const replies = result.stdout.trim().split('\n').map((line) => JSON.parse(line) as { id: number; result?: Record<string, unknown> });
    // JSON-RPC answers in any order; both must be there.
    replies.sort((a, b) => a.id - b.id);
    expect(replies.map((r) => r.id)).toEqual([1, 2]);
    expect(replies[0]?.result).toHaveProperty('serverInfo');
    expect(replies[1]?.result).toEqual({});
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it.runIf(hasScript())('in a terminal, says on stderr what it is and what to run instead, and exits 2', async () => {
    // `script` gives the shim a pseudo-terminal for stdin, as a person typing `exai shim` would.
    const command = `${JSON.stringify(process.execPath)} ${JSON.stringify(CLI)} shim`;
    const child = spawn('script', ['-qec', command, '/dev/null'], { env: shimEnv(), stdio: ['pipe', 'pipe', 'pipe'] });
    children.push(child);
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (output += d));
    const exit = await childExit(child);
    expect(exit.code).toBe(2);
    expect(output).toContain('exai shim: this is the stdio bridge that an MCP client');
    expect(output).toContain('exai spawn --workspace <dir>');
    expect(output).not.toContain('"jsonrpc"');
  });

  it('exits 1 with one stderr line naming both state dirs when its token is refused, answering the waiting request', async () => {
    const otherHome = join(t.dir, 'other-home');
    mkdirSync(join(otherHome, 'tokens'), { recursive: true, mode: 0o700 });
    writeFileSync(homeLayout(otherHome).tokenFile(workspace.id), 'f'.repeat(64) + '\n', { mode: 0o600 });
    const shim = rawShim(shimEnv({ EXAI_HOME: otherHome }));
    shim.send(INIT);
    const exit = await childExit(shim.child);
    expect(exit.code).toBe(1);
    const lines = shim.stderr().trim().split('\n');
    expect(lines).toHaveLength(1);
    // The daemon reports its state dir on /health: the line says where the shim looked and where to look.
    expect(lines[0]).toMatch(/STATE_DIR_MISMATCH: .*uses the state dir .*, but this shim looked for its token in .*other-home.*exai spawn --workspace/);
    expect(lines[0]).toContain(t.home);
    expect(shim.lines.find((m) => m.id === 1)).toMatchObject({ error: { code: -32000 } });
  });

  it('refuses a missing or invalid EXAI_WS_PORT (exit 2) and an unknown workspace (exit 1), one line each', async () => {
    const { EXAI_WS_PORT: _, ...noPort } = shimEnv();
    const cases = [
      { env: noPort, code: 2, pattern: /ENV_INVALID: EXAI_WS_PORT is not set/ },
      { env: shimEnv({ EXAI_WS_PORT: '70000' }), code: 2, pattern: /ENV_INVALID: EXAI_WS_PORT "70000" is not a port/ },
      { env: shimEnv({ EXAI_WORKSPACE: join(t.dir, 'nope'), EXAI_WS_PORT: String(t.portBase + 8) }), code: 1, pattern: /WORKSPACE_NOT_FOUND: EXAI_WORKSPACE .*nope/ },
    ];
    for (const c of cases) {
      const result = await runCli(['shim'], c.env);
      expect(result.code, result.stderr).toBe(c.code);
      expect(result.stdout).toBe('');
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
      expect(result.stderr).toMatch(c.pattern);
    }
  });

  it('keeps stdout for protocol bytes: stray console output of any library lands on stderr', async () => {
    const script = `
      const { claimStdout } = await import(${JSON.stringify(join(ROOT, 'dist', 'shim', 'stdout.js'))});
      const protocol = claimStdout();
      console.log('[PM2] Spawning PM2 daemon');
      protocol.write('{"jsonrpc":"2.0","id":1,"result":{}}\\n');
      process.stdout.write('more noise\\n');
      protocol.end('{"jsonrpc":"2.0","id":2,"result":{}}\\n');
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    expect((await childExit(child)).code).toBe(0);
    expect(stdout).toBe('{"jsonrpc":"2.0","id":1,"result":{}}\n{"jsonrpc":"2.0","id":2,"result":{}}\n');
    expect(stderr).toBe('[PM2] Spawning PM2 daemon\nmore noise\n');
  });

  it('never writes the token to its log', () => {
    const token = readToken(t.home, workspace.id)!;
    expect(shimLog().length).toBeGreaterThan(0);
    expect(shimLog()).not.toContain(token);
  });
});
