import { parseJSONRPCMessage, type JSONRPCMessage, type Transport } from '@modelcontextprotocol/client';
import WebSocket from 'ws';
import { dialDaemon, type DialOptions } from './dial.js';
import { rawToString } from './ws-server.js';

const CLOSE_GRACE_MS = 2_000;

/**
 * An SDK client transport over the daemon's WebSocket. The SDK's own WebSocket client cannot
 * send an Authorization header, which the daemon requires; this one dials with the bearer
 * token (or adopts a socket the caller already opened).
 */
export class WebSocketClientTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: <T extends JSONRPCMessage>(message: T) => void;
  private socket?: WebSocket;
  private closed = false;

  constructor(private readonly target: WebSocket | DialOptions) {}

  async start(): Promise<void> {
    if (this.socket) throw new Error('WebSocketClientTransport already started');
    const socket = this.target instanceof WebSocket ? this.target : await dialDaemon(this.target);
    this.socket = socket;
    socket.on('message', (data, isBinary) => {
      if (isBinary) {
        this.onerror?.(new Error('the daemon sent a binary frame; MCP frames are text'));
        return;
      }
      let message: JSONRPCMessage;
      try {
        message = parseJSONRPCMessage(JSON.parse(rawToString(data)));
      } catch (err) {
        this.onerror?.(err instanceof Error ? err : new Error(String(err)));
        return;
      }
      this.onmessage?.(message);
    });
    socket.on('error', (err) => this.onerror?.(err));
    socket.on('close', () => this.fireClose());
    if (socket.readyState === WebSocket.CLOSED) this.fireClose();
  }

  send(message: JSONRPCMessage): Promise<void> {
    const socket = this.socket;
    if (!socket || socket.readyState !== WebSocket.OPEN) {
      return Promise.reject(new Error('not connected to the exai daemon'));
    }
    return new Promise((resolve, reject) => socket.send(JSON.stringify(message), (err) => (err ? reject(err) : resolve())));
  }

  async close(): Promise<void> {
    const socket = this.socket;
    if (!socket || socket.readyState === WebSocket.CLOSED) {
      this.fireClose();
      return;
    }
    if (socket.readyState !== WebSocket.CLOSING) socket.close(1000);
    // A dead peer never answers the close frame; do not wait ws's 30 s for it.
    const timer = setTimeout(() => socket.terminate(), CLOSE_GRACE_MS);
    await new Promise<void>((resolve) => socket.once('close', () => resolve()));
    clearTimeout(timer);
  }

  private fireClose(): void {
    if (this.closed) return;
    this.closed = true;
    this.onclose?.();
  }
}
