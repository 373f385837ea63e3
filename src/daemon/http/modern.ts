/**
 * 2026-07-28 over Streamable HTTP (DESIGN.md "Protocol eras", "Streamable HTTP"): no
 * `Mcp-Session-Id`, every POST one request answered on its own response. The requests are
 * served by the same session code as a 2026-07-28 client on a WebSocket (openSession, whose
 * EraTransport opens the SDK Server from the request's envelope, answers `server/discover`,
 * turns server requests into `input_required` and `subscriptions/listen` into subscriptions):
 * this module is only that session's transport, mapping each JSON-RPC message to the HTTP
 * response it belongs to.
 *
 * Requests of clients with the same envelope (clientInfo and clientCapabilities) share one
 * daemon session, so a retry with `requestState` finds the round it continues. Each request
 * gets an id and progress token of the daemon's own (clients' ids collide), mapped back on
 * the way out. An answer with nothing before it goes out as one JSON body; anything sent
 * before it (progress, a listen's notifications) turns the response into an SSE stream.
 * A response closed by the client before its answer cancels the request (a listen ends so).
 *
 * Log messages are request-scoped in 2026-07-28 ("Request-scoped notifications (progress,
 * message) stay on the request's own stream"; a server logs only for a request that names
 * `io.modelcontextprotocol/logLevel`, at that level and above). The upstreams' messages name
 * no request (a 2025 server's never do over stdio), so one goes on the stream of the newest
 * open request that asked for its level, preferring a call or prompt of the upstream that
 * logged (`logger` starts with its name); a call of another upstream never gets it, and with
 * no such request open it is dropped (never on a `subscriptions/listen` stream).
 */
import type { ServerResponse } from 'node:http';
import type { JSONRPCMessage } from '@modelcontextprotocol/server';
import { asSdkMessage, fromSdkMessage, isRequest, isResponse, type JsonRpcId, type WireMessage, type WireRequest } from '../../transport/jsonrpc.js';
import { MAX_PAYLOAD } from '../../transport/constants.js';
import { INTERNAL_ERROR } from '../../transport/jsonrpc.js';
import type { SessionTransport } from '../session.js';
import { NAME_SEPARATOR } from '../upstreams/names.js';

const SUBSCRIPTION_ID = 'io.modelcontextprotocol/subscriptionId';
const LOG_LEVEL = 'io.modelcontextprotocol/logLevel';
/** RFC 5424 severities, least severe first (MCP "Logging"). */
const LOG_LEVELS = ['debug', 'info', 'notice', 'warning', 'error', 'critical', 'alert', 'emergency'];
/** The methods whose request names one upstream by a `<server>__<name>` name. */
const NAMED = new Set(['tools/call', 'prompts/get']);

interface Pending {
  res: ServerResponse;
  clientId: JsonRpcId;
  /** The client's own progress token, when it sent one (the daemon's is `hp-<id>`). */
  progressToken?: string | number;
  streaming: boolean;
  done: boolean;
  /** The least severe log level it asked for (index in LOG_LEVELS); -1: no log messages. */
  logLevel: number;
  /** The upstream its tool or prompt name names ('' for exai's own; undefined: names none). */
  upstream?: string;
  /** Its answer came and goes out next (on the event loop's check phase). */
  answered?: boolean;
  /** Open through a whole keep-alive beat. */
  quiet?: boolean;
}

/** The transport of one shared 2026-07-28 HTTP session (see the module comment). */
export class ModernHttpTransport implements SessionTransport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;
  private readonly pending = new Map<string, Pending>();
  private counter = 0;
  private closed = false;

  constructor(
    readonly sessionId: string,
    private readonly onIncoming: (message: JSONRPCMessage) => void,
  ) {}

  /** Requests of this session whose response is still open. */
  get open(): number {
    return this.pending.size;
  }

  async start(): Promise<void> {}

  /** Serves one POSTed request on `res`. */
  request(message: WireRequest, res: ServerResponse): void {
    const internal = `h${++this.counter}`;
    const params = message.params ? { ...message.params } : undefined;
    const meta = params?._meta as Record<string, unknown> | undefined;
    const listen = message.method === 'subscriptions/listen';
    const entry: Pending = { res, clientId: message.id, streaming: false, done: false, logLevel: listen ? -1 : LOG_LEVELS.indexOf(String(meta?.[LOG_LEVEL])) };
    if (NAMED.has(message.method) && typeof params?.name === 'string') entry.upstream = upstreamOf(params.name);
    if (params && meta && (typeof meta.progressToken === 'string' || typeof meta.progressToken === 'number')) {
      entry.progressToken = meta.progressToken;
      params._meta = { ...meta, progressToken: `hp-${internal}` };
    }
    this.pending.set(internal, entry);
    res.once('close', () => {
      if (entry.done || this.closed) return;
      // The client went away before the answer: the request is cancelled (a listen ends so).
      this.pending.delete(internal);
      this.deliver({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: internal, reason: 'the HTTP request was closed' } });
    });
    this.deliver({ jsonrpc: '2.0', id: internal, method: message.method, ...(params ? { params } : {}) });
  }

  /** A POSTed `notifications/cancelled` naming one of this session's open requests (by the client's id); false when none is. */
  cancel(requestId: JsonRpcId, reason: unknown): boolean {
    for (const [internal, entry] of this.pending) {
      if (entry.clientId !== requestId) continue;
      this.deliver({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: internal, ...(typeof reason === 'string' ? { reason } : {}) } });
      return true;
    }
    return false;
  }

  private deliver(message: WireMessage): void {
    const sdk = asSdkMessage(message);
    this.onIncoming(sdk);
    this.onmessage?.(sdk);
  }

  send(message: JSONRPCMessage): Promise<void> {
    const wire = fromSdkMessage(message);
    if (isResponse(wire)) {
      const key = String(wire.id);
      const entry = this.pending.get(key);
      if (!entry || entry.answered) return Promise.resolve(); // its client went away
      const answer = () => {
        this.pending.delete(key);
        entry.done = true;
        this.write(entry, { ...wire, id: entry.clientId }, true);
      };
      if (entry.logLevel < 0) answer();
      else {
        // An upstream's log message reaches the daemon before the call's result, but through
        // more promise hops (the SDK Client's handler, the session Server's notification):
        // the answer waits for the microtasks queued so far, so such a message still finds it open.
        entry.answered = true;
        setImmediate(answer);
      }
      return Promise.resolve();
    }
    if (isRequest(wire)) return Promise.resolve(); // the EraTransport answers these inside calls
    const params = wire.params ?? {};
    const token = (params as { progressToken?: unknown }).progressToken;
    if (typeof token === 'string' && token.startsWith('hp-')) {
      const entry = this.pending.get(token.slice(3));
      if (entry) this.write(entry, { ...wire, params: { ...params, progressToken: entry.progressToken } }, false);
      return Promise.resolve();
    }
    const meta = params._meta as Record<string, unknown> | undefined;
    const listen = meta?.[SUBSCRIPTION_ID];
    if (typeof listen === 'string') {
      const entry = this.pending.get(listen);
      if (entry) this.write(entry, { ...wire, params: { ...params, _meta: { ...meta, [SUBSCRIPTION_ID]: entry.clientId } } }, false);
    }
    if (wire.method === 'notifications/message') {
      const entry = this.logStream(params as { level?: unknown; logger?: unknown });
      if (entry) this.write(entry, wire, false);
    }
    // Anything else has no request to travel on (2026-07-28 has no GET stream): dropped.
    return Promise.resolve();
  }

  /** The open request a log message goes out on (see the module comment), if any. */
  private logStream(params: { level?: unknown; logger?: unknown }): Pending | undefined {
    const level = LOG_LEVELS.indexOf(String(params.level));
    const logger = typeof params.logger === 'string' ? params.logger : '';
    let any: Pending | undefined;
    let own: Pending | undefined;
    for (const entry of this.pending.values()) {
      if (entry.done || entry.logLevel < 0 || level < entry.logLevel) continue;
      if (entry.upstream === undefined) any = entry;
      else if (entry.upstream !== '' && (logger === entry.upstream || logger.startsWith(`${entry.upstream}/`))) own = entry;
    }
    return own ?? any;
  }

  /**
   * The keep-alive beat (endpoint.ts): a request still unanswered after a whole beat gets its
   * SSE head now, and a streaming one an SSE comment, so no client gives up on a long call or a
   * quiet listen.
   */
  beat(): void {
    for (const entry of this.pending.values()) {
      if (entry.done || entry.res.destroyed) continue;
      if (entry.streaming) entry.res.write(':\n\n');
      else if (entry.quiet) this.openStream(entry);
      else entry.quiet = true;
    }
  }

  private openStream(entry: Pending): void {
    entry.streaming = true;
    entry.res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache, no-transform', Connection: 'keep-alive', 'X-Accel-Buffering': 'no' });
    entry.res.flushHeaders();
  }

  private write(entry: Pending, message: WireMessage, last: boolean): void {
    const { res } = entry;
    if (res.destroyed) return;
    let text = JSON.stringify(message);
    if (text.length * 3 > MAX_PAYLOAD && Buffer.byteLength(text) > MAX_PAYLOAD) {
      if (!last) return;
      const what = `a message of ${Buffer.byteLength(text)} bytes, more than the ${MAX_PAYLOAD}-byte limit of the exai connection`;
      text = JSON.stringify({ jsonrpc: '2.0', id: entry.clientId, error: { code: INTERNAL_ERROR, message: `the answer is ${what}; ask for less at once` } });
    }
    if (!entry.streaming && last) {
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
      res.end(text);
      return;
    }
    if (!entry.streaming) this.openStream(entry);
    res.write(`event: message\ndata: ${text}\n\n`);
    if (last) res.end();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const entry of this.pending.values()) {
      entry.done = true;
      entry.res.destroy();
    }
    this.pending.clear();
    this.onclose?.();
  }
}

/** The upstream a `<server>__<name>` tool or prompt name names; '' for one of exai's own. */
function upstreamOf(name: string): string {
  const at = name.indexOf(NAME_SEPARATOR);
  return at > 0 ? name.slice(0, at) : '';
}
