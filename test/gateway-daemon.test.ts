/**
 * Issue 6 end to end: a real `exai daemon` process hosting server-everything, server-filesystem
 * and a fixture server from `.exai/servers.json`, reached by real SDK clients through real
 * `exai shim` processes (stdio -> WebSocket -> daemon -> stdio upstream). The last test runs the
 * same chain under pm2 via `exai spawn`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import {
  CallToolResultSchema,
  CreateMessageRequestSchema,
  type JSONRPCMessage,
} from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveWorkspace } from '../src/workspace/identity.js';
import type { UpstreamStatus } from '../src/daemon/upstreams/upstream.js';
import type { ExaiStatus } from '../src/daemon/builtins.js';
import { CLI, ROOT, childExit, makeTestEnv, runCli, shimTransport, waitFor, type TestEnv } from './helpers/env.js';
import {
  everythingEntry,
  filesystemEntry,
  fixtureEntry,
  methods,
  recordMessages,
  textOf,
  writeFixtureServer,
  waitReached,
  writeServers,
} from './upstreams-helpers.js';
import { isAlive } from './helpers/daemon.js';
import { exaiStatus } from './helpers/mcp-client.js';

const STUBBORN = join(ROOT, 'test', 'fixtures', 'stubborn-server.mjs');
const MiB = 1024 * 1024;

let t: TestEnv;
let fixture: string;
const clients: Client[] = [];
const daemons: ChildProcess[] = [];

interface Daemon {
  child: ChildProcess;
  port: number;
  workspace: string;
  stderr(): string;
}

/** `exai daemon` as a child process, the way pm2 runs it (ready over IPC). */
function startDaemon(workspace: string, port: number): Promise<Daemon> {
  const child = spawn(process.execPath, [CLI, 'daemon'], {
    env: { ...t.env, EXAI_WS_PORT: String(port), EXAI_WORKSPACE: workspace },
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  daemons.push(child);
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  return new Promise((resolve, reject) => {
    child.on('message', (m) => m === 'ready' && resolve({ child, port, workspace, stderr: () => stderr }));
    child.on('exit', (code) => reject(new Error(`daemon exited with ${code}: ${stderr}`)));
  });
}

interface ShimSession {
  client: Client;
  received: JSONRPCMessage[];
}

/** A real SDK client that launches `exai shim`, as VS Code does from .vscode/mcp.json. */
async function shimSession(
  daemon: { port: number; workspace: string },
  options: { sampling?: string } = {},
): Promise<ShimSession> {
  const transport = shimTransport(t.env, daemon.port, daemon.workspace);
  const client = new Client({ name: 'gateway-e2e', version: '1.0.0' }, { capabilities: options.sampling ? { sampling: {} } : {} });
  if (options.sampling) {
    const answer = options.sampling;
    client.setRequestHandler(CreateMessageRequestSchema, () => ({
      role: 'assistant' as const,
      model: 'e2e-model',
      content: { type: 'text' as const, text: answer },
    }));
  }
  clients.push(client);
  await client.connect(transport);
  const received = recordMessages(transport);
  return { client, received };
}

/** `exai_status`, with its upstreams (typed loosely in the source) as the daemon reports them. */
interface Status extends ExaiStatus {
  upstreams: UpstreamStatus[];
}
const status = (client: Client) => exaiStatus<Status>(client);

async function upstream(client: Client, name: string): Promise<UpstreamStatus | undefined> {
  return (await status(client)).upstreams.find((u) => u.name === name);
}

/** `sh -c "node stubborn.mjs; true"`, the server ignoring SIGTERM: a tree only a group kill ends. */
const wrappedStubborn = () => ({
  command: 'sh',
  args: ['-c', `${JSON.stringify(process.execPath)} ${JSON.stringify(STUBBORN)}; true`],
  env: { STUBBORN_IGNORE_SIGTERM: '1' },
});

/** The pids of an upstream's tree: the wrapper exai started and the server it started (from its stderr). */
async function treeOf(client: Client, name: string): Promise<number[]> {
  return waitFor(async () => {
    const u = await upstream(client, name);
    const line = [...(u?.stderrTail ?? [])].reverse().find((l) => l.startsWith('stubborn: ready pid '));
    return u?.state === 'up' && u.pid && line ? [u.pid, Number(line.split(' ').pop())] : undefined;
  }, { what: `${name} to be up`, timeoutMs: 30_000, intervalMs: 200 });
}

let daemon: Daemon;
let workspace: string;

beforeAll(async () => {
  t = makeTestEnv();
  fixture = writeFixtureServer(t.dir);
  workspace = resolveWorkspace(t.workspace('e2e')).path;
  writeFileSync(join(workspace, 'notes.md'), '# notes\nfilesystem read through exai\n');
  writeServers(workspace, {
    everything: everythingEntry(),
    fs: filesystemEntry(workspace),
    fx: fixtureEntry(fixture),
    big: { command: process.execPath, args: [STUBBORN] },
  });
  // Not a spawn candidate (base + k * stride), so the pm2 test below cannot collide with it.
  daemon = await startDaemon(workspace, t.portBase + 7);
});

afterAll(async () => {
  for (const client of clients) await client.close().catch(() => undefined);
  for (const child of daemons) if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  await Promise.all(daemons.map((c) => childExit(c)));
  await t?.cleanup();
});

describe('upstreams through exai shim -> daemon', () => {
  it('lists both tool sets, prefixed, next to the built-ins; exai_status reports the upstreams', async () => {
    const { client } = await shimSession(daemon);
    const names = (await client.listTools()).tools.map((x) => x.name);
    expect(names).toContain('exai_status');
    expect(names).toEqual(expect.arrayContaining(['everything__echo', 'everything__get-sum', 'fs__read_text_file', 'fs__list_directory']));
    expect(names.filter((n) => !n.includes('__'))).toEqual(['exai_status']);
    const s = await status(client);
    expect(s).not.toHaveProperty('upstreamsConfigError');
    expect(s.upstreams.map((u) => [u.name, u.state])).toEqual([
      ['everything', 'up'],
      ['fs', 'up'],
      ['fx', 'up'],
      ['big', 'up'],
    ]);
    for (const u of s.upstreams) {
      expect(u.pid).toBeTypeOf('number');
      expect(u.tools).toBeGreaterThan(0);
    }
  });

  it('runs echo, get-sum and a filesystem read', async () => {
    const { client } = await shimSession(daemon);
    expect(textOf(await client.callTool({ name: 'everything__echo', arguments: { message: 'through the shim' } }))).toBe(
      'Echo: through the shim',
    );
    expect(textOf(await client.callTool({ name: 'everything__get-sum', arguments: { a: 19, b: 23 } }))).toContain('is 42');
    const read = await client.callTool({ name: 'fs__read_text_file', arguments: { path: join(workspace, 'notes.md') } });
    expect(textOf(read)).toContain('filesystem read through exai');
  });

  it('sends progress of a long-running operation to the caller and no other session', async () => {
    const caller = await shimSession(daemon);
    const bystander = await shimSession(daemon);
    await bystander.client.listTools();
    const progress: number[] = [];
    const result = await caller.client.callTool(
      { name: 'everything__trigger-long-running-operation', arguments: { duration: 1, steps: 4 } },
      CallToolResultSchema,
      { onprogress: (p) => progress.push(p.progress) },
    );
    expect(textOf(result)).toContain('completed');
    // On the wire the caller gets all four, under one token (the one it chose: its SDK matched
    // them to the call). The SDK client itself often drops the last one when it arrives in the
    // same stdout chunk as the result (it does the same talking to server-everything directly).
    const wire = caller.received.flatMap((m) => ('method' in m && m.method === 'notifications/progress' ? [m.params] : []));
    expect(wire.map((p) => p?.progress)).toEqual([1, 2, 3, 4]);
    expect(new Set(wire.map((p) => p?.progressToken)).size).toBe(1);
    expect(progress.length).toBeGreaterThanOrEqual(3);
    expect(progress).toEqual([1, 2, 3, 4].slice(0, progress.length));
    expect(methods(bystander.received)).not.toContain('notifications/progress');
  });

  it("sends server-everything's sampling request to a client that declared sampling, and returns its answer", async () => {
    const { client } = await shimSession(daemon, { sampling: 'a sampled answer from the editor' });
    const result = await client.callTool({ name: 'everything__trigger-sampling-request', arguments: { prompt: 'hello', maxTokens: 10 } });
    expect(textOf(result)).toContain('a sampled answer from the editor');
    expect(textOf(result)).toContain('e2e-model');
  });

  it('gives two sessions calling at once their own results', async () => {
    const a = await shimSession(daemon);
    const b = await shimSession(daemon);
    const run = (s: ShimSession, tag: string) =>
      Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          s.client.callTool({ name: i % 2 ? 'everything__echo' : 'fx__wait', arguments: i % 2 ? { message: `${tag}${i}` } : { ms: i } }),
        ),
      ).then((rs) => rs.map(textOf));
    const [ra, rb] = await Promise.all([run(a, 'a'), run(b, 'b')]);
    const expected = (tag: string) => Array.from({ length: 20 }, (_, i) => (i % 2 ? `Echo: ${tag}${i}` : `waited ${i}`));
    expect(ra).toEqual(expected('a'));
    expect(rb).toEqual(expected('b'));
  });

  it('carries a 10.5 MiB result through the shim; one over 32 MiB fails alone and the upstream keeps running', async () => {
    const { client } = await shimSession(daemon);
    const before = (await upstream(client, 'big'))!;
    const result = await client.callTool({ name: 'big__big', arguments: { bytes: 10.5 * MiB } }, CallToolResultSchema, { timeout: 60_000 });
    expect(textOf(result)).toHaveLength(10.5 * MiB);
    await expect(client.callTool({ name: 'big__big', arguments: { bytes: 33 * MiB } }, CallToolResultSchema, { timeout: 60_000 })).rejects.toThrow(
      /more than the 32 MiB limit of exai; only this request failed/,
    );
    expect(await upstream(client, 'big')).toMatchObject({ state: 'up', pid: before.pid, restarts: before.restarts, lastError: null });
    // The SDK client joins every chunk of a large message to all before it: seconds for 10 MiB on a busy machine.
  }, 120_000);

  it('brings a killed upstream back; meanwhile calls fail fast instead of hanging', async () => {
    const { client, received } = await shimSession(daemon);
    const before = (await upstream(client, 'fx'))!;
    const inFlight = client.callTool({ name: 'fx__wait', arguments: { ms: 120_001 } });
    await waitFor(async () => waitReached(await upstream(client, 'fx'), 120_001), { what: 'the call to reach the fixture' });
    const mark = received.length;
    process.kill(before.pid!, 'SIGKILL');
    await expect(inFlight).rejects.toThrow(/upstream server "fx" exited during the call/);
    await waitFor(() => (methods(received.slice(mark)).includes('notifications/tools/list_changed') ? true : undefined), {
      what: 'tools/list_changed after the upstream died',
    });
    const back = await waitFor(
      async () => {
        const fx = await upstream(client, 'fx');
        return fx?.state === 'up' && fx.pid !== before.pid ? fx : undefined;
      },
      { what: 'fx to be restarted', timeoutMs: 30_000, intervalMs: 200 },
    );
    expect(back.restarts).toBe(before.restarts + 1);
    expect(isAlive(before.pid!)).toBe(false);
    expect(textOf(await client.callTool({ name: 'fx__wait', arguments: { ms: 1 } }))).toBe('waited 1');
    expect((await client.listTools()).tools.map((x) => x.name)).toContain('fx__wait');
  });

  it('serves built-ins while servers.json is broken; upstream tools appear after the fix, without a daemon restart', async () => {
    const ws = resolveWorkspace(t.workspace('e2e-broken')).path;
    writeServers(ws, '{ "servers": { "everything": { "command": "node", "args": [ } }');
    const broken = await startDaemon(ws, t.portBase + 8);
    const { client, received } = await shimSession(broken);
    expect((await client.listTools()).tools.map((x) => x.name)).toEqual(['exai_status']);
    const s = await status(client);
    expect(s.upstreamsConfigError).toContain(join(ws, '.exai', 'servers.json'));
    expect(s.upstreams).toEqual([]);
    expect(broken.stderr()).toContain('servers.json');

    const mark = received.length;
    writeServers(ws, { everything: everythingEntry() });
    await waitFor(() => (methods(received.slice(mark)).includes('notifications/tools/list_changed') ? true : undefined), {
      what: 'tools/list_changed after the fix',
    });
    const names = (await client.listTools()).tools.map((x) => x.name);
    expect(names).toEqual(expect.arrayContaining(['exai_status', 'everything__echo']));
    expect(textOf(await client.callTool({ name: 'everything__echo', arguments: { message: 'fixed' } }))).toBe('Echo: fixed');
    expect((await status(client)).pid).toBe(broken.child.pid);
  });

  it('leaves no upstream behind when the daemon is killed with SIGKILL', async () => {
    const ws = resolveWorkspace(t.workspace('e2e-kill')).path;
    writeServers(ws, { everything: everythingEntry(), fs: filesystemEntry(ws) });
    const victim = await startDaemon(ws, t.portBase + 9);
    const { client } = await shimSession(victim);
    await client.listTools();
    const pids = (await status(client)).upstreams.map((u) => u.pid!);
    expect(pids).toHaveLength(2);
    expect(pids.every(isAlive)).toBe(true);
    victim.child.kill('SIGKILL');
    await childExit(victim.child);
    await waitFor(() => (pids.some(isAlive) ? undefined : true), { what: 'the upstreams to exit', timeoutMs: 15_000 });
  });
});

describe('under pm2', () => {
  it('exai spawn serves the upstreams; exai stop takes their processes down with the daemon', async () => {
    const ws = resolveWorkspace(t.workspace('e2e-pm2')).path;
    writeServers(ws, { everything: everythingEntry(), wrapped: wrappedStubborn() });
    const spawned = await runCli(['spawn', '--workspace', ws, '--no-config', '--json'], t.env);
    expect(spawned.code, spawned.stderr).toBe(0);
    const { port } = JSON.parse(spawned.stdout) as { port: number };
    const { client } = await shimSession({ port, workspace: ws });
    expect(textOf(await client.callTool({ name: 'everything__echo', arguments: { message: 'pm2' } }))).toBe('Echo: pm2');
    const pids = [(await upstream(client, 'everything'))!.pid!, ...(await treeOf(client, 'wrapped'))];
    expect(pids.every(isAlive)).toBe(true);
    const stopped = await runCli(['stop', '--workspace', ws, '--json'], t.env);
    expect(stopped.code, stopped.stderr).toBe(0);
    await waitFor(() => (pids.some(isAlive) ? undefined : true), { what: 'the upstreams, wrapper and server, to exit with their daemon', timeoutMs: 15_000 });
  });

  it('exai restart leaves nothing of the old upstream trees behind', async () => {
    const ws = resolveWorkspace(t.workspace('e2e-pm2-restart')).path;
    writeServers(ws, { wrapped: wrappedStubborn() });
    const spawned = await runCli(['spawn', '--workspace', ws, '--no-config', '--json'], t.env);
    expect(spawned.code, spawned.stderr).toBe(0);
    const { port } = JSON.parse(spawned.stdout) as { port: number };
    const { client } = await shimSession({ port, workspace: ws });
    const old = await treeOf(client, 'wrapped');
    const restarted = await runCli(['restart', '--workspace', ws, '--json'], t.env);
    expect(restarted.code, restarted.stderr).toBe(0);
    await waitFor(() => (old.some(isAlive) ? undefined : true), { what: 'the old wrapper and server to exit', timeoutMs: 15_000 });
    const fresh = await waitFor(async () => treeOf(client, 'wrapped').catch(() => undefined), { what: 'the new tree', timeoutMs: 30_000, intervalMs: 250 });
    expect(fresh.some((p) => old.includes(p))).toBe(false);
    await runCli(['stop', '--workspace', ws], t.env);
  });
});
