/**
 * `exai shim` end to end under real pm2: the editor's view. A real SDK client launches the
 * shim over stdio exactly as VS Code does, against daemons that `exai spawn` put under pm2
 * (isolated PM2_HOME), and the daemon is killed, stopped and started underneath it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shellArg } from '../src/common/shell.js';
import { homeLayout } from '../src/workspace/layout.js';
import { Registry } from '../src/supervisor/registry.js';
import { resolveWorkspace } from '../src/workspace/identity.js';
import { LineSplitter } from '../src/shim/framing.js';
import type { ExaiStatus as Status } from '../src/daemon/builtins.js';
import type { UpstreamStatus } from '../src/daemon/upstreams/upstream.js';
import type { SpawnResult as SpawnJson } from '../src/start/spawn.js';
import { isAlive } from './helpers/daemon.js';
import { everythingEntry, writeServers } from './upstreams-helpers.js';
import { CLI, ROOT, childExit, makeTestEnv, pm2Apps, runCli, runPm2, shimTransport, waitFor, type TestEnv } from './helpers/env.js';
import { exaiStatus as status } from './helpers/mcp-client.js';

let t: TestEnv;
const clients: Client[] = [];
const children: ChildProcess[] = [];

beforeAll(() => {
  t = makeTestEnv();
});

afterAll(async () => {
  for (const client of clients) await client.close().catch(() => undefined);
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await t.cleanup();
});

async function spawnWorkspace(dir: string): Promise<SpawnJson> {
  const res = await runCli(['spawn', '--workspace', dir, '--json'], t.env);
  if (res.code !== 0) throw new Error(`exai spawn failed (${res.code}): ${res.stderr}`);
  return JSON.parse(res.stdout) as SpawnJson;
}

/** What the client config gives the shim: the port and the workspace, plus the test's isolated homes. */
function shimEnv(port: number, workspace: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(t.env)) if (v !== undefined) env[k] = v;
  return { ...env, EXAI_WS_PORT: String(port), EXAI_WORKSPACE: workspace };
}

async function shimClient(port: number, workspace: string): Promise<Client> {
  const transport = shimTransport(t.env, port, workspace);
  const client = new Client({ name: 'shim-e2e', version: '1.0.0' });
  clients.push(client);
  await client.connect(transport);
  return client;
}

function shimLog(workspace: string): string {
  try {
    return readFileSync(homeLayout(t.home).shimLog(resolveWorkspace(workspace).id), 'utf8');
  } catch {
    return '';
  }
}

async function pm2Status(name: string): Promise<{ status: string; pid: number } | undefined> {
  const app = (await pm2Apps(t.env)).find((a) => a.name === name);
  return app && { status: app.pm2_env.status, pid: app.pid };
}

describe('exai shim under pm2', () => {
  let ws: string;
  let spawned: SpawnJson;
  let client: Client;

  beforeAll(async () => {
    ws = t.workspace('main');
    spawned = await spawnWorkspace(ws);
    client = await shimClient(spawned.port, ws);
  });

  it('serves initialize, tools/list and exai_status of the right workspace', async () => {
    expect(client.getServerVersion()).toBeDefined();
    const tools = await client.listTools();
    expect(tools.tools.map((tool) => tool.name)).toContain('exai_status');
    expect(await status(client)).toMatchObject({ workspace: spawned.workspace, id: spawned.id, port: spawned.port, pid: spawned.pid });
  });

  it('carries a 5 MB request through to the daemon intact', async () => {
    // A corrupted or truncated frame would be a parse error; the daemon answers only a whole message.
    const result = await client.callTool({ name: 'exai_status', arguments: { pad: 'é🚀x'.repeat(700_000) } });
    expect((result.structuredContent as unknown as Status).id).toBe(spawned.id);
  });

  it('continues the same session after `kill -9` of the daemon, once pm2 has restarted it', async () => {
    const before = await status(client);
    const logBefore = shimLog(ws).length;
    process.kill(before.pid, 'SIGKILL');
    await waitFor(() => (shimLog(ws).slice(logBefore).includes('lost the connection') ? true : undefined), {
      what: 'the shim noticing the drop',
    });
    // The same client, no reconnect or initialize of its own: the call waits for the new daemon.
    const after = await status(client);
    expect(after.pid).not.toBe(before.pid);
    expect(isAlive(after.pid)).toBe(true);
    expect(await pm2Status(spawned.name)).toEqual({ status: 'online', pid: after.pid });
    expect(shimLog(ws).slice(logBefore)).toMatch(/replayed the client's initialize/);
    expect((await client.listTools()).tools.map((tool) => tool.name)).toContain('exai_status');
  });

  it('is gone within a second once stdin closes', async () => {
    const child = spawn(process.execPath, [CLI, 'shim'], { env: shimEnv(spawned.port, ws), stdio: ['pipe', 'pipe', 'pipe'] });
    children.push(child);
    const lines: Record<string, unknown>[] = [];
    const splitter = new LineSplitter((line) => lines.push(JSON.parse(line.toString()) as Record<string, unknown>));
    child.stdout.on('data', (d: Buffer) => splitter.push(d));
    child.stdin.write(
      JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '0' } } }) + '\n',
    );
    await waitFor(() => lines.find((m) => m.id === 1), { what: 'initialize response' });
    const started = Date.now();
    child.stdin.end();
    expect(await childExit(child)).toEqual({ code: 0, signal: null });
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('lists the tools to a third-party client: the MCP Inspector CLI', async () => {
    // `@modelcontextprotocol/inspector --cli` only forwards to this package's CLI; 0.15.0's own bin
    // resolves a hoisted commander@2 (from pm2) and fails, so the inspector-cli bin is called directly.
    const inspector = join(ROOT, 'node_modules', '@modelcontextprotocol', 'inspector-cli', 'build', 'cli.js');
    const res = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
      const child = spawn(
        process.execPath,
        [inspector, '--cli', process.execPath, CLI, 'shim', '-e', `EXAI_WS_PORT=${spawned.port}`, '-e', `EXAI_WORKSPACE=${ws}`, '--method', 'tools/list'],
        { env: t.env, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      children.push(child);
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
      child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stdout, stderr }));
    });
    expect(res.code, res.stderr).toBe(0);
    const listed = JSON.parse(res.stdout) as { tools: { name: string }[] };
    expect(listed.tools.map((tool) => tool.name)).toContain('exai_status');
  });
});

describe('exai shim when the daemon goes away or is not there', () => {
  it('answers calls in flight with an error promptly when the daemon is stopped (no hang)', async () => {
    const ws = t.workspace('stopper');
    writeServers(ws, { everything: everythingEntry() });
    const spawned = await spawnWorkspace(ws);
    const client = await shimClient(spawned.port, ws);
    await waitFor(async () => (((await status(client)).upstreams as UpstreamStatus[]).some((u) => u.name === 'everything' && u.state === 'up') ? true : undefined), {
      what: 'server-everything up',
      timeoutMs: 60_000,
    });
    // A call that runs for a minute is in flight at the daemon for certain once a ping sent
    // after it is answered (one ordered connection). A graceful daemon answers quick requests
    // before it closes, so a ping storm alone may have none in flight at the stop.
    const failures: unknown[] = [];
    const long = client
      .callTool({ name: 'everything__trigger-long-running-operation', arguments: { duration: 60, steps: 1 } }, undefined, { timeout: 30_000 })
      .then(
        () => failures.push(new Error('the minute-long call was answered')),
        (err: unknown) => failures.push(err),
      );
    await client.ping();
    const stopped = await runPm2(['stop', spawned.name], t.env);
    expect(stopped.code, stopped.stderr).toBe(0);
    await long;
    expect(failures).toHaveLength(1);
    for (const err of failures) {
      // -32001 would be the SDK's own request timeout: the shim would have left the call hanging.
      expect(err).toBeInstanceOf(McpError);
      expect((err as McpError).code).toBe(-32000);
      expect((err as McpError).message).toMatch(/connection to the workspace daemon was lost/);
    }
  }, 120_000);

  it('starts a stopped daemon for the first call and answers it', async () => {
    const ws = t.workspace('sleepy');
    const spawned = await spawnWorkspace(ws);
    const stopped = await runCli(['stop', '--workspace', ws], t.env);
    expect(stopped.code, stopped.stderr).toBe(0);
    expect((await pm2Status(spawned.name))?.status).toBe('stopped');
    const client = await shimClient(spawned.port, ws);
    const s = await status(client);
    expect(s).toMatchObject({ id: spawned.id, port: spawned.port });
    expect(isAlive(s.pid)).toBe(true);
    expect(await pm2Status(spawned.name)).toEqual({ status: 'online', pid: s.pid });
  });

  it('after `exai remove`, answers the next request at once that the workspace was removed, and serves again after `exai spawn`', async () => {
    const ws = t.workspace('removed');
    const spawned = await spawnWorkspace(ws);
    const transport = shimTransport(t.env, spawned.port, ws);
    let shimStderr = '';
    transport.stderr?.on('data', (d: Buffer) => (shimStderr += d.toString()));
    const client = new Client({ name: 'shim-e2e', version: '1.0.0' });
    clients.push(client);
    await client.connect(transport);
    expect((await status(client)).id).toBe(spawned.id);

    const removed = await runCli(['remove', '--workspace', ws], t.env);
    expect(removed.code, removed.stderr).toBe(0);
    // The shim learns of it when its connection drops (remove stops the daemon before it
    // returns); the next request must not wait 30 s.
    await waitFor(() => (shimStderr.includes('lost the connection to the daemon') ? true : undefined), { what: 'the shim to see its daemon go' });
    const expected = `workspace ${ws} was removed from exai (exai remove); run \`exai spawn --workspace ${shellArg(ws)}\` to bring it back`;
    for (let i = 0; i < 2; i++) {
      const started = Date.now();
      const err = await status(client).then(
        () => new Error('exai_status was answered by a removed workspace'),
        (e: unknown) => e,
      );
      const tookMs = Date.now() - started;
      expect(err).toBeInstanceOf(McpError);
      expect((err as McpError).code).toBe(-32000);
      expect((err as McpError).message).toContain(expected);
      expect(tookMs).toBeLessThan(1_000);
    }
    expect(shimStderr).toContain(expected);
    // Nothing started it again behind the user's back.
    expect(new Registry(t.home).get(spawned.id)).toBeUndefined();
    expect(await pm2Status(spawned.name)).toBeUndefined();

    // Brought back, the same shim and session serve again.
    const again = await spawnWorkspace(ws);
    const back = await waitFor(() => status(client), { what: 'the shim to reach the workspace spawned again', timeoutMs: 30_000, intervalMs: 200 });
    expect(back).toMatchObject({ id: spawned.id, port: again.port });
  });

  it('starts a never-spawned workspace on the free port its client config names', async () => {
    const ws = t.workspace('fresh');
    const id = resolveWorkspace(ws).id;
    expect(new Registry(t.home).get(id)).toBeUndefined();
    // Not a candidate port (base + k * stride): the daemon can only be there because the config said so.
    const hint = t.portBase + 5;
    const client = await shimClient(hint, ws);
    const s = await status(client);
    const entry = new Registry(t.home).get(id);
    expect(entry).toBeDefined();
    expect(s).toMatchObject({ id, port: hint });
    expect(entry!.port).toBe(hint);
    expect((await pm2Status(entry!.name))?.status).toBe('online');
    // Self-start serves the client that launched the shim; it writes no client config of its own.
    expect(existsSync(join(ws, '.vscode', 'mcp.json'))).toBe(false);
  });
});
