/**
 * Resumability of 2025-11-25 HTTP sessions (issue 23): the real v1 SDK client, whose SSE
 * streams are cut under it, comes back by itself with GET and `Last-Event-ID` and gets what it
 * missed. The cut is made in the client's `fetch` (the transport's own option): the response
 * body the client reads fails as on a network drop, and either the bytes the daemon goes on
 * writing are read and thrown away (lost in transit, the daemon does not notice) or the
 * connection is closed (the daemon notices). New requests wait until the test lets them through.
 * Also the keep-alive beat that keeps Node's fetch from giving up on a long call (both eras).
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CallToolResultSchema, LoggingMessageNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, type RunningDaemon } from '../src/daemon/run.js';
import { SessionEventStore } from '../src/daemon/http/event-store.js';
import { dualEntry } from './helpers/eras.js';
import { makeTestEnv, waitFor, type TestEnv } from './helpers/env.js';
import { connectHttp, INIT_BODY, MCP_POST_HEADERS, rawHttp } from './http-helpers.js';
import { textOf, writeServers } from './upstreams-helpers.js';

/** The keep-alive beat of this file's daemon (20 s by default). */
const BEAT_MS = 100;

let t: TestEnv;
let daemon: RunningDaemon;
const clients: Client[] = [];

interface Live {
  method: string;
  cut(closeConnection: boolean): void;
}

/** A fetch whose open response bodies the test can cut, and whose new requests it can hold. */
function cuttableFetch() {
  const live = new Set<Live>();
  let gate: Promise<void> | undefined;
  let release = () => {};
  let discarded = '';
  const wrapped = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    if (gate) await gate;
    const res = await fetch(input, init);
    if (!res.body || res.status === 202) return res;
    const reader = res.body.getReader();
    let cut = false;
    let controller!: ReadableStreamDefaultController<Uint8Array>;
    const body = new ReadableStream<Uint8Array>({
      start: (c) => void (controller = c),
      cancel: (reason) => {
        if (!cut) void reader.cancel(reason).catch(() => undefined);
      },
    });
    const entry: Live = {
      method: init?.method ?? 'GET',
      cut: (closeConnection) => {
        cut = true;
        controller.error(new TypeError('terminated: the test cut the stream'));
        if (closeConnection) void reader.cancel().catch(() => undefined);
      },
    };
    live.add(entry);
    void (async () => {
      const decoder = new TextDecoder();
      for (;;) {
        const chunk = await reader.read().catch(() => ({ done: true as const, value: undefined }));
        if (chunk.done) {
          live.delete(entry);
          if (!cut) controller.close();
          return;
        }
        if (cut) discarded += decoder.decode(chunk.value, { stream: true });
        else controller.enqueue(chunk.value);
      }
    })();
    return new Response(body, { status: res.status, statusText: res.statusText, headers: res.headers });
  };
  return {
    fetch: wrapped,
    open: (method: string) => [...live].filter((l) => l.method === method).length,
    /** Cuts every open response body and holds new requests until `let()`. */
    cut(closeConnection: boolean) {
      gate = new Promise((resolve) => (release = resolve));
      for (const l of live) l.cut(closeConnection);
      live.clear();
    },
    let() {
      gate = undefined;
      release();
    },
    get discarded() {
      return discarded;
    },
  };
}

async function resumingClient() {
  const net = cuttableFetch();
  const transport = new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${daemon.port}/mcp`), {
    requestInit: { headers: { Authorization: `Bearer ${daemon.token}` } },
    fetch: net.fetch,
    // Its default first retry is 1 s later; the same client, sooner.
    reconnectionOptions: { initialReconnectionDelay: 20, maxReconnectionDelay: 200, reconnectionDelayGrowFactor: 1.5, maxRetries: 5 },
  });
  const client = new Client({ name: 'resuming', version: '0.0.0' });
  await client.connect(transport);
  clients.push(client);
  return { client, net };
}

beforeAll(async () => {
  t = makeTestEnv();
  const workspace = t.workspace('http-resume');
  writeServers(workspace, { old: dualEntry({ protocol: '2025-11-25' }) });
  daemon = await startDaemon({ workspace, home: t.home, port: 0, heartbeatMs: 500, httpKeepAliveMs: BEAT_MS });
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
  await daemon?.close();
  await t.cleanup();
});

describe('a 2025-11-25 HTTP client that loses an SSE stream', () => {
  it('gets the rest of a call\'s stream (its answer) after the daemon wrote it into the void', async () => {
    const { client, net } = await resumingClient();
    const progress: number[] = [];
    let progressed!: () => void;
    const first = new Promise<void>((resolve) => (progressed = resolve));
    const call = client.callTool({ name: 'old__slow', arguments: { steps: 1, ms: 300 } }, CallToolResultSchema, {
      onprogress: (p) => {
        progress.push(p.progress);
        progressed();
      },
    });
    await first;
    net.cut(false);
    await waitFor(() => (net.discarded.includes('slept 300') ? true : undefined), { what: 'the daemon to write the answer on the lost stream' });
    net.let();
    expect(textOf(await call)).toBe('slept 300');
    expect(progress).toEqual([1]);
  });

  it('a call whose connection closed goes on; its answer reaches the client on the resumed stream', async () => {
    const { client, net } = await resumingClient();
    let progressed!: () => void;
    const first = new Promise<void>((resolve) => (progressed = resolve));
    const call = client.callTool({ name: 'old__slow', arguments: { steps: 1, ms: 500 } }, CallToolResultSchema, { onprogress: () => progressed() });
    await first;
    net.cut(true);
    net.let();
    expect(textOf(await call)).toBe('slept 500');
    // The session goes on over the same transport.
    expect(textOf(await client.callTool({ name: 'old__echo', arguments: { text: 'after' } }))).toContain('echo: after');
  });

  it('gets the log messages its GET stream missed, then the next ones on the resumed stream', async () => {
    const { client, net } = await resumingClient();
    const logged: string[] = [];
    client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => void logged.push(String(n.params.data)));
    await waitFor(() => (net.open('GET') > 0 ? true : undefined), { what: 'the client\'s GET stream' });
    const other = await connectHttp(daemon.port, daemon.token, 'other');
    clients.push(other.client);
    net.cut(false);
    // Log messages of a 2025 server go to every session's GET stream.
    await other.client.callTool({ name: 'old__log', arguments: { message: 'missed' } });
    await waitFor(() => (net.discarded.includes('missed') ? true : undefined), { what: 'the daemon to write the log message on the lost stream' });
    net.let();
    await waitFor(() => (logged.includes('missed') ? true : undefined), { what: 'the missed log message, replayed' });
    await other.client.callTool({ name: 'old__log', arguments: { message: 'live' } });
    await waitFor(() => (logged.includes('live') ? true : undefined), { what: 'a log message on the resumed stream' });
    expect(logged.filter((m) => m === 'missed' || m === 'live')).toEqual(['missed', 'live']);
  });
});

describe('a long call over HTTP', () => {
  // Node's fetch gives up on a response with no headers (or no body bytes) for 5 minutes.
  const call = (meta?: Record<string, unknown>) =>
    JSON.stringify({ jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'old__slow', arguments: { steps: 0, ms: BEAT_MS * 20 }, ...(meta ? { _meta: meta } : {}) } });
  const sse = (body: string) => {
    expect(body).toMatch(/^:$/m); // an SSE comment while the call runs
    const data = body.split('\n').filter((l) => l.startsWith('data: {'));
    return JSON.parse(data.at(-1)!.slice(6)) as { id: number; result: { content: { text: string }[] } };
  };

  it('2025-11-25: turns into an SSE stream with comments after a beat, then the answer', async () => {
    const auth = { ...MCP_POST_HEADERS, Authorization: `Bearer ${daemon.token}` };
    const init = await rawHttp(daemon.port, 'POST', auth, INIT_BODY);
    const session = { ...auth, 'Mcp-Session-Id': String(init.headers['mcp-session-id']), 'MCP-Protocol-Version': '2025-11-25' };
    const reply = await rawHttp(daemon.port, 'POST', session, call());
    expect(reply.headers['content-type']).toBe('text/event-stream');
    expect(sse(reply.body)).toMatchObject({ id: 3, result: { content: [{ text: `slept ${BEAT_MS * 20}` }] } });
  });

  it('2026-07-28: the same', async () => {
    const envelope = { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': {} };
    const headers = { ...MCP_POST_HEADERS, Authorization: `Bearer ${daemon.token}`, 'MCP-Protocol-Version': '2026-07-28', 'Mcp-Method': 'tools/call', 'Mcp-Name': 'old__slow' };
    const reply = await rawHttp(daemon.port, 'POST', headers, call(envelope));
    expect(reply.headers['content-type']).toBe('text/event-stream');
    expect(sse(reply.body)).toMatchObject({ id: 3, result: { content: [{ text: `slept ${BEAT_MS * 20}` }] } });
  });
});

describe('the session event store', () => {
  it('replays only the named stream after the id, and refuses ids it no longer covers', () => {
    const store = new SessionEventStore(3, 1024);
    const a1 = store.storeEvent('p1', '');
    store.storeEvent('g', 'g-one');
    store.storeEvent('p1', 'p-one');
    const sent: string[] = [];
    expect(store.replayEventsAfter(a1, (_id, text) => sent.push(text))).toEqual({ stream: 'p1' });
    expect(sent).toEqual(['p-one']);
    store.storeEvent('p1', 'p-two'); // evicts a1 only: all after it is held
    sent.length = 0;
    expect(store.replayEventsAfter(a1, (_id, text) => sent.push(text))).toEqual({ stream: 'p1' });
    expect(sent).toEqual(['p-one', 'p-two']);
    store.storeEvent('p1', 'p-three'); // evicts g-one, after a1
    expect(store.replayEventsAfter(a1, () => undefined)).toMatchObject({ refused: expect.stringContaining('no longer held') });
    expect(store.replayEventsAfter('p9.99', () => undefined)).toMatchObject({ refused: expect.stringContaining('not one of') });
  });
});
