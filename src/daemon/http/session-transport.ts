import type { IncomingMessage, ServerResponse } from 'node:http';
import { SUPPORTED_PROTOCOL_VERSIONS, type JSONRPCMessage, type Transport, type TransportSendOptions } from '@modelcontextprotocol/server';
import { MAX_PAYLOAD } from '../../transport/constants.js';
import { INTERNAL_ERROR, asSdkMessage, isJsonRpcMessage, isRequest, isResponse, type JsonRpcId, type WireMessage } from '../../transport/jsonrpc.js';
import { SessionEventStore } from './event-store.js';
import { jsonError, readBody, requestBodyTooLargeMessage } from './replies.js';

/**
 * One SSE-capable response: a POST that carried requests, or the session's GET stream. `res`
 * is undefined while the client is away from an SSE stream it can resume (it got its priming
 * event): what comes for it meanwhile is only stored, for the client's `Last-Event-ID` GET.
 */
interface Stream {
  /** Names its events in the event store; 'g' for the GET stream. */
  id: string;
  res: ServerResponse | undefined;
  waiting: Set<string>;
  /** The progress tokens its requests declared (their progress rides on this response). */
  tokens: string[];
  /** SSE once anything but the single answer went out on it; JSON until then. */
  sse: boolean;
  /** Answers of a batch held for one JSON array. */
  answers: WireMessage[];
  batch: boolean;
  /** Whether its client gets event ids (MCP-Protocol-Version 2025-11-25 and later), so it can resume. */
  resumable: boolean;
  /** Open through a whole keep-alive beat. */
  quiet?: boolean;
}

/** Event ids (and the priming event that lets a client resume) from this protocol version on. */
const RESUMABLE_FROM = '2025-11-25';

const key = (id: unknown) => JSON.stringify(id);

/**
 * One 2025-11-25 Streamable HTTP session's transport, on Node's req/res directly. The SDK v1
 * StreamableHTTPServerTransport converts every request into a web-standard Request/Response
 * (undici, web streams): about 1.3 ms of daemon CPU per request, measured, where this costs a
 * fraction. It keeps the SDK transport's wire behaviour (status codes and messages, the
 * `Mcp-Session-Id` and `MCP-Protocol-Version` checks, one GET stream per session, DELETE) and
 * does two things better for a gateway: an answer with nothing before it goes out as one
 * `application/json` body (the spec lets the server choose per request; clients accept both),
 * and a progress notification rides on the response of the request that asked for it (the
 * gateway sends it without the SDK's relatedRequestId). Anything else not tied to a request
 * (list changes, log messages, server-to-client requests) goes on the GET stream; with none
 * open, a server request goes on the latest open request's response, and a notification is
 * dropped (as the SDK does).
 * Its SSE streams are resumable (event-store.ts): each event has an id, a stream starts with a
 * priming event, and a client that lost one comes back with GET and `Last-Event-ID` to get what
 * it missed, after which that response carries the rest of the stream. A POST stream whose
 * client went away keeps its requests (their answers are stored) rather than dropping them; a
 * lost GET stream's notifications are stored too.
 * It counts each message before the session sees it, and holds the 32 MiB message limit both
 * ways (a body over it is refused 413; an answer over it becomes an error naming the limit).
 */
export class HttpSessionTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;
  private _initialized = false;
  private closed = false;
  /** The session's GET stream, once one was opened (detached while its client is away). */
  private get: Stream | undefined;
  private readonly byRequest = new Map<string, Stream>();
  /** POST streams with requests still to answer, in the order they came. */
  private readonly open = new Set<Stream>();
  private readonly streams = new Map<string, Stream>();
  private streamCount = 0;
  private readonly events = new SessionEventStore();

  constructor(
    readonly sessionId: string,
    private readonly onIncoming: (message: JSONRPCMessage) => void,
  ) {}

  /** Whether `initialize` was taken (then the session id is the client's). */
  get initialized(): boolean {
    return this._initialized;
  }

  async start(): Promise<void> {}

  async handleRequest(req: IncomingMessage, res: ServerResponse, parsedBody?: unknown): Promise<void> {
    const method = req.method;
    if (method === 'POST') return this.post(req, res, parsedBody);
    if (method === 'GET') return this.stream(req, res);
    if (method === 'DELETE') {
      if (this.versionRefused(req, res)) return;
      await this.close();
      res.writeHead(200).end();
      return;
    }
    res.setHeader('Allow', 'GET, POST, DELETE');
    jsonError(res, 405, -32000, 'Method not allowed.');
  }

  private versionRefused(req: IncomingMessage, res: ServerResponse): boolean {
    const version = req.headers['mcp-protocol-version'];
    if (typeof version !== 'string' || SUPPORTED_PROTOCOL_VERSIONS.includes(version)) return false;
    jsonError(res, 400, -32000, `Bad Request: Unsupported protocol version: ${version} (supported versions: ${SUPPORTED_PROTOCOL_VERSIONS.join(', ')})`);
    return true;
  }

  private stream(req: IncomingMessage, res: ServerResponse): void {
    if (!(req.headers.accept ?? '').includes('text/event-stream')) {
      jsonError(res, 406, -32000, 'Not Acceptable: Client must accept text/event-stream');
      return;
    }
    if (this.versionRefused(req, res)) return;
    const lastEventId = req.headers['last-event-id'];
    if (typeof lastEventId === 'string' && lastEventId !== '') {
      this.resume(lastEventId, res);
      return;
    }
    if (this.get?.res) {
      jsonError(res, 409, -32000, 'Conflict: Only one SSE stream is allowed per session');
      return;
    }
    // A client back without an id starts the GET stream afresh (what was stored for it stays replayable).
    this.get ??= { id: 'g', res: undefined, waiting: new Set(), tokens: [], sse: true, answers: [], batch: false, resumable: false };
    this.get.resumable = resumable(req);
    this.attach(this.get, res);
    this.openSse(this.get, res);
  }

  /** A GET with `Last-Event-ID`: what the client missed on that stream, then the rest of it. */
  private resume(lastEventId: string, res: ServerResponse): void {
    const missed: string[] = [];
    const replay = this.events.replayEventsAfter(lastEventId, (id, text) => missed.push(sseEvent(text, id)));
    if ('refused' in replay) {
      jsonError(res, 400, -32000, `Bad Request: cannot resume: ${replay.refused}`);
      return;
    }
    const stream = replay.stream === 'g' ? this.get : this.streams.get(replay.stream);
    res.writeHead(200, sseHeaders(this.sessionId));
    for (const event of missed) res.write(event);
    if (!stream) {
      // Its requests were all answered while the client was away: the replay had the rest.
      res.end();
      return;
    }
    // The old response may still look open here (its loss not noticed yet): this one takes over.
    const old = stream.res;
    stream.res = undefined;
    old?.destroy();
    stream.sse = true;
    stream.resumable = true;
    this.attach(stream, res);
  }

  /** Makes `res` the stream's response; when it closes early, a resumable SSE stream waits for the client. */
  private attach(stream: Stream, res: ServerResponse): void {
    stream.res = res;
    res.once('close', () => {
      if (stream.res !== res) return; // answered and ended, or taken over by a resume
      stream.res = undefined;
      if (stream.sse && stream.resumable) return;
      if (stream === this.get) this.get = undefined;
      else this.forget(stream);
    });
  }

  /** The SSE head and, for a client that can resume, a priming event (an id, no data). */
  private openSse(stream: Stream, res: ServerResponse): void {
    res.writeHead(200, sseHeaders(this.sessionId));
    if (stream.resumable) res.write(`id: ${this.events.storeEvent(stream.id, '')}\ndata: \n\n`);
    else res.flushHeaders();
  }

  private async post(req: IncomingMessage, res: ServerResponse, parsedBody: unknown): Promise<void> {
    const accept = req.headers.accept ?? '';
    if (!accept.includes('application/json') || !accept.includes('text/event-stream')) {
      jsonError(res, 406, -32000, 'Not Acceptable: Client must accept both application/json and text/event-stream');
      return;
    }
    if (!(req.headers['content-type'] ?? '').includes('application/json')) {
      jsonError(res, 415, -32000, 'Unsupported Media Type: Content-Type must be application/json');
      return;
    }
    let body = parsedBody;
    if (body === undefined) {
      const text = await readBody(req, MAX_PAYLOAD);
      if (text === 'too large') {
        jsonError(res, 413, -32000, requestBodyTooLargeMessage(MAX_PAYLOAD), true);
        return;
      }
      try {
        body = JSON.parse(text);
      } catch {
        jsonError(res, 400, -32700, 'Parse error: Invalid JSON');
        return;
      }
    }
    const batch = Array.isArray(body);
    const messages: unknown[] = batch ? (body as unknown[]) : [body];
    if (messages.length === 0 || !messages.every(isJsonRpcMessage)) {
      jsonError(res, 400, -32700, 'Parse error: Invalid JSON-RPC message');
      return;
    }
    const wire = messages as WireMessage[];
    const initializing = wire.some((m) => isRequest(m) && m.method === 'initialize');
    if (initializing) {
      if (this._initialized) {
        jsonError(res, 400, -32600, 'Invalid Request: Server already initialized');
        return;
      }
      if (wire.length > 1) {
        jsonError(res, 400, -32600, 'Invalid Request: Only one initialization request is allowed');
        return;
      }
      this._initialized = true;
    } else if (this.versionRefused(req, res)) return;
    const requests = wire.filter(isRequest);
    if (requests.length === 0) {
      res.writeHead(202).end();
      for (const m of wire) this.deliver(m);
      return;
    }
    const stream: Stream = { id: `p${++this.streamCount}`, res: undefined, waiting: new Set(), tokens: [], sse: false, answers: [], batch, resumable: resumable(req) };
    for (const r of requests) {
      stream.waiting.add(key(r.id));
      this.byRequest.set(key(r.id), stream);
      const token = (r.params?._meta as { progressToken?: unknown } | undefined)?.progressToken;
      if (token !== undefined) stream.tokens.push(key(token));
    }
    this.open.add(stream);
    this.streams.set(stream.id, stream);
    this.attach(stream, res);
    for (const m of wire) this.deliver(m);
  }

  private deliver(message: WireMessage): void {
    const sdk = asSdkMessage(message);
    this.onIncoming(sdk);
    this.onmessage?.(sdk);
  }

  private forget(stream: Stream): void {
    this.open.delete(stream);
    this.streams.delete(stream.id);
    for (const id of stream.waiting) if (this.byRequest.get(id) === stream) this.byRequest.delete(id);
  }

  send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    const wire = message as unknown as WireMessage;
    let text = JSON.stringify(message);
    if (text.length * 3 > MAX_PAYLOAD && Buffer.byteLength(text) > MAX_PAYLOAD) {
      const id = isResponse(wire) ? wire.id : undefined;
      const what = `a message of ${Buffer.byteLength(text)} bytes, more than the ${MAX_PAYLOAD}-byte limit of the exai connection`;
      this.onerror?.(new Error(`dropped ${what}`));
      if (id === undefined || id === null) return Promise.resolve();
      text = JSON.stringify({ jsonrpc: '2.0', id, error: { code: INTERNAL_ERROR, message: `the answer is ${what}; ask for less at once` } });
    }
    if (isResponse(wire)) {
      const id = key(wire.id);
      const stream = this.byRequest.get(id);
      if (!stream) return Promise.resolve(); // its client went away
      this.byRequest.delete(id);
      stream.waiting.delete(id);
      this.answer(stream, text, wire);
      return Promise.resolve();
    }
    this.event(this.routeOf(wire, options?.relatedRequestId), text);
    return Promise.resolve();
  }

  /** The stream a message not answering a request goes out on (see the class comment). */
  private routeOf(message: WireMessage, related: JsonRpcId | undefined): Stream | undefined {
    if (related !== undefined) {
      const stream = this.byRequest.get(key(related));
      if (stream) return stream;
    }
    if ('method' in message && message.method === 'notifications/progress') {
      const token = key(message.params?.progressToken);
      for (const stream of this.open) if (stream.tokens.includes(token)) return stream;
    }
    if (this.get?.res) return this.get;
    // A server request (elicitation, sampling) comes while a call is waiting for it: on that
    // call's response it reaches a client with no GET stream (kept for its resume when that
    // client is away). A notification is dropped, or kept for a GET stream whose client is away.
    if (isRequest(message)) return [...this.open].filter((s) => s.res).at(-1) ?? [...this.open].at(-1) ?? this.get;
    return this.get;
  }

  private answer(stream: Stream, text: string, wire: WireMessage): void {
    const done = stream.waiting.size === 0;
    if (!stream.sse && stream.batch) {
      stream.answers.push(wire);
      if (!done) return;
      text = JSON.stringify(stream.answers);
    }
    if (!stream.sse && done) {
      // (A JSON stream is forgotten when its response closes: its response is here.)
      const res = this.finish(stream);
      res?.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), 'mcp-session-id': this.sessionId });
      res?.end(text);
      return;
    }
    this.event(stream, text);
    if (done) this.finish(stream)?.end();
  }

  /** Forgets a stream whose requests are all answered; its response, to end. */
  private finish(stream: Stream): ServerResponse | undefined {
    this.open.delete(stream);
    this.streams.delete(stream.id);
    const { res } = stream;
    stream.res = undefined;
    return res;
  }

  /**
   * The keep-alive beat (endpoint.ts): a call still unanswered after a whole beat turns its
   * response into an SSE stream now (headers out), and open SSE streams get an SSE comment.
   */
  beat(): void {
    for (const stream of this.open) {
      if (!stream.res) continue;
      if (stream.sse) stream.res.write(':\n\n');
      else if (stream.quiet) this.toSse(stream, stream.res);
      else stream.quiet = true;
    }
    this.get?.res?.write(':\n\n');
  }

  private event(to: Stream | undefined, text: string): void {
    if (to === undefined) return;
    if (!to.sse && to.res) this.toSse(to, to.res);
    this.write(to, text);
  }

  private toSse(to: Stream, res: ServerResponse): void {
    to.sse = true;
    this.openSse(to, res);
    // Answers of a batch held for JSON go out first, as events.
    for (const held of to.answers.splice(0)) this.write(to, JSON.stringify(held));
  }

  private write(to: Stream, text: string): void {
    const id = to.resumable ? this.events.storeEvent(to.id, text) : undefined;
    to.res?.write(sseEvent(text, id));
  }

  /** Ends the session's open streams and fires onclose once. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.get?.res?.end();
    this.get = undefined;
    for (const stream of this.open) stream.res?.end();
    this.open.clear();
    this.streams.clear();
    this.byRequest.clear();
    this.onclose?.();
  }
}

function resumable(req: IncomingMessage): boolean {
  const version = req.headers['mcp-protocol-version'];
  return typeof version === 'string' && version >= RESUMABLE_FROM;
}

function sseHeaders(sessionId: string): Record<string, string> {
  return { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache, no-transform', Connection: 'keep-alive', 'X-Accel-Buffering': 'no', 'mcp-session-id': sessionId };
}

function sseEvent(text: string, id: string | undefined): string {
  return id === undefined ? `event: message\ndata: ${text}\n\n` : `event: message\nid: ${id}\ndata: ${text}\n\n`;
}
