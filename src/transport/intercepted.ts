/**
 * A transport that someone else made (a session's), seen through hooks given at construction:
 * the session-side twin of ChildProcessTransport's `intercept` option. `intercept` sees each
 * incoming message before the connected Protocol (the SDK Server) and takes it by returning
 * true; `outgoing` sees each message the Server sends and returns what goes out (a promise
 * holds that one message back). The inner transport's callbacks are chained the way the SDK's
 * Protocol chains them on connect, never replaced after someone set them.
 */
import type { JSONRPCMessage, Transport, TransportSendOptions } from '@modelcontextprotocol/server';
import { fromSdkMessage, type WireMessage } from './jsonrpc.js';

export interface TransportHooks {
  /** Sees every incoming message first; true when it was taken (the Server never sees it). */
  intercept(message: WireMessage): boolean;
  /** Sees every outgoing message; returns it, changed or not, or a promise of it. */
  outgoing?(message: JSONRPCMessage): JSONRPCMessage | Promise<JSONRPCMessage>;
}

export class InterceptedTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: Transport['onmessage'];

  constructor(
    readonly inner: Transport,
    private readonly hooks: TransportHooks,
  ) {}

  get sessionId(): string | undefined {
    return this.inner.sessionId;
  }

  async start(): Promise<void> {
    const { onmessage, onclose, onerror } = this.inner;
    this.inner.onclose = () => {
      onclose?.();
      this.onclose?.();
    };
    this.inner.onerror = (error) => {
      onerror?.(error);
      this.onerror?.(error);
    };
    this.inner.onmessage = (message, extra) => {
      onmessage?.(message, extra);
      if (!this.hooks.intercept(fromSdkMessage(message))) this.onmessage?.(message, extra);
    };
    await this.inner.start();
  }

  send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    const out = this.hooks.outgoing ? this.hooks.outgoing(message) : message;
    // Synchronous when the hook is: no extra turn on the hot path, and order kept.
    return out instanceof Promise ? out.then((m) => this.inner.send(m, options)) : this.inner.send(out, options);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
