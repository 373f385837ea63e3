import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { startDaemon, type RunningDaemon } from '../src/daemon/run.js';
import { DialError, dialDaemon } from '../src/transport/dial.js';
import { WebSocketClientTransport } from '../src/transport/ws-client.js';
import { MAX_PAYLOAD, WebSocketServerTransport } from '../src/transport/ws-server.js';
import { makeTestEnv, type TestEnv } from './helpers/env.js';

let t: TestEnv;
let daemon: RunningDaemon;
const stubs: Array<HttpServer | NetServer> = [];
const heldSockets: Socket[] = [];

function listening<S extends HttpServer | NetServer>(server: S): Promise<number> {
  stubs.push(server);
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

async function dialError(promise: Promise<WebSocket>): Promise<DialError> {
  try {
    const ws = await promise;
    ws.terminate();
  } catch (err) {
    expect(err).toBeInstanceOf(DialError);
    return err as DialError;
  }
  throw new Error('the dial succeeded but should have failed');
}

beforeAll(async () => {
  t = makeTestEnv();
  daemon = await startDaemon({ workspace: t.workspace('transport'), home: t.home, port: 0 });
});

afterAll(async () => {
  for (const s of heldSockets) s.destroy();
  await Promise.all(stubs.map((s) => new Promise((resolve) => s.close(resolve))));
  await daemon?.close();
  await t.cleanup();
});

describe('dialDaemon', () => {
  it('opens an authenticated socket speaking the mcp subprotocol', async () => {
    const ws = await dialDaemon({ port: daemon.port, token: daemon.token });
    expect(ws.readyState).toBe(WebSocket.OPEN);
    expect(ws.protocol).toBe('mcp');
    ws.close();
  });

  it('says DAEMON_DOWN when nothing listens', async () => {
    const port = await listening(createNetServer());
    await new Promise((resolve) => stubs.pop()?.close(resolve));
    const err = await dialError(dialDaemon({ port, token: daemon.token }));
    expect(err.code).toBe('DAEMON_DOWN');
  });

  it('says UNAUTHORIZED for a wrong token', async () => {
    const err = await dialError(dialDaemon({ port: daemon.port, token: 'f'.repeat(64) }));
    expect(err.code).toBe('UNAUTHORIZED');
    expect(err.status).toBe(401);
    expect(err.message).not.toContain('f'.repeat(64));
  });

  it('says FORBIDDEN when the server answers 403', async () => {
    const stub = createHttpServer();
    stub.on('upgrade', (_req, socket: Socket) => socket.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n'));
    const port = await listening(stub);
    const err = await dialError(dialDaemon({ port, token: daemon.token }));
    expect(err.code).toBe('FORBIDDEN');
  });

  it('says TIMEOUT when the listener never answers the handshake', async () => {
    const mute = createNetServer((socket) => {
      heldSockets.push(socket);
      socket.on('error', () => undefined);
    });
    const port = await listening(mute);
    const err = await dialError(dialDaemon({ port, token: daemon.token, timeoutMs: 300 }));
    expect(err.code).toBe('TIMEOUT');
  });

  it('says HANDSHAKE_FAILED for a plain HTTP server', async () => {
    const port = await listening(createHttpServer((_req, res) => res.end('hello')));
    const err = await dialError(dialDaemon({ port, token: daemon.token }));
    expect(err.code).toBe('HANDSHAKE_FAILED');
  });
});

describe('WebSocketClientTransport', () => {
  it('adopts a socket dialed by the caller', async () => {
    const ws = await dialDaemon({ port: daemon.port, token: daemon.token });
    const client = new Client({ name: 'adopt', version: '0' });
    await client.connect(new WebSocketClientTransport(ws));
    const { tools } = await client.listTools();
    expect(tools.map((x) => x.name)).toContain('exai_status');
    await client.close();
    expect(ws.readyState).toBe(WebSocket.CLOSED);
  });

  it('tells the SDK client when the daemon goes away, and pending calls fail instead of hanging', async () => {
    const other = await startDaemon({ workspace: t.workspace('going'), home: t.home, port: 0 });
    const client = new Client({ name: 'left', version: '0' });
    const closed = new Promise<void>((resolve) => (client.onclose = resolve));
    await client.connect(new WebSocketClientTransport({ port: other.port, token: other.token }));
    await other.close();
    await closed;
    await expect(client.ping()).rejects.toThrow();
  });
});

describe('WebSocketServerTransport', () => {
  let wss: WebSocketServer;
  let port: number;
  const accepted: WebSocket[] = [];
  beforeAll(async () => {
    const http = createHttpServer();
    wss = new WebSocketServer({ server: http, maxPayload: MAX_PAYLOAD });
    wss.on('connection', (ws) => accepted.push(ws));
    port = await listening(http);
  });
  afterAll(() => wss.close());

  it('send() after the peer is gone neither throws nor rejects; onclose fires once', async () => {
    const peer = new WebSocket(`ws://127.0.0.1:${port}`);
    await new Promise((resolve) => peer.once('open', resolve));
    const ws = accepted.at(-1)!;
    const transport = new WebSocketServerTransport(ws);
    let closes = 0;
    transport.onclose = () => closes++;
    await transport.start();
    peer.terminate();
    await new Promise((resolve) => ws.once('close', resolve));
    await expect(transport.send({ jsonrpc: '2.0', id: 1, result: {} })).resolves.toBeUndefined();
    await transport.close();
    expect(closes).toBe(1);
  });
});
