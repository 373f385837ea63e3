/**
 * The bridge between memory streams (the editor's side) and a REAL WebSocket server on
 * 127.0.0.1 that speaks just enough JSON-RPC to be a daemon stand-in.
 */
import { once } from 'node:events';
import { PassThrough, Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { Bridge, type BridgeOptions } from '../src/shim/bridge.js';
import { LineSplitter } from '../src/shim/framing.js';
import { waitFor } from './helpers/env.js';

interface Conn {
  ws: WebSocket;
  n: number;
  /** Raw text of every frame received, in order. */
  received: string[];
  closeCode?: number;
}

/** A stand-in daemon. Methods: initialize, echo, hang (never answered), ask (server->client request). */
class FakeDaemon {
  conns: Conn[] = [];
  private wss: WebSocketServer | undefined;
  port = 0;

  async listen(): Promise<void> {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: this.port, maxPayload: 32 * 1024 * 1024 });
    await once(wss, 'listening');
    this.port = (wss.address() as { port: number }).port;
    this.wss = wss;
    wss.on('connection', (ws) => {
      const conn: Conn = { ws, n: this.conns.length + 1, received: [] };
      this.conns.push(conn);
      ws.on('close', (code) => (conn.closeCode = code));
      ws.on('error', () => {});
      ws.on('message', (data, isBinary) => {
        const text = data.toString();
        conn.received.push(isBinary ? `BINARY:${text}` : text);
        this.handle(conn, JSON.parse(text) as Record<string, unknown>);
      });
    });
  }

  private pendingAsks = new Map<string, unknown>();

  private handle(conn: Conn, msg: Record<string, unknown>): void {
    const reply = (result: unknown) => conn.ws.send(JSON.stringify({ jsonrpc: '2.0', id: msg.id, result }));
    switch (msg.method) {
      case 'initialize':
        return reply({ protocolVersion: '2025-06-18', capabilities: {}, serverInfo: { name: 'fake', version: '1' }, conn: conn.n });
      case 'echo':
        return reply({ params: msg.params, conn: conn.n });
      case 'hang':
        return;
      case 'ask': {
        const askId = `srv-${conn.n}-${this.pendingAsks.size}`;
        this.pendingAsks.set(askId, msg.id);
        conn.ws.send(JSON.stringify({ jsonrpc: '2.0', id: askId, method: 'sampling/createMessage', params: { messages: [] } }));
        return;
      }
      case undefined: {
        const original = this.pendingAsks.get(String(msg.id));
        if (original !== undefined) {
          conn.ws.send(JSON.stringify({ jsonrpc: '2.0', id: original, result: { answer: msg.result } }));
        }
        return;
      }
      default:
        if (msg.id !== undefined) {
          conn.ws.send(JSON.stringify({ jsonrpc: '2.0', id: msg.id, error: { code: -32601, message: 'Method not found' } }));
        }
    }
  }

  /** Every open connection dropped without a close handshake (as when the daemon is killed). */
  dropAll(): void {
    for (const conn of this.conns) conn.ws.terminate();
  }

  async stop(): Promise<void> {
    const wss = this.wss;
    this.wss = undefined;
    if (!wss) return;
    for (const client of wss.clients) client.terminate();
    await new Promise<void>((resolve) => wss.close(() => resolve()));
  }
}

/** Reads stdout of the bridge as lines, and waits for lines matching a predicate. */
class LineReader {
  lines: Buffer[] = [];
  constructor(stream: NodeJS.ReadableStream) {
    const splitter = new LineSplitter((line) => this.lines.push(Buffer.from(line)));
    stream.on('data', (chunk: Buffer) => splitter.push(chunk));
  }
  get parsed(): Record<string, unknown>[] {
    return this.lines.map((l) => JSON.parse(l.toString()) as Record<string, unknown>);
  }
  async response(id: unknown, timeoutMs = 20_000): Promise<Record<string, unknown>> {
    return waitFor(() => this.parsed.find((m) => m.id === id && ('result' in m || 'error' in m)), {
      timeoutMs,
      what: `response ${JSON.stringify(id)}`,
    });
  }
}

const bridges: Bridge[] = [];
const daemons: FakeDaemon[] = [];

afterEach(async () => {
  for (const bridge of bridges.splice(0)) await bridge.close();
  for (const daemon of daemons.splice(0)) await daemon.stop();
});

function dialPlain(daemon: FakeDaemon): () => Promise<WebSocket> {
  return () =>
    new Promise((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${daemon.port}`, { maxPayload: 32 * 1024 * 1024 });
      ws.once('open', () => resolve(ws));
      ws.once('error', reject);
    });
}

async function setup(options: Partial<BridgeOptions> = {}) {
  const daemon = new FakeDaemon();
  daemons.push(daemon);
  await daemon.listen();
  const input = new PassThrough();
  const output = (options.output as PassThrough | undefined) ?? new PassThrough();
  const logs: string[] = [];
  const bridge = new Bridge({
    input,
    output,
    connect: dialPlain(daemon),
    log: (level, message) => logs.push(`${level} ${message}`),
    ...options,
  });
  bridges.push(bridge);
  const reader = new LineReader(output);
  bridge.start();
  const send = (msg: unknown) => input.write(JSON.stringify(msg) + '\n');
  return { daemon, input, output, bridge, reader, send, logs };
}

const INIT = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: { sampling: {} }, clientInfo: { name: 't', version: '0' } } };
const INITIALIZED = { jsonrpc: '2.0', method: 'notifications/initialized' };

async function initialize(ctx: Awaited<ReturnType<typeof setup>>) {
  ctx.send(INIT);
  const res = await ctx.reader.response(1);
  ctx.send(INITIALIZED);
  await waitFor(() => (ctx.daemon.conns[0]?.received.length === 2 ? true : undefined), { what: 'initialized delivered' });
  return res;
}

describe('shim bridge reconnect timing', () => {
  it('tries again at once when a request arrived during a failed attempt, not after the backoff step', async () => {
    let daemon: FakeDaemon | undefined;
    const seen: number[] = [];
    let release: (() => void) | undefined;
    const firstAttemptRuns = new Promise<void>((resolve) => (release = resolve));
    let unblock: (() => void) | undefined;
    const ctx = await setup({
      // A backoff no test waits out: only the at-once retry can connect in time.
      backoffMs: [600_000],
      connect: async (c) => {
        seen.push(c.waitingRequests);
        if (seen.length === 1) {
          release!();
          await new Promise<void>((resolve) => (unblock = resolve));
          throw Object.assign(new Error('nothing listens'), { code: 'ECONNREFUSED' });
        }
        return dialPlain(daemon!)();
      },
    });
    daemon = ctx.daemon;
    await firstAttemptRuns;
    ctx.send(INIT); // arrives while the first attempt (no request waiting) is still in flight
    // Private, read only: the request must be queued before the attempt fails, which no output shows.
    await waitFor(() => (ctx.bridge['queue'].requests === 1 ? true : undefined), { what: 'initialize queued' });
    unblock!();
    expect(await ctx.reader.response(1)).toHaveProperty('result');
    expect(seen).toEqual([0, 1]);
  });
});

describe('shim bridge against a real WebSocket server', () => {
  it('passes every kind of message through byte for byte, in both directions', async () => {
    const ctx = await setup();
    await initialize(ctx);
    // Odd spacing and key order must reach the daemon untouched.
    const lines = [
      '{ "id" : "str-id", "jsonrpc":"2.0", "method":"echo", "params":{"x":1.50} }',
      '{"jsonrpc":"2.0","id":0,"method":"some/unknownMethod"}',
      '{"jsonrpc":"2.0","method":"notifications/roots/list_changed"}',
      '{"jsonrpc":"2.0","id":99,"method":"ask"}',
    ];
    ctx.input.write(lines.join('\r\n') + '\r\n');
    expect(await ctx.reader.response('str-id')).toMatchObject({ result: { params: { x: 1.5 } } });
    expect(await ctx.reader.response(0)).toMatchObject({ error: { code: -32601 } });
    // The server's request to the client comes out on stdout; the client's reply goes back.
    const ask = await waitFor(() => ctx.reader.parsed.find((m) => m.method === 'sampling/createMessage'));
    ctx.send({ jsonrpc: '2.0', id: ask.id, result: { content: 'from the client' } });
    expect(await ctx.reader.response(99)).toMatchObject({ result: { answer: { content: 'from the client' } } });
    const conn = ctx.daemon.conns[0]!;
    expect(conn.received.slice(0, 2)).toEqual([JSON.stringify(INIT), JSON.stringify(INITIALIZED)]);
    expect(conn.received.slice(2, 6)).toEqual(lines);
    // Server frames reach stdout unchanged too.
    const serverFrame = '{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"ünï 🚀","n":1.50}}';
    conn.ws.send(serverFrame);
    await waitFor(() => (ctx.reader.lines.some((l) => l.toString() === serverFrame) ? true : undefined), { what: 'server frame' });
    expect(ctx.daemon.conns).toHaveLength(1);
  });

  it('round-trips a 5 MB request and a 5 MB response byte-identically', async () => {
    const ctx = await setup();
    const big = JSON.stringify({ jsonrpc: '2.0', id: 5, method: 'hang', params: { data: 'é🚀ab'.repeat(650_000) } });
    expect(Buffer.byteLength(big)).toBeGreaterThan(5_000_000);
    const bytes = Buffer.from(big + '\n');
    for (let i = 0; i < bytes.length; i += 50_000) ctx.input.write(bytes.subarray(i, i + 50_000));
    await waitFor(() => (ctx.daemon.conns[0]?.received.length === 1 ? true : undefined), { what: 'big frame' });
    expect(ctx.daemon.conns[0]!.received[0] === big).toBe(true);
    const bigResponse = JSON.stringify({ jsonrpc: '2.0', id: 5, result: { data: 'x✓'.repeat(2_000_000) } });
    ctx.daemon.conns[0]!.ws.send(bigResponse);
    await ctx.reader.response(5);
    expect(ctx.reader.lines[0]!.equals(Buffer.from(bigResponse))).toBe(true);
  });

  it('answers requests in flight with an error at once when the connection drops', async () => {
    const ctx = await setup();
    await initialize(ctx);
    ctx.send({ jsonrpc: '2.0', id: 7, method: 'hang' });
    ctx.send({ jsonrpc: '2.0', id: '7', method: 'hang' });
    await waitFor(() => (ctx.daemon.conns[0]!.received.length === 4 ? true : undefined), { what: 'hangs delivered' });
    ctx.daemon.dropAll();
    const [a, b] = [await ctx.reader.response(7), await ctx.reader.response('7')];
    for (const res of [a, b]) {
      expect(res).toMatchObject({ jsonrpc: '2.0', error: { code: -32000 } });
      expect(String((res.error as { message: string }).message)).toMatch(/connection to the workspace daemon was lost.*retry/);
    }
    // And the shim is back on a new connection: the next call is answered there.
    ctx.send({ jsonrpc: '2.0', id: 8, method: 'echo' });
    expect(await ctx.reader.response(8)).toMatchObject({ result: { conn: 2 } });
  });

  it('queues while the daemon is away, replays initialize first, swallows its reply, then delivers the queue', async () => {
    const ctx = await setup();
    await initialize(ctx);
    await ctx.daemon.stop();
    await waitFor(() => (ctx.bridge.status.state === 'connecting' ? true : undefined), { what: 'disconnect noticed' });
    ctx.send({ jsonrpc: '2.0', id: 2, method: 'echo', params: { queued: true } });
    ctx.send({ jsonrpc: '2.0', method: 'notifications/roots/list_changed' });
    await waitFor(() => (ctx.bridge.status.queued === 2 ? true : undefined), { what: 'queued' });
    await ctx.daemon.listen();
    expect(await ctx.reader.response(2)).toMatchObject({ result: { params: { queued: true }, conn: 2 } });
    await waitFor(() => (ctx.daemon.conns[1]!.received.length === 4 ? true : undefined), { what: 'queue delivered' });
    const second = ctx.daemon.conns[1]!.received.map((t) => JSON.parse(t) as Record<string, unknown>);
    expect(second.map((m) => m.method)).toEqual(['initialize', 'notifications/initialized', 'echo', 'notifications/roots/list_changed']);
    expect(second[0]!.params).toEqual(INIT.params);
    expect(String(second[0]!.id)).toMatch(/^exai-shim-replay-/);
    // The client saw exactly one initialize response: its own.
    expect(ctx.reader.parsed.filter((m) => (m.result as { serverInfo?: unknown } | undefined)?.serverInfo)).toHaveLength(1);
    expect(ctx.reader.parsed.some((m) => String(m.id).startsWith('exai-shim-replay'))).toBe(false);
  });

  it('answers queued requests with an error when the daemon stays away past the bound, and keeps trying', async () => {
    const ctx = await setup({ outageMs: 300 });
    await initialize(ctx);
    await ctx.daemon.stop();
    await waitFor(() => (ctx.bridge.status.state === 'connecting' ? true : undefined), { what: 'disconnect noticed' });
    ctx.send({ jsonrpc: '2.0', id: 9, method: 'echo' });
    ctx.send({ jsonrpc: '2.0', method: 'notifications/roots/list_changed' });
    const res = await ctx.reader.response(9);
    expect(res).toMatchObject({ error: { code: -32000 } });
    expect(String((res.error as { message: string }).message)).toMatch(/did not answer within .*keeps retrying/);
    // The notification was queued a moment after the request, so it expires a moment later.
    await waitFor(() => (ctx.logs.some((l) => l.includes('dropped notification notifications/roots/list_changed')) ? true : undefined), {
      what: 'the queued notification to be dropped',
    });
    await ctx.daemon.listen();
    // Reconnecting takes up to one backoff step, which may exceed the 300 ms bound of a queued message.
    await waitFor(() => (ctx.bridge.status.state === 'open' ? true : undefined), { what: 'reconnected' });
    ctx.send({ jsonrpc: '2.0', id: 10, method: 'echo' });
    expect(await ctx.reader.response(10)).toMatchObject({ result: { conn: 2 } });
    // The expired messages never reached the new daemon.
    expect(ctx.daemon.conns[1]!.received.map((t) => (JSON.parse(t) as { method: string }).method)).toEqual([
      'initialize',
      'notifications/initialized',
      'echo',
    ]);
  });

  it('answers the request that overflows the queue with an error instead of silence', async () => {
    const ctx = await setup({ maxQueueMessages: 2 });
    await initialize(ctx);
    await ctx.daemon.stop();
    await waitFor(() => (ctx.bridge.status.state === 'connecting' ? true : undefined), { what: 'disconnect noticed' });
    for (const id of [11, 12, 13]) ctx.send({ jsonrpc: '2.0', id, method: 'echo' });
    expect(await ctx.reader.response(13)).toMatchObject({ error: { code: -32000, message: expect.stringMatching(/limit 2 messages/) } });
    await ctx.daemon.listen();
    expect(await ctx.reader.response(11)).toMatchObject({ result: { conn: 2 } });
    expect(await ctx.reader.response(12)).toMatchObject({ result: { conn: 2 } });
  });

  it("does not hand the client's late reply to a request of a dead connection to the new daemon", async () => {
    const ctx = await setup();
    await initialize(ctx);
    ctx.send({ jsonrpc: '2.0', id: 20, method: 'ask' });
    const ask = await waitFor(() => ctx.reader.parsed.find((m) => m.method === 'sampling/createMessage'));
    ctx.daemon.dropAll();
    await ctx.reader.response(20); // the in-flight error
    await waitFor(() => (ctx.bridge.status.state === 'open' && ctx.daemon.conns.length === 2 ? true : undefined), { what: 'reconnect' });
    ctx.send({ jsonrpc: '2.0', id: ask.id, result: { content: 'late' } });
    ctx.send({ jsonrpc: '2.0', id: 21, method: 'echo' });
    await ctx.reader.response(21);
    const methods = ctx.daemon.conns[1]!.received.map((t) => JSON.parse(t) as Record<string, unknown>);
    expect(methods.some((m) => m.id === ask.id)).toBe(false);
  });

  it('respects a slow stdout: the daemon socket is paused instead of buffering everything', async () => {
    let maxBuffered = 0;
    const received: Buffer[] = [];
    const slow = new Writable({
      highWaterMark: 16 * 1024,
      write(chunk: Buffer, _enc, cb) {
        maxBuffered = Math.max(maxBuffered, slow.writableLength);
        received.push(chunk);
        setTimeout(cb, 2);
      },
    });
    const tap = new PassThrough();
    const origWrite = slow.write.bind(slow);
    // Mirror what reaches the slow writer into a reader, without adding a buffer of our own.
    slow.write = ((chunk: Buffer, ...rest: never[]) => {
      tap.write(chunk);
      return origWrite(chunk, ...rest);
    }) as typeof slow.write;
    const ctx = await setup({ output: slow });
    const reader = new LineReader(tap);
    ctx.send({ jsonrpc: '2.0', id: 1, method: 'echo' });
    await reader.response(1);
    const count = 200;
    const payload = 'p'.repeat(64 * 1024);
    const conn = ctx.daemon.conns[0]!;
    for (let i = 0; i < count; i++) {
      conn.ws.send(JSON.stringify({ jsonrpc: '2.0', method: 'notifications/progress', params: { i, payload } }));
    }
    await waitFor(() => (reader.lines.length === count + 1 ? true : undefined), { timeoutMs: 60_000, what: 'all frames' });
    const order = reader.parsed.slice(1).map((m) => (m.params as { i: number }).i);
    expect(order).toEqual([...Array(count).keys()]);
    // 200 x 64 KB = 12.8 MB were sent; a bridge that ignores backpressure buffers nearly all of it.
    expect(maxBuffered).toBeLessThan(2 * 1024 * 1024);
  }, 90_000);

  it('refuses an oversized or non-UTF-8 message locally and keeps the connection', async () => {
    const ctx = await setup({ maxMessageBytes: 10_000 });
    await initialize(ctx);
    ctx.input.write(JSON.stringify({ jsonrpc: '2.0', id: 30, method: 'echo', params: { data: 'x'.repeat(20_000) } }) + '\n');
    expect(await ctx.reader.response(30)).toMatchObject({ error: { code: -32600, message: expect.stringMatching(/more than the 10000-byte limit/) } });
    ctx.input.write(Buffer.concat([Buffer.from('{"jsonrpc":"2.0","id":31,"method":"echo","params":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}\n')]));
    expect(await ctx.reader.response(null)).toMatchObject({ error: { code: -32700 } });
    ctx.send({ jsonrpc: '2.0', id: 32, method: 'echo' });
    expect(await ctx.reader.response(32)).toMatchObject({ result: { conn: 1 } });
    expect(ctx.daemon.conns).toHaveLength(1);
  });

  it('ends when stdin ends, closing the WebSocket with 1000', async () => {
    const ctx = await setup();
    await initialize(ctx);
    ctx.input.end();
    expect(await ctx.bridge.done).toEqual({ code: 0 });
    await waitFor(() => ctx.daemon.conns[0]!.closeCode, { what: 'close code' });
    expect(ctx.daemon.conns[0]!.closeCode).toBe(1000);
  });

  it('gives up on a fatal connect error, answering what was queued', async () => {
    const input = new PassThrough();
    const output = new PassThrough();
    const reader = new LineReader(output);
    const fatal = Object.assign(new Error('bad token'), { fatal: true });
    const bridge = new Bridge({
      input,
      output,
      connect: async () => {
        await new Promise((r) => setTimeout(r, 50));
        throw fatal;
      },
      isFatal: (err) => (err as { fatal?: boolean }).fatal === true,
    });
    bridge.start();
    input.write(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: {} }) + '\n');
    const result = await bridge.done;
    expect(result).toEqual({ code: 1, error: fatal });
    expect(await reader.response(1)).toMatchObject({ error: { code: -32000, message: expect.stringMatching(/bad token/) } });
  });
});
