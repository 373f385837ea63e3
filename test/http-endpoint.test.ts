/**
 * Streamable HTTP on the daemon's /mcp (issue 23, 2025-11-25 sessions): real v1 SDK clients
 * over real sockets to an in-process daemon serving server-everything as an upstream.
 */
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { CallToolResultSchema, ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExaiStatus as Status } from '../src/daemon/builtins.js';
import { startDaemon, type RunningDaemon } from '../src/daemon/run.js';
import { MAX_PAYLOAD } from '../src/transport/constants.js';
import { getHealth } from './helpers/daemon.js';
import { makeTestEnv, waitFor, type TestEnv } from './helpers/env.js';
import { exaiStatus as status, connectClient } from './helpers/mcp-client.js';
import { connectHttp, INIT_BODY, MCP_POST_HEADERS, rawHttp } from './http-helpers.js';
import { everythingEntry, writeServers } from './upstreams-helpers.js';

let t: TestEnv;
let daemon: RunningDaemon;
let workspace: string;
const clients: Client[] = [];

const textOf = (r: unknown) => ((r as { content: { text: string }[] }).content[0]?.text ?? '');
async function http(name?: string) {
  const c = await connectHttp(daemon.port, daemon.token, name);
  clients.push(c.client);
  return c;
}

beforeAll(async () => {
  t = makeTestEnv();
  workspace = t.workspace('http');
  writeServers(workspace, { everything: everythingEntry() });
  daemon = await startDaemon({ workspace, home: t.home, port: 0, heartbeatMs: 500 });
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
  await daemon?.close();
  await t.cleanup();
});

describe('an SDK client over Streamable HTTP', () => {
  it('initializes, lists the built-in and upstream tools, and calls them; status and /health count it as http', async () => {
    const { client, transport } = await http();
    expect(client.getServerVersion()?.name).toBe('exai');
    expect(transport.sessionId).toMatch(/^[0-9a-f-]{36}$/);
    const names = (await client.listTools()).tools.map((x) => x.name);
    expect(names).toContain('exai_status');
    expect(names).toContain('everything__echo');
    expect(textOf(await client.callTool({ name: 'everything__echo', arguments: { message: 'over http' } }))).toBe('Echo: over http');

    const ws = await connectClient(daemon.port, daemon.token);
    clients.push(ws);
    const s = await status(client);
    expect(s.sessionsByTransport.http).toBeGreaterThanOrEqual(1);
    expect(s.sessionsByTransport.ws).toBeGreaterThanOrEqual(1);
    expect(s.sessions).toBe(s.sessionsByTransport.ws + s.sessionsByTransport.http);
    const health = await getHealth(daemon.port);
    expect(health.sessionsByTransport).toEqual(s.sessionsByTransport);
    expect(health.sessions).toBe(s.sessions);
  });

  it('progress comes on the call\'s own stream; a tools/list_changed on the session\'s GET stream', async () => {
    const { client } = await http('progress');
    const progress: number[] = [];
    const result = await client.callTool({ name: 'everything__trigger-long-running-operation', arguments: { duration: 1, steps: 3 } }, CallToolResultSchema, {
      onprogress: (p) => progress.push(p.progress),
    });
    expect(textOf(result)).toContain('completed');
    expect(progress).toEqual([1, 2, 3]);
    let changed = 0;
    client.setNotificationHandler(ToolListChangedNotificationSchema, () => void changed++);
    writeServers(workspace, { everything: everythingEntry(), second: everythingEntry() });
    await waitFor(() => changed > 0 || undefined, { what: 'tools/list_changed over HTTP', timeoutMs: 30_000 });
    await waitFor(async () => ((await client.listTools()).tools.some((x) => x.name === 'second__echo') ? true : undefined), { what: 'the new server\'s tools' });
  });

  it('DELETE ends the session: it is forgotten, and its id then gets 404', async () => {
    const { client, transport } = await http();
    const id = transport.sessionId!;
    expect(daemon.state.sessions.get(id)?.transport).toBe('http');
    await transport.terminateSession();
    await waitFor(() => !daemon.state.sessions.has(id) || undefined, { what: 'the session to close' });
    const reply = await rawHttp(daemon.port, 'POST', { ...MCP_POST_HEADERS, Authorization: `Bearer ${daemon.token}`, 'Mcp-Session-Id': id, 'MCP-Protocol-Version': '2025-11-25' }, JSON.stringify({ jsonrpc: '2.0', id: 5, method: 'ping' }));
    expect(reply.status).toBe(404);
    expect(JSON.parse(reply.body)).toMatchObject({ error: { code: -32001 } });
    await client.close();
  });

  it('serves many sessions at once with no cross-talk', async () => {
    const sessions = await Promise.all(Array.from({ length: 8 }, (_, i) => http(`c${i}`)));
    const results = await Promise.all(
      sessions.map(({ client }, i) =>
        Promise.all(Array.from({ length: 10 }, (_, j) => client.callTool({ name: 'everything__echo', arguments: { message: `s${i}-${j}` } }).then(textOf))),
      ),
    );
    results.forEach((texts, i) => expect(texts).toEqual(Array.from({ length: 10 }, (_, j) => `Echo: s${i}-${j}`)));
    expect(new Set(sessions.map((s) => s.transport.sessionId)).size).toBe(8);
  });

  it('a request over 32 MiB fails alone (413 naming the limit); the session goes on', async () => {
    const { client } = await http();
    const big = 'x'.repeat(MAX_PAYLOAD + 1);
    await expect(client.callTool({ name: 'everything__echo', arguments: { message: big } })).rejects.toThrow(new RegExp(`${MAX_PAYLOAD} bytes`));
    expect(textOf(await client.callTool({ name: 'everything__echo', arguments: { message: 'still here' } }))).toBe('Echo: still here');
    // Also as a session's first message: refused, no session made.
    const before = daemon.state.counters.sessionsOpened;
    const reply = await rawHttp(daemon.port, 'POST', { ...MCP_POST_HEADERS, Authorization: `Bearer ${daemon.token}` }, Buffer.alloc(MAX_PAYLOAD + 10, 0x20));
    expect(reply.status).toBe(413);
    expect(daemon.state.counters.sessionsOpened).toBe(before);
  });
});

describe('refusals (the WebSocket rules)', () => {
  const auth = () => ({ Authorization: `Bearer ${daemon.token}` });

  it('401 with no or a wrong token, answered before the body is read', async () => {
    const none = await rawHttp(daemon.port, 'POST', MCP_POST_HEADERS, INIT_BODY);
    expect(none.status).toBe(401);
    expect(none.headers['www-authenticate']).toBe('Bearer');
    const wrong = await rawHttp(daemon.port, 'POST', { ...MCP_POST_HEADERS, Authorization: 'Bearer nope' }, INIT_BODY);
    expect(wrong.status).toBe(401);
    expect(wrong.body).not.toContain(daemon.token);
    // A body declared at 1 GiB and never sent: the answer comes anyway.
    const unread = await new Promise<number>((resolve, reject) => {
      import('node:http').then(({ request }) => {
        const req = request({ host: '127.0.0.1', port: daemon.port, path: '/mcp', method: 'POST', headers: { Host: `127.0.0.1:${daemon.port}`, ...MCP_POST_HEADERS, 'Content-Length': String(1024 ** 3) } }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
          req.destroy();
        });
        req.on('error', reject);
        req.write('{"jsonrpc"');
      }, reject);
    });
    expect(unread).toBe(401);
    for (const method of ['GET', 'DELETE']) expect((await rawHttp(daemon.port, method, {})).status).toBe(401);
  });

  it('403 for a foreign Origin or Host, even with the token', async () => {
    const origin = await rawHttp(daemon.port, 'POST', { ...MCP_POST_HEADERS, ...auth(), Origin: 'https://evil.example' }, INIT_BODY);
    expect(origin.status).toBe(403);
    const host = await rawHttp(daemon.port, 'POST', { ...MCP_POST_HEADERS, ...auth(), Host: `evil.example:${daemon.port}` }, INIT_BODY);
    expect(host.status).toBe(403);
    const loopbackOrigin = await rawHttp(daemon.port, 'POST', { ...MCP_POST_HEADERS, ...auth(), Origin: 'http://localhost:3000' }, INIT_BODY);
    expect(loopbackOrigin.status).toBe(200);
  });

  it('400 for a first POST that is not initialize, 404 for an unknown session id', async () => {
    const notInit = await rawHttp(daemon.port, 'POST', { ...MCP_POST_HEADERS, ...auth() }, JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }));
    expect(notInit.status).toBe(400);
    const unknown = await rawHttp(daemon.port, 'GET', { ...auth(), Accept: 'text/event-stream', 'Mcp-Session-Id': 'no-such-session' });
    expect(unknown.status).toBe(404);
  });
});

describe('how answers travel (the lean transport)', () => {
  const auth = () => ({ Authorization: `Bearer ${daemon.token}` });
  it('an answer with nothing before it is one JSON body; a notification alone gets 202; a wrong protocol version 400', async () => {
    const init = await rawHttp(daemon.port, 'POST', { ...MCP_POST_HEADERS, ...auth() }, INIT_BODY);
    expect(init.status).toBe(200);
    expect(init.headers['content-type'], init.body).toBe('application/json');
    const id = init.headers['mcp-session-id'] as string;
    expect(JSON.parse(init.body)).toMatchObject({ id: 1, result: { serverInfo: { name: 'exai' } } });
    const session = { ...MCP_POST_HEADERS, ...auth(), 'Mcp-Session-Id': id, 'MCP-Protocol-Version': '2025-11-25' };
    const initialized = await rawHttp(daemon.port, 'POST', session, JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }));
    expect(initialized.status).toBe(202);
    const call = await rawHttp(daemon.port, 'POST', session, JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'exai_status', arguments: {} } }));
    expect(call.headers['content-type']).toBe('application/json');
    expect(JSON.parse(call.body).result.structuredContent.pid).toBe(process.pid);
    const wrong = await rawHttp(daemon.port, 'POST', { ...session, 'MCP-Protocol-Version': '1999-01-01' }, JSON.stringify({ jsonrpc: '2.0', id: 3, method: 'tools/list' }));
    expect(wrong.status).toBe(400);
    expect(wrong.body).toMatch(/Unsupported protocol version/);
    const gone = await rawHttp(daemon.port, 'DELETE', { ...auth(), 'Mcp-Session-Id': id });
    expect(gone.status).toBe(200);
  });
});

describe('a client that goes away without DELETE', () => {
  it('its session expires after the quiet period; one with its GET stream open stays', async () => {
    const workspace = t.workspace('expiry');
    const short = await startDaemon({ workspace, home: t.home, port: 0, heartbeatMs: 500, httpSessionIdleMs: 400 });
    try {
      const stays = await connectHttp(short.port, short.token, 'stays');
      const leaves = await connectHttp(short.port, short.token, 'leaves');
      const stayId = stays.transport.sessionId!;
      const leaveId = leaves.transport.sessionId!;
      // The SDK client holds the GET stream open once initialized: wait for it to be there.
      // Gone without DELETE: the client closes its connections (a crashed process does too).
      await leaves.client.close();
      await waitFor(() => !short.state.sessions.has(leaveId) || undefined, { what: 'the abandoned session to expire', timeoutMs: 15_000 });
      // The one that stays with its GET stream open was quiet as long, and is still served.
      expect(short.state.sessions.has(stayId)).toBe(true);
      expect((await status(stays.client)).sessionsByTransport.http).toBe(1);
      await stays.client.close();
    } finally {
      await short.close();
    }
  });
});

describe('a daemon restart under an HTTP client', () => {
  it('the old session id gets 404; the client initializes again and goes on', async () => {
    const workspace = t.workspace('restart');
    const port = t.portBase + 3;
    let d = await startDaemon({ workspace, home: t.home, port, heartbeatMs: 500 });
    const first = await connectHttp(port, d.token);
    const oldId = first.transport.sessionId;
    await d.close();
    d = await startDaemon({ workspace, home: t.home, port, heartbeatMs: 500 });
    try {
      const err = await first.client.callTool({ name: 'exai_status', arguments: {} }).then(() => undefined, (e: unknown) => e as { code?: number; message: string });
      expect(err?.code).toBe(404);
      await first.client.close();
      const again = await connectHttp(port, d.token);
      expect(again.transport.sessionId).not.toBe(oldId);
      expect((await status(again.client)).pid).toBe(process.pid);
      await again.client.close();
    } finally {
      await d.close();
    }
  });
});
