import { request } from 'node:http';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import WebSocket from 'ws';
import { WebSocketClientTransport } from '../../src/transport/ws-client.js';
import type { ExaiStatus } from '../../src/daemon/builtins.js';

/** A real SDK client over our WebSocket client transport, initialized. */
export async function connectClient(port: number, token: string, name = 'exai-test'): Promise<Client> {
  const client = new Client({ name, version: '0.0.0' });
  await client.connect(new WebSocketClientTransport({ port, token, timeoutMs: 10_000 }));
  return client;
}

/** The daemon's own view through `exai_status` (port, pid, sessions, upstreams); throws when the tool answers an error. */
export async function exaiStatus<T extends ExaiStatus = ExaiStatus>(client: Client): Promise<T> {
  const result = await client.callTool({ name: 'exai_status', arguments: {} });
  if (result.isError) throw new Error(`exai_status answered an error: ${JSON.stringify(result.content)}`);
  return result.structuredContent as unknown as T;
}

export interface Handshake {
  status: number;
  body: string;
}

/**
 * A raw WebSocket upgrade with full control of the headers (Host, Origin, Authorization);
 * resolves with the HTTP status: 101 when upgraded, else the refusal and its body.
 */
export function handshake(port: number, headers: Record<string, string>, path = '/mcp'): Promise<Handshake> {
  return new Promise((resolve, reject) => {
    const req = request({
      host: '127.0.0.1',
      port,
      path,
      headers: {
        Host: `127.0.0.1:${port}`,
        Connection: 'Upgrade',
        Upgrade: 'websocket',
        'Sec-WebSocket-Version': '13',
        'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==',
        'Sec-WebSocket-Protocol': 'mcp',
        ...headers,
      },
    });
    req.on('upgrade', (_res, socket) => {
      socket.destroy();
      resolve({ status: 101, body: '' });
    });
    req.on('response', (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Plain HTTP GET with an explicit Host (and optional extra headers). */
export function httpGet(
  port: number,
  path: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers: { Host: `127.0.0.1:${port}`, ...headers } }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/**
 * A raw MCP WebSocket for frame-level tests: collects every frame it receives and lets the
 * test wait for the reply to a given id.
 */
export class RawSession {
  readonly frames: unknown[] = [];
  private waiters: Array<{ match: (f: unknown) => boolean; resolve: (f: unknown) => void }> = [];
  readonly closed: Promise<{ code: number; reason: string }>;

  private constructor(readonly ws: WebSocket) {
    ws.on('error', () => undefined);
    ws.on('message', (data) => {
      const frame: unknown = JSON.parse(String(data));
      this.frames.push(frame);
      this.waiters = this.waiters.filter((w) => {
        if (!w.match(frame)) return true;
        w.resolve(frame);
        return false;
      });
    });
    this.closed = new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: String(reason) })));
  }

  static open(port: number, token: string): Promise<RawSession> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/mcp`, 'mcp', { headers: { Authorization: `Bearer ${token}` } });
      const session = new RawSession(ws);
      ws.once('open', () => resolve(session));
      ws.once('unexpected-response', (_req, res) => reject(new Error(`handshake refused: ${res.statusCode}`)));
      ws.once('error', reject);
    });
  }

  /** Sends a frame (object -> JSON text; string/Buffer as is). */
  send(frame: unknown, options: { binary?: boolean } = {}): void {
    const data = typeof frame === 'string' || Buffer.isBuffer(frame) ? frame : JSON.stringify(frame);
    this.ws.send(data, { binary: options.binary ?? false });
  }

  /** The next (or already received) frame matching `match`. */
  waitFor(match: (frame: unknown) => boolean): Promise<unknown> {
    const seen = this.frames.find(match);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve) => this.waiters.push({ match, resolve }));
  }

  reply(id: string | number | null): Promise<unknown> {
    return this.waitFor((f) => typeof f === 'object' && f !== null && 'id' in f && f.id === id && ('result' in f || 'error' in f));
  }

  async request(id: string | number, method: string, params?: object): Promise<unknown> {
    this.send({ jsonrpc: '2.0', id, method, ...(params ? { params } : {}) });
    return this.reply(id);
  }

  async initialize(): Promise<void> {
    await this.request('init', 'initialize', {
      protocolVersion: '2025-06-18',
      capabilities: {},
      clientInfo: { name: 'raw-test', version: '0' },
    });
    this.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
  }

  close(): Promise<{ code: number; reason: string }> {
    this.ws.close(1000);
    return this.closed;
  }
}
