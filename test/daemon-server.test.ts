import { connect, type Socket } from 'node:net';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startDaemon, type RunningDaemon } from '../src/daemon/run.js';
import { MAX_PAYLOAD } from '../src/transport/ws-server.js';
import { homeTag } from '../src/workspace/layout.js';
import type { ExaiStatus as Status } from '../src/daemon/builtins.js';
import { makeTestEnv, waitFor, type TestEnv } from './helpers/env.js';
import { exaiStatus as status, connectClient, handshake, httpGet, RawSession } from './helpers/mcp-client.js';

let t: TestEnv;
let daemon: RunningDaemon;
let workspace: string;
const clients: Client[] = [];

beforeAll(async () => {
  t = makeTestEnv();
  workspace = t.workspace('server');
  daemon = await startDaemon({ workspace, home: t.home, port: 0, heartbeatMs: 200, headersTimeoutMs: 1_000 });
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
  await daemon?.close();
  await t.cleanup();
});

describe('an SDK client over the WebSocket', () => {
  it('initializes, lists the built-in tool and calls exai_status', async () => {
    const client = await connectClient(daemon.port, daemon.token);
    clients.push(client);
    expect(client.getServerVersion()?.name).toBe('exai');
    const { tools } = await client.listTools();
    const tool = tools.find((x) => x.name === 'exai_status');
    expect(tool?.outputSchema).toBeDefined();

    const result = await client.callTool({ name: 'exai_status', arguments: {} });
    const s = result.structuredContent as unknown as Status;
    expect(s.workspace).toBe(workspace);
    expect(s.id).toMatch(/^[0-9a-f]{8}$/);
    // A temp EXAI_HOME tags the pm2 app name so two homes never share one.
    expect(s.name).toBe(`exai-server-${s.id}-${homeTag(t.home)}`);
    expect(s.port).toBe(daemon.port);
    expect(s.pid).toBe(process.pid);
    expect(s.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(s.uptimeMs).toBeGreaterThanOrEqual(0);
    expect(s.sessions).toBeGreaterThanOrEqual(1);
    expect(s.upstreams).toEqual([]);
    // The same facts as text, for clients that ignore structured content.
    const text = (result.content as { type: string; text: string }[])[0];
    expect(text?.type).toBe('text');
    expect(JSON.parse(text?.text ?? '')).toMatchObject({ workspace, id: s.id, port: s.port });
  });

  it('answers an unknown tool with an error, and the session stays usable', async () => {
    const client = await connectClient(daemon.port, daemon.token);
    clients.push(client);
    await expect(client.callTool({ name: 'no_such_tool', arguments: {} })).rejects.toThrow(/unknown tool/);
    expect((await status(client)).id).toBe(daemon.state.workspace.id);
  });

  it('GET /health reports the daemon, its port and its open sessions', async () => {
    const res = await httpGet(daemon.port, '/health');
    expect(res.status).toBe(200);
    const health = JSON.parse(res.body) as Record<string, unknown>;
    expect(health).toMatchObject({ ok: true, id: daemon.state.workspace.id, pid: process.pid, port: daemon.port, transports: ['ws', 'http'] });
    expect(health.sessions).toBe(daemon.state.sessions.size);
    expect(typeof health.version).toBe('string');
    expect(typeof health.uptimeMs).toBe('number');
    expect((await httpGet(daemon.port, '/nope')).status).toBe(404);
    expect((await httpGet(daemon.port, '/health', { Host: `evil.example:${daemon.port}` })).status).toBe(403);
    expect((await httpGet(daemon.port, '/health', { Origin: 'https://evil.example' })).status).toBe(403);
  });
});

describe('10 concurrent sessions', () => {
  it('each SDK client gets its own answers, with no stray message from another session', async () => {
    const errors: Error[] = [];
    const ten = await Promise.all(Array.from({ length: 10 }, (_, i) => connectClient(daemon.port, daemon.token, `c${i}`)));
    clients.push(...ten);
    for (const c of ten) c.onerror = (err) => errors.push(err);
    const open = daemon.state.sessions.size;
    expect(open).toBeGreaterThanOrEqual(10);
    const results = await Promise.all(
      ten.map(async (c) => {
        const calls = await Promise.all([status(c), c.listTools(), status(c), c.ping(), status(c)]);
        return calls;
      }),
    );
    for (const [first, tools, , , last] of results) {
      expect((first as Status).sessions).toBeGreaterThanOrEqual(10);
      expect((tools as { tools: unknown[] }).tools).toHaveLength(1);
      expect((last as Status).id).toBe(daemon.state.workspace.id);
    }
    // The SDK reports a response for an id it never sent as an error: there must be none.
    expect(errors).toEqual([]);
  });

  it('raw sessions using the same request ids each receive exactly their own replies', async () => {
    const sessions = await Promise.all(Array.from({ length: 10 }, () => RawSession.open(daemon.port, daemon.token)));
    await Promise.all(sessions.map((s) => s.initialize()));
    // Same ids in every session: a daemon that mixed sessions up would deliver twice or cross.
    await Promise.all(
      sessions.map(async (s, i) => {
        const replies = await Promise.all(
          Array.from({ length: 6 }, (_, k) =>
            s.request(k + 1, k % 2 === 0 ? 'tools/call' : 'ping', k % 2 === 0 ? { name: 'exai_status', arguments: {} } : undefined),
          ),
        );
        expect(replies).toHaveLength(6);
        return i;
      }),
    );
    // One ping more per session, so any late stray frame would have arrived before its reply.
    await Promise.all(sessions.map((s) => s.request('last', 'ping')));
    for (const s of sessions) {
      const ids = s.frames.map((f) => (f as { id?: unknown }).id);
      expect(ids.sort()).toEqual(['init', 1, 2, 3, 4, 5, 6, 'last'].sort());
    }
    await Promise.all(sessions.map((s) => s.close()));
  });
});

describe('handshake refusals', () => {
  it('no token: 401, no upgrade', async () => {
    const res = await handshake(daemon.port, {});
    expect(res.status).toBe(401);
  });

  it('wrong token: 401, no upgrade', async () => {
    const res = await handshake(daemon.port, { Authorization: `Bearer ${'0'.repeat(64)}` });
    expect(res.status).toBe(401);
    expect(res.body).not.toContain(daemon.token);
  });

  it('the right token upgrades (the control case)', async () => {
    expect((await handshake(daemon.port, { Authorization: `Bearer ${daemon.token}` })).status).toBe(101);
  });

  it('an evil Origin: 403 even with the right token; loopback origins pass', async () => {
    const auth = { Authorization: `Bearer ${daemon.token}` };
    expect((await handshake(daemon.port, { ...auth, Origin: 'https://evil.example' })).status).toBe(403);
    expect((await handshake(daemon.port, { ...auth, Origin: 'null' })).status).toBe(403);
    expect((await handshake(daemon.port, { ...auth, Origin: 'http://localhost:3000' })).status).toBe(101);
  });

  it('an evil Host (DNS rebinding): 403 even with the right token', async () => {
    const auth = { Authorization: `Bearer ${daemon.token}` };
    expect((await handshake(daemon.port, { ...auth, Host: `evil.example:${daemon.port}` })).status).toBe(403);
    expect((await handshake(daemon.port, { ...auth, Host: `127.0.0.1:${daemon.port + 1}` })).status).toBe(403);
    expect((await handshake(daemon.port, { ...auth, Host: `localhost:${daemon.port}` })).status).toBe(101);
    expect((await handshake(daemon.port, { ...auth, Host: `[::1]:${daemon.port}` })).status).toBe(101);
  });

  it('another path: 404; no mcp subprotocol: 400', async () => {
    const auth = { Authorization: `Bearer ${daemon.token}` };
    expect((await handshake(daemon.port, auth, '/other')).status).toBe(404);
    expect((await handshake(daemon.port, { ...auth, 'Sec-WebSocket-Protocol': 'chat' })).status).toBe(400);
  });

  it('a slowloris handshake is dropped by the server', async () => {
    const socket: Socket = connect(daemon.port, '127.0.0.1');
    socket.on('error', () => undefined);
    let answer = '';
    socket.setEncoding('utf8').on('data', (d: string) => (answer += d));
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write(`GET /mcp HTTP/1.1\r\nHost: 127.0.0.1:${daemon.port}\r\n`);
    // Never finish the headers: the daemon (headersTimeoutMs 1 s here) must hang up on its own.
    await new Promise((resolve) => socket.once('close', resolve));
    expect(answer).toMatch(/^HTTP\/1\.1 408/);
  });
});

describe('bad frames', () => {
  let s: RawSession;
  beforeAll(async () => {
    s = await RawSession.open(daemon.port, daemon.token);
    await s.initialize();
  });
  afterAll(() => s.close());

  it('a non-JSON frame gets -32700 and the connection stays usable', async () => {
    s.send('this is {not json');
    const err = (await s.waitFor((f) => (f as { error?: { code: number } }).error?.code === -32700)) as { id: unknown };
    expect(err.id).toBeNull();
    expect(await s.request('after-garbage', 'ping')).toMatchObject({ id: 'after-garbage', result: {} });
  });

  it('a batch array gets -32600 with id null', async () => {
    s.send([{ jsonrpc: '2.0', id: 'b1', method: 'ping' }]);
    const err = (await s.waitFor((f) => (f as { error?: { code: number } }).error?.code === -32600)) as { id: unknown };
    expect(err.id).toBeNull();
    expect(s.frames.some((f) => (f as { id?: unknown }).id === 'b1')).toBe(false);
    expect(await s.request('after-batch', 'ping')).toMatchObject({ result: {} });
  });

  it('JSON that is not JSON-RPC gets -32600 carrying its id; binary frames -32600 too', async () => {
    s.send({ id: 77, method: 5 });
    expect(await s.reply(77)).toMatchObject({ jsonrpc: '2.0', id: 77, error: { code: -32600 } });
    const before = s.frames.length;
    s.send(Buffer.from(JSON.stringify({ jsonrpc: '2.0', id: 'bin', method: 'ping' })), { binary: true });
    await s.waitFor((f) => s.frames.indexOf(f) >= before && (f as { error?: { code: number } }).error?.code === -32600);
    expect(await s.request('after-binary', 'ping')).toMatchObject({ result: {} });
  });

  it('an oversized frame closes that connection with 1009; the daemon keeps serving others', async () => {
    const victim = await RawSession.open(daemon.port, daemon.token);
    victim.send('x'.repeat(MAX_PAYLOAD + 1));
    expect((await victim.closed).code).toBe(1009);
    expect(await s.request('after-oversize', 'ping')).toMatchObject({ result: {} });
    const client = await connectClient(daemon.port, daemon.token);
    clients.push(client);
    expect((await status(client)).port).toBe(daemon.port);
  });

  it('a 5 MB message is carried (the shim needs it)', async () => {
    const big = 'y'.repeat(5 * 1024 * 1024);
    const reply = await s.request('big', 'tools/call', { name: 'exai_status', arguments: { padding: big } });
    expect(reply).toMatchObject({ id: 'big', result: { structuredContent: { port: daemon.port } } });
  });
});

describe('peers that vanish', () => {
  it('clients dropping mid-request harm no other session', async () => {
    const survivor = await connectClient(daemon.port, daemon.token);
    clients.push(survivor);
    const before = daemon.state.sessions.size;
    const vanishing = await Promise.all(Array.from({ length: 20 }, () => RawSession.open(daemon.port, daemon.token)));
    await Promise.all(vanishing.map((v) => v.initialize()));
    const survivorCalls = Promise.all(Array.from({ length: 20 }, () => status(survivor)));
    for (const v of vanishing) {
      v.send({ jsonrpc: '2.0', id: 'gone', method: 'tools/call', params: { name: 'exai_status', arguments: {} } });
      v.ws.terminate();
    }
    const results = await survivorCalls;
    expect(results.every((r) => r.id === daemon.state.workspace.id)).toBe(true);
    await waitFor(() => (daemon.state.sessions.size === before ? true : undefined), { what: 'vanished sessions to be forgotten' });
    expect((await status(survivor)).sessions).toBe(before);
  });

  it('a peer that stops answering pings is dropped by the heartbeat', async () => {
    const before = daemon.state.sessions.size;
    const dead = await RawSession.open(daemon.port, daemon.token);
    await waitFor(() => (daemon.state.sessions.size === before + 1 ? true : undefined), { what: 'the session to open' });
    // A paused socket reads nothing, so it answers no ping: a frozen or vanished machine.
    (dead.ws as WebSocket & { _socket: Socket })._socket.pause();
    await waitFor(() => (daemon.state.sessions.size === before ? true : undefined), { what: 'the heartbeat to drop the dead peer' });
    dead.ws.terminate();
  });
});

describe('long-lived sessions', () => {
  it('an upgraded session outlives the handshake timeouts', async () => {
    const strict = await startDaemon({ workspace: t.workspace('strict'), home: t.home, port: 0, headersTimeoutMs: 100 });
    try {
      const s = await RawSession.open(strict.port, strict.token);
      await s.initialize();
      // Many times the header and request timeouts (100 ms / 200 ms) and their checking interval.
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      expect(await s.request('later', 'ping')).toMatchObject({ result: {} });
      await s.close();
    } finally {
      await strict.close();
    }
  });
});

describe('shutdown', () => {
  it('close() ends every session with 1001 and frees the port', async () => {
    const other = await startDaemon({ workspace: t.workspace('closing'), home: t.home, port: 0 });
    const a = await RawSession.open(other.port, other.token);
    const b = await RawSession.open(other.port, other.token);
    await a.initialize();
    await other.close();
    expect((await a.closed).code).toBe(1001);
    expect((await b.closed).code).toBe(1001);
    await expect(httpGet(other.port, '/health')).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });
});
