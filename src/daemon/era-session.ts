/**
 * The era of one session (DESIGN.md "Protocol eras"), chosen by its opening message:
 * `initialize` (or anything else without the 2026 envelope) → a 2025-11-25 session, served as
 * before; `server/discover`, or a request whose `_meta` carries
 * `io.modelcontextprotocol/protocolVersion` → a 2026-07-28 session.
 *
 * A 2026-07-28 session has no handshake: this transport opens the session's SDK Server (and so
 * the gateway) with an `initialize` of its own, made of the first request's envelope, answers
 * `server/discover` from that initialize's result (the merged catalog's capabilities and the
 * upstreams' instructions), refuses other protocol versions with -32022, and marks results
 * `resultType: "complete"` (an upstream's own `resultType`, such as `input_required`, passes).
 * Everything else is the same session as a 2025 one. A server's elicitation, sampling or roots
 * request routed to the session is answered inside its call's result (era-input.ts): the gateway
 * routes one to it only while it has a call in flight to that server. The log messages it gets
 * follow the levels its requests name (none without one).
 */
import {
  CLIENT_CAPABILITIES_META_KEY,
  CLIENT_INFO_META_KEY,
  LOG_LEVEL_META_KEY,
  PROTOCOL_VERSION_META_KEY,
  SERVER_INFO_META_KEY,
  type JSONRPCMessage,
  type Transport,
  type TransportSendOptions,
} from '@modelcontextprotocol/server';
import { asSdkMessage, fromSdkMessage, isRequest, isResponse, type WireMessage, type WireRequest } from '../transport/jsonrpc.js';
import { SessionInput } from './era-input.js';
import { SessionListens } from './era-listen.js';
import { SessionTasks, TASKS_EXTENSION } from './era-tasks.js';

export const MODERN_VERSION = '2026-07-28';
/** What the daemon answers `initialize` with, and offers to a 2025 client. */
const LEGACY_VERSION = '2025-11-25';
export const UNSUPPORTED_PROTOCOL_VERSION = -32022;

/**
 * Results a 2026-07-28 client caches, which must say for how long (SEP-2549). exai's own lists
 * change whenever an upstream comes, goes or announces a change, and a 2026 session is not told:
 * they are stale at once and private to the session. An upstream's own hints pass unchanged.
 */
const CACHEABLE = new Set(['tools/list', 'prompts/list', 'resources/list', 'resources/templates/list', 'resources/read']);

/** The 2026-07-28 envelope's `_meta` keys, as the SDK names them. */
const META = {
  protocolVersion: PROTOCOL_VERSION_META_KEY,
  clientCapabilities: CLIENT_CAPABILITIES_META_KEY,
  clientInfo: CLIENT_INFO_META_KEY,
  serverInfo: SERVER_INFO_META_KEY,
  logLevel: LOG_LEVEL_META_KEY,
} as const;

/** RFC 5424 severities, least severe first (MCP "Logging"). */
const LOG_LEVELS = ['debug', 'info', 'notice', 'warning', 'error', 'critical', 'alert', 'emergency'];

export type SessionEra = 'undecided' | 'legacy' | 'modern';

/** The id of the session's own initialize, never seen by the client. */
const OPEN_ID = 'exai-era-open';

function metaOf(message: WireMessage): Record<string, unknown> | undefined {
  if (!('method' in message)) return undefined;
  const meta = message.params?._meta;
  return typeof meta === 'object' && meta !== null ? (meta as Record<string, unknown>) : undefined;
}

/** The era an opening message selects (DESIGN.md). */
export function eraOfOpening(message: WireMessage): 'legacy' | 'modern' {
  if (!isRequest(message)) return 'legacy';
  if (message.method === 'server/discover') return 'modern';
  return typeof metaOf(message)?.[META.protocolVersion] === 'string' ? 'modern' : 'legacy';
}

/**
 * The protocol revision a client's opening request asks for: `initialize`'s protocolVersion (a
 * 2025-era client may ask for an older one, which the Server accepts), or the 2026-07-28
 * envelope's. Undefined for a message that opens nothing (a notification, a request naming a
 * revision exai refuses).
 */
export function protocolOfOpening(message: WireMessage): string | undefined {
  if (!isRequest(message)) return undefined;
  if (message.method === 'initialize') {
    const asked = message.params?.protocolVersion;
    return typeof asked === 'string' ? asked : undefined;
  }
  if (eraOfOpening(message) !== 'modern') return undefined;
  // Another revision is refused (-32022) and opens nothing.
  return unsupportedRevision(message) === undefined ? MODERN_VERSION : undefined;
}

/** The revision a request's 2026-07-28 envelope names when exai does not speak it; else undefined. */
function unsupportedRevision(message: WireMessage): unknown {
  const requested = metaOf(message)?.[META.protocolVersion];
  return requested === MODERN_VERSION ? undefined : requested;
}

/** Wraps a session's transport; the Server (and the gateway) connect to this instead. */
export class EraTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: <T extends JSONRPCMessage>(message: T) => void;
  private _era: SessionEra = 'undecided';
  /** The Server's answer to the session's own initialize, once it came. */
  private opened: Record<string, unknown> | undefined;
  private readonly waitingForOpen: WireRequest[] = [];
  /** The method of each request of the client's that the Server has not answered yet. */
  private readonly methods = new Map<string, string>();
  /**
   * The log level (index in LOG_LEVELS) the client's latest request named, -1 for none. A
   * 2026-07-28 server logs only for requests that name a level, at that level and above; exai
   * applies the rule to the log messages it sends this session. Servers are shared by all
   * sessions and a 2025 one's messages name no request, so they are filtered here, by the
   * latest request (a message may come just after its call's result: not by the calls in flight).
   */
  private logLevel = -1;

  /** Server-to-client requests answered inside the session's calls (era-input.ts). */
  private readonly input = new SessionInput({ toClient: (m) => this.reply(m), toServer: (m) => this.deliver(m) });
  /** The tasks extension over exai's 2025 tasks (era-tasks.ts). */
  private readonly tasks = new SessionTasks({ toClient: (m) => this.reply(m), toServer: (m) => this.deliver(m) });
  /** Its subscriptions/listen requests, over the Server's 2025 subscriptions (era-listen.ts). */
  private readonly listens = new SessionListens({ toClient: (m) => this.reply(m), toServer: (m) => this.deliver(m) });

  constructor(private readonly inner: Transport) {}

  get era(): SessionEra {
    return this._era;
  }
  get sessionId(): string | undefined {
    return this.inner.sessionId;
  }

  async start(): Promise<void> {
    this.inner.onclose = () => this.onclose?.();
    this.inner.onerror = (error) => this.onerror?.(error);
    this.inner.onmessage = (message) => this.fromClient(fromSdkMessage(message));
    await this.inner.start();
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    if (this._era !== 'modern') return this.inner.send(message, options);
    const wire = fromSdkMessage(message);
    if (isResponse(wire) && wire.id === OPEN_ID) {
      this.openedWith(wire);
      return Promise.resolve();
    }
    if (isRequest(wire)) {
      const refused = this.input.fromServer(wire);
      if (refused) this.deliver(refused);
      return Promise.resolve();
    }
    if (isResponse(wire) && (this.listens.ownResponse(wire.id) || this.tasks.ownResponse(wire))) return Promise.resolve();
    if (!isResponse(wire) && this.listens.fromServer(wire)) return Promise.resolve();
    if (!isResponse(wire) && wire.method === 'notifications/message' && !this.wantsLog(wire.params?.level)) return Promise.resolve();
    if (isResponse(wire)) {
      const method = this.methods.get(JSON.stringify(wire.id));
      this.methods.delete(JSON.stringify(wire.id));
      const now = this.input.response(wire);
      if (!now) return Promise.resolve();
      const result = now.result && this.tasks.result(now.result, method, now.id);
      if (now.result && !result) return Promise.resolve();
      return this.inner.send(asSdkMessage(result ? { ...now, result: modernResult(result, method) } : now), options);
    }
    return this.inner.send(asSdkMessage(SessionTasks.notification(wire)), options);
  }

  private deliver(message: WireMessage): void {
    this.onmessage?.(asSdkMessage(message));
  }

  private reply(message: WireMessage): void {
    void this.inner.send(asSdkMessage(message)).catch(() => undefined);
  }

  private fromClient(message: WireMessage): void {
    if (this._era === 'undecided') {
      // The first request decides; a notification before it passes as in a 2025 session.
      if (!isRequest(message)) {
        this.deliver(message);
        return;
      }
      const era = eraOfOpening(message);
      // A revision exai does not speak opens nothing: the client may open again, with
      // initialize or another revision (the SDK v2 client's negotiation does), on this connection.
      if (era === 'modern' && this.refusedVersion(message)) return;
      this._era = era;
      if (era === 'modern') this.open(message);
    }
    if (this._era === 'legacy') {
      this.deliver(message);
      return;
    }
    if (!isRequest(message)) {
      if (this.listens.fromClient(message)) return;
      this.input.fromClient(message);
      this.deliver(message);
      return;
    }
    const meta = metaOf(message);
    // (A listen stays open for good and names no level of its own.)
    if (message.method !== 'subscriptions/listen') this.logLevel = LOG_LEVELS.indexOf(String(meta?.[META.logLevel]));
    if (this.refusedVersion(message)) return;
    if (this.tasks.fromClient(message) || this.input.fromClient(message)) return;
    if (this.opened && this.listens.fromClient(message)) return;
    // (Before the session is open, a listen waits in order with the rest: see drain.)
    this.methods.set(JSON.stringify(message.id), message.method);
    if (message.method === 'server/discover' || !this.opened) {
      // Until the Server answered the session's initialize, requests wait (in order).
      this.waitingForOpen.push(message);
      if (this.opened) this.drain();
      return;
    }
    this.deliver(message);
  }

  /** A request naming a revision other than 2026-07-28 gets -32022 with the supported one (true). */
  private refusedVersion(message: WireRequest): boolean {
    const requested = unsupportedRevision(message);
    if (requested === undefined) return false;
    this.reply({
      jsonrpc: '2.0',
      id: message.id,
      error: {
        code: UNSUPPORTED_PROTOCOL_VERSION,
        message: `Unsupported protocol version: ${String(requested)} (this session speaks ${MODERN_VERSION}; ${LEGACY_VERSION} opens with initialize)`,
        data: { supported: [MODERN_VERSION], requested },
      },
    });
    return true;
  }

  private wantsLog(level: unknown): boolean {
    return this.logLevel >= 0 && LOG_LEVELS.indexOf(String(level)) >= this.logLevel;
  }

  /** Opens the Server's session with the capabilities and identity of the client's envelope. */
  private open(first: WireMessage): void {
    const meta = metaOf(first) ?? {};
    const declared = meta[META.clientCapabilities];
    // Roots included: the gateway asks such a session for them only inside its calls (era-input.ts).
    const capabilities = (typeof declared === 'object' && declared !== null ? declared : {}) as Record<string, unknown>;
    const info = meta[META.clientInfo];
    const clientInfo = typeof info === 'object' && info !== null ? info : { name: `${MODERN_VERSION} client`, version: '0' };
    this.deliver({ jsonrpc: '2.0', id: OPEN_ID, method: 'initialize', params: { protocolVersion: LEGACY_VERSION, capabilities, clientInfo } });
  }

  private openedWith(response: WireMessage): void {
    this.opened = 'result' in response && response.result ? response.result : {};
    this.deliver({ jsonrpc: '2.0', method: 'notifications/initialized' });
    this.drain();
  }

  private drain(): void {
    for (const request of this.waitingForOpen.splice(0)) {
      if (request.method === 'server/discover') {
        this.methods.delete(JSON.stringify(request.id));
        this.reply({ jsonrpc: '2.0', id: request.id, result: this.discoverResult() });
      } else if (this.listens.fromClient(request)) {
        this.methods.delete(JSON.stringify(request.id));
      } else this.deliver(request);
    }
  }

  /** `server/discover`: what the session's initialize said, in 2026-07-28 terms. */
  private discoverResult(): Record<string, unknown> {
    const opened = this.opened ?? {};
    // 2025 tasks are not 2026-07-28 tasks (an extension there); the rest means the same.
    const { tasks, ...capabilities } = (opened.capabilities ?? {}) as Record<string, unknown>;
    // exai's 2025 tasks reach such a session through the tasks extension (era-tasks.ts).
    if (tasks) capabilities.extensions = { ...(capabilities.extensions as Record<string, unknown>), [TASKS_EXTENSION]: {} };
    return {
      supportedVersions: [MODERN_VERSION],
      capabilities,
      ...(typeof opened.instructions === 'string' ? { instructions: opened.instructions } : {}),
      resultType: 'complete',
      _meta: { [META.serverInfo]: opened.serverInfo },
    };
  }
}

/** A result in 2026-07-28 terms: `resultType` (default complete) and, where cached, how long. */
function modernResult(result: Record<string, unknown>, method: string | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = { ...result, resultType: result.resultType ?? 'complete' };
  if (method !== undefined && CACHEABLE.has(method) && out.resultType === 'complete') {
    if (typeof out.ttlMs !== 'number') out.ttlMs = 0;
    if (out.cacheScope !== 'public' && out.cacheScope !== 'private') out.cacheScope = 'private';
  }
  return out;
}
