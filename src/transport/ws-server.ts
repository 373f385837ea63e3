import type { Transport } from '@modelcontextprotocol/server';
import type { JSONRPCMessage } from '@modelcontextprotocol/server';
import WebSocket, { type RawData } from 'ws';

import { MAX_PAYLOAD } from './constants.js';
import { INTERNAL_ERROR, INVALID_REQUEST, PARSE_ERROR, asSdkMessage, isJsonRpcMessage } from './jsonrpc.js';

export { MAX_PAYLOAD, MCP_SUBPROTOCOL } from './constants.js';

export interface WebSocketServerTransportOptions {
  sessionId?: string;
  /** Called for every valid incoming message before the SDK sees it (counters, activity). */
  onIncoming?: (message: JSONRPCMessage) => void;
}

/**
 * One accepted WebSocket as an MCP transport: one text frame = one JSON-RPC message.
 * Bad frames are answered on the wire and never reach the SDK, so a confused client keeps
 * its connection and everyone else is unaffected.
 */
export class WebSocketServerTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: <T extends JSONRPCMessage>(message: T) => void;
  readonly sessionId?: string;
  private started = false;
  private closed = false;
  private readonly onIncoming?: (message: JSONRPCMessage) => void;

  constructor(
    private readonly socket: WebSocket,
    options: WebSocketServerTransportOptions = {},
  ) {
    this.sessionId = options.sessionId;
    this.onIncoming = options.onIncoming;
  }

  async start(): Promise<void> {
    if (this.started) throw new Error('WebSocketServerTransport already started');
    this.started = true;
    this.socket.on('message', (data, isBinary) => this.receive(data, isBinary));
    this.socket.on('error', (err) => this.onerror?.(err));
    this.socket.on('close', () => this.fireClose());
    if (this.socket.readyState === WebSocket.CLOSED) this.fireClose();
  }

  /**
   * A message larger than MAX_PAYLOAD would make the peer close the whole connection (1009);
   * a response that large is replaced by an error naming the limit, anything else is dropped.
   */
  send(message: JSONRPCMessage): Promise<void> {
    const text = JSON.stringify(message);
    if (text.length * 3 > MAX_PAYLOAD && Buffer.byteLength(text) > MAX_PAYLOAD) {
      const id = 'id' in message && message.id !== undefined && !('method' in message) ? message.id : undefined;
      const what = `a message of ${Buffer.byteLength(text)} bytes, more than the ${MAX_PAYLOAD}-byte limit of the exai connection`;
      this.onerror?.(new Error(`dropped ${what}`));
      if (id === undefined) return Promise.resolve();
      return this.sendText(JSON.stringify({ jsonrpc: '2.0', id, error: { code: INTERNAL_ERROR, message: `the answer is ${what}; ask for less at once` } }));
    }
    return this.sendText(text);
  }

  /** Closes with `code` (1000 by default; the daemon uses 1001 when it shuts down). */
  async close(code = 1000, reason = ''): Promise<void> {
    const state = this.socket.readyState;
    if (state === WebSocket.OPEN || state === WebSocket.CONNECTING) this.socket.close(code, reason);
    else if (state === WebSocket.CLOSED) this.fireClose();
  }

  private fireClose(): void {
    if (this.closed) return;
    this.closed = true;
    this.onclose?.();
  }

  /** A send on a socket that is closing or closed is dropped: the peer is gone, nobody can receive it. */
  private sendText(text: string): Promise<void> {
    if (this.socket.readyState !== WebSocket.OPEN) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.socket.send(text, (err) => {
        if (err && this.socket.readyState === WebSocket.OPEN) reject(err);
        else resolve();
      });
    });
  }

  private receive(data: RawData, isBinary: boolean): void {
    if (isBinary) {
      void this.replyError(null, INVALID_REQUEST, 'Invalid Request: binary frames are not JSON-RPC; send one JSON-RPC message per text frame');
      return;
    }
    let value: unknown;
    try {
      value = JSON.parse(rawToString(data));
    } catch (err) {
      void this.replyError(null, PARSE_ERROR, `Parse error: ${err instanceof Error ? err.message : String(err)}`);
      return;
    }
    if (Array.isArray(value)) {
      void this.replyError(null, INVALID_REQUEST, 'Invalid Request: JSON-RPC batches are not supported by MCP; send one message per frame');
      return;
    }
    // The envelope only: what is inside is checked by whoever reads it (the SDK's handlers, or
    // the upstream a request is relayed to). A zod parse here was most of a relayed call's cost.
    if (!isJsonRpcMessage(value)) {
      void this.replyError(readId(value), INVALID_REQUEST, 'Invalid Request: the frame is JSON but not a JSON-RPC 2.0 message');
      return;
    }
    const message = asSdkMessage(value);
    this.onIncoming?.(message);
    this.onmessage?.(message);
  }

  private replyError(id: string | number | null, code: number, message: string): Promise<void> {
    return this.sendText(JSON.stringify({ jsonrpc: '2.0', id, error: { code, message } })).catch((err: unknown) => {
      this.onerror?.(err instanceof Error ? err : new Error(String(err)));
    });
  }
}

export function rawToString(data: RawData): string {
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data).toString('utf8');
}

function readId(value: unknown): string | number | null {
  if (value && typeof value === 'object' && 'id' in value) {
    const id = value.id;
    if (typeof id === 'string' || typeof id === 'number') return id;
  }
  return null;
}
