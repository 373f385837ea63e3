import type { IncomingMessage, ServerResponse } from 'node:http';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { Transport, TransportSendOptions } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage, MessageExtraInfo } from '@modelcontextprotocol/sdk/types.js';
import { MAX_PAYLOAD } from '../../transport/constants.js';
import { INTERNAL_ERROR } from '../../transport/jsonrpc.js';

/**
 * One 2025-11-25 Streamable HTTP session's transport: the SDK's StreamableHTTPServerTransport
 * (sessions by `Mcp-Session-Id`, POST answers as SSE, the GET stream, DELETE), with the two
 * things every exai session transport does: count what arrives before the SDK sees it, and
 * hold the 32 MiB message limit both ways (a request body over it is refused 413 by the SDK;
 * an answer over it becomes an error naming the limit, as on the WebSocket).
 */
export class HttpSessionTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage, extra?: MessageExtraInfo) => void;
  private readonly inner: StreamableHTTPServerTransport;

  constructor(
    readonly sessionId: string,
    onIncoming: (message: JSONRPCMessage) => void,
  ) {
    this.inner = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => sessionId,
      maxRequestBodySize: MAX_PAYLOAD,
    });
    this.inner.onmessage = (message, extra) => {
      onIncoming(message);
      this.onmessage?.(message, extra);
    };
    this.inner.onclose = () => this.onclose?.();
    this.inner.onerror = (err) => this.onerror?.(err);
  }

  /** The session id once `initialize` was answered (the SDK sets it then); undefined before. */
  get initialized(): boolean {
    return this.inner.sessionId !== undefined;
  }

  start(): Promise<void> {
    return this.inner.start();
  }

  handleRequest(req: IncomingMessage, res: ServerResponse, parsedBody?: unknown): Promise<void> {
    return this.inner.handleRequest(req, res, parsedBody);
  }

  send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    const text = JSON.stringify(message);
    if (text.length * 3 > MAX_PAYLOAD && Buffer.byteLength(text) > MAX_PAYLOAD) {
      const id = 'id' in message && message.id !== undefined && !('method' in message) ? message.id : undefined;
      const what = `a message of ${Buffer.byteLength(text)} bytes, more than the ${MAX_PAYLOAD}-byte limit of the exai connection`;
      this.onerror?.(new Error(`dropped ${what}`));
      if (id === undefined) return Promise.resolve();
      return this.inner.send({ jsonrpc: '2.0', id, error: { code: INTERNAL_ERROR, message: `the answer is ${what}; ask for less at once` } }, options);
    }
    return this.inner.send(message, options);
  }

  /** Ends the session's open streams; the SDK then fires onclose once. */
  close(): Promise<void> {
    return this.inner.close();
  }
}
