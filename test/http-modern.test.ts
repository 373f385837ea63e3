/**
 * 2026-07-28 over Streamable HTTP (issue 23): the real SDK v2 client's Streamable HTTP
 * transport pinned to 2026-07-28, with the bearer header, to an in-process daemon serving the
 * SDK v2 fixture servers of both eras. No Mcp-Session-Id: every request its own POST.
 */
import { Client as ClientV2, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, type RunningDaemon } from '../src/daemon/run.js';
import { MAX_PAYLOAD } from '../src/transport/constants.js';
import { dualEntry, modernEntry } from './helpers/eras.js';
import { makeTestEnv, waitFor, type TestEnv } from './helpers/env.js';
import { MCP_POST_HEADERS, rawHttp } from './http-helpers.js';
import { textOf, writeServers } from './upstreams-helpers.js';

let t: TestEnv;
let daemon: RunningDaemon;
let workspace: string;
const open: ClientV2[] = [];

async function connectModern(port: number, token: string, onElicit?: () => { action: 'accept'; content: Record<string, string> }): Promise<ClientV2> {
  const transport = new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${port}/mcp`), {
    requestInit: { headers: { Authorization: `Bearer ${token}` } },
  });
  const client = new ClientV2({ name: 'v2-http', version: '0.0.0' }, { versionNegotiation: { mode: { pin: '2026-07-28' } }, capabilities: onElicit ? { elicitation: { form: {} } } : {} });
  if (onElicit) client.setRequestHandler('elicitation/create', async () => onElicit());
  await client.connect(transport);
  open.push(client);
  return client;
}

beforeAll(async () => {
  t = makeTestEnv();
  workspace = t.workspace('http-modern');
  writeServers(workspace, { modern: modernEntry(), old: dualEntry({ protocol: '2025-11-25' }) });
  daemon = await startDaemon({ workspace, home: t.home, port: t.portBase + 1, heartbeatMs: 500 });
});

afterAll(async () => {
  await Promise.all(open.map((c) => c.close().catch(() => undefined)));
  await daemon?.close();
  await t.cleanup();
});

describe('a 2026-07-28 client over Streamable HTTP', () => {
  it('discovers, lists and calls built-in and upstream tools with no session id', async () => {
    const c = await connectModern(daemon.port, daemon.token);
    expect(c.getNegotiatedProtocolVersion()).toBe('2026-07-28');
    const names = (await c.listTools()).tools.map((tool) => tool.name);
    expect(names).toEqual(expect.arrayContaining(['exai_status', 'modern__echo', 'old__echo']));
    expect(textOf(await c.callTool({ name: 'modern__echo', arguments: { text: 'h' } }))).toBe('modern-fixture (modern) echo: h');
    expect(textOf(await c.callTool({ name: 'old__echo', arguments: { text: 'o' } }))).toContain('echo: o');
    const status = (await c.callTool({ name: 'exai_status', arguments: {} })).structuredContent as { sessionsByTransport: { http: number } };
    expect(status.sessionsByTransport.http).toBeGreaterThanOrEqual(1);
  });

  it('gets progress on the call\'s own stream and cancels a call by closing it', async () => {
    const c = await connectModern(daemon.port, daemon.token);
    for (const server of ['modern', 'old']) {
      const progress: number[] = [];
      const done = await c.callTool({ name: `${server}__slow`, arguments: { steps: 3, ms: 300 } }, { onprogress: (p) => progress.push(p.progress) });
      expect(textOf(done)).toBe('slept 300');
      expect(progress).toEqual([1, 2, 3]);
    }
    const controller = new AbortController();
    let started!: () => void;
    const reached = new Promise<void>((resolve) => (started = resolve));
    const call = c.callTool({ name: 'old__slow', arguments: { steps: 1, ms: 60_000 } }, { signal: controller.signal, onprogress: () => started() });
    await reached;
    controller.abort('stop');
    await expect(call).rejects.toThrow();
    await waitFor(
      async () => {
        const status = await c.callTool({ name: 'exai_status', arguments: {} });
        const u = (status.structuredContent as { upstreams: { name: string; stderrTail: string[] }[] }).upstreams.find((x) => x.name === 'old');
        return u?.stderrTail.some((l) => l.endsWith('slow was cancelled')) ? true : undefined;
      },
      { what: 'the upstream to see the cancel' },
    );
  });

  it('answers elicitations of servers of both eras through input_required', async () => {
    let asked = 0;
    const c = await connectModern(daemon.port, daemon.token, () => {
      asked++;
      return { action: 'accept', content: { name: 'Ada' } };
    });
    expect(textOf(await c.callTool({ name: 'modern__ask', arguments: {} }))).toBe('hello Ada');
    expect(textOf(await c.callTool({ name: 'old__ask', arguments: {} }))).toBe('hello Ada');
    expect(asked).toBe(2);
  });

  it('listens (subscriptions/listen) on a long-lived SSE response for resource updates', async () => {
    const c = await connectModern(daemon.port, daemon.token);
    const updates: string[] = [];
    c.setNotificationHandler('notifications/resources/updated', (n) => void updates.push(n.params.uri));
    const listening = await c.listen({ resourceSubscriptions: ['fx://counter'] });
    expect(listening.honoredFilter).toEqual({ resourceSubscriptions: ['fx://counter'] });
    await c.callTool({ name: 'modern__bump', arguments: {} });
    await waitFor(() => (updates.length > 0 ? true : undefined), { what: 'the resource update' });
    expect(updates[0]).toBe('fx://counter');
    await listening.close();
  });

  it('serves clients side by side with no cross-talk (same request ids, progress tokens and envelopes)', async () => {
    const [a, b] = await Promise.all([connectModern(daemon.port, daemon.token), connectModern(daemon.port, daemon.token)]);
    const progress: Record<string, number[]> = { a: [], b: [] };
    const [ra, rb, rc] = await Promise.all([
      a.callTool({ name: 'modern__slow', arguments: { steps: 2, ms: 200 } }, { onprogress: (p) => progress.a?.push(p.progress) }),
      b.callTool({ name: 'old__slow', arguments: { steps: 3, ms: 250 } }, { onprogress: (p) => progress.b?.push(p.progress) }),
      b.callTool({ name: 'modern__echo', arguments: { text: 'b' } }),
    ]);
    expect([textOf(ra), textOf(rb), textOf(rc)]).toEqual(['slept 200', 'slept 250', 'modern-fixture (modern) echo: b']);
    expect(progress).toEqual({ a: [1, 2], b: [1, 2, 3] });
  });

  it('log messages come on the stream of the request that named a level, at that level and above', async () => {
    const c = await connectModern(daemon.port, daemon.token);
    const logged: string[] = [];
    c.setNotificationHandler('notifications/message', (n) => void logged.push(`${String(n.params.logger)}:${String(n.params.data)}`));
    const level = (l: string) => ({ 'io.modelcontextprotocol/logLevel': l });
    for (const server of ['modern', 'old']) {
      // The fixture logs at info: a call at info gets it on its own response (an SSE stream)...
      expect(textOf(await c.callTool({ name: `${server}__log`, arguments: { message: `${server}-info` }, _meta: level('info') }))).toBe('logged');
      // ...one at error, or naming no level, does not.
      await c.callTool({ name: `${server}__log`, arguments: { message: `${server}-error` }, _meta: level('error') });
      await c.callTool({ name: `${server}__log`, arguments: { message: `${server}-none` } });
    }
    expect(logged).toEqual(['modern/fx:modern-info', 'old/fx:old-info']);
  });

  it('a body over 32 MiB gets 413 naming the limit, before it is read', async () => {
    const big = await rawHttp(daemon.port, 'POST', { ...MCP_POST_HEADERS, Authorization: `Bearer ${daemon.token}`, 'Content-Length': String(MAX_PAYLOAD + 1) });
    expect(big.status).toBe(413);
    expect(big.body).toContain(String(MAX_PAYLOAD));
  });

  it('refuses a request whose Mcp-Method or Mcp-Name disagrees with its body (400, -32020)', async () => {
    const meta = { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': {} };
    const body = JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'modern__echo', arguments: { text: 'x' }, _meta: meta } });
    const auth = { ...MCP_POST_HEADERS, Authorization: `Bearer ${daemon.token}`, 'MCP-Protocol-Version': '2026-07-28' };
    const wrongMethod = await rawHttp(daemon.port, 'POST', { ...auth, 'Mcp-Method': 'tools/list', 'Mcp-Name': 'modern__echo' }, body);
    expect(wrongMethod.status).toBe(400);
    expect(JSON.parse(wrongMethod.body)).toMatchObject({ id: 7, error: { code: -32020 } });
    const wrongName = await rawHttp(daemon.port, 'POST', { ...auth, 'Mcp-Method': 'tools/call', 'Mcp-Name': 'exai_status' }, body);
    expect(wrongName.status).toBe(400);
    expect(JSON.parse(wrongName.body).error.message).toMatch(/Mcp-Name/);
    const noName = await rawHttp(daemon.port, 'POST', { ...auth, 'Mcp-Method': 'tools/call' }, body);
    expect(noName.status).toBe(400);
    // Base64 sentinel form of the same name: served (a single JSON answer: no progress asked).
    const ok = await rawHttp(daemon.port, 'POST', { ...auth, 'Mcp-Method': 'tools/call', 'Mcp-Name': `=?base64?${Buffer.from('modern__echo').toString('base64')}?=` }, body);
    expect(ok.status).toBe(200);
    expect(ok.headers['content-type']).toBe('application/json');
    expect(JSON.parse(ok.body)).toMatchObject({ id: 7, result: { resultType: 'complete', content: [{ text: 'modern-fixture (modern) echo: x' }] } });
    const noToken = await rawHttp(daemon.port, 'POST', { ...MCP_POST_HEADERS, 'Mcp-Method': 'tools/call' }, body);
    expect(noToken.status).toBe(401);
  });
});

describe('a daemon restart under a 2026-07-28 HTTP client', () => {
  it('the client goes on with nothing to replay; a listen stream is cut', async () => {
    const ws2 = t.workspace('http-modern-restart');
    writeServers(ws2, { modern: modernEntry() });
    const port = t.portBase + 2;
    let d = await startDaemon({ workspace: ws2, home: t.home, port, heartbeatMs: 500 });
    try {
      const c = await connectModern(port, d.token);
      const listening = await c.listen({ resourceSubscriptions: ['fx://counter'] });
      expect(textOf(await c.callTool({ name: 'modern__echo', arguments: { text: 'a' } }))).toBe('modern-fixture (modern) echo: a');
      await d.close();
      d = await startDaemon({ workspace: ws2, home: t.home, port, heartbeatMs: 500 });
      expect(textOf(await c.callTool({ name: 'modern__echo', arguments: { text: 'b' } }))).toBe('modern-fixture (modern) echo: b');
      await listening.close().catch(() => undefined);
    } finally {
      await d.close();
    }
  });
});
