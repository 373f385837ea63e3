/**
 * The gateway's relay: requests pass between a session and an upstream as JSON-RPC messages,
 * with ids and progress tokens of exai's own on the far side, and without the SDK's parsing
 * (MCP spec "Basic: JSON-RPC", "Utilities: Progress, Cancellation"). Each direction keeps a
 * table of calls in flight, so that a response, a progress notification or a cancellation
 * finds its way back, and a peer that goes away fails or cancels exactly its own calls.
 */
import {
  INTERNAL_ERROR,
  errorResponse,
  type JsonRpcId,
  type WireNotification,
  type WireRequest,
  type WireResponse,
} from '../../transport/jsonrpc.js';
import { errorMessage } from '../../common/errors.js';
import type { Upstream } from './upstream.js';
import { monotonicNow } from '../../common/clock.js';
import { Deadlines } from './deadlines.js';

/** A session as the relay sees it: somewhere to send messages. */
export interface RelaySession {
  readonly id: string;
  send(message: WireRequest | WireNotification | WireResponse): void;
}

type Deliver = (response: WireResponse) => void;

/** A request on its way to an upstream, by the id exai gave it there. */
interface UpCall {
  readonly upstream: Upstream;
  /** The session that asked (none for the gateway's own requests). */
  readonly session: RelaySession | undefined;
  readonly clientId: JsonRpcId | undefined;
  readonly seq: number;
  readonly method: string;
  readonly deliver: Deliver;
  /** Runs when the session cancels the request (after the cancellation went upstream). */
  readonly onCancel: (() => void) | undefined;
}

/** An upstream's request on its way to a session, by the id exai gave it there. */
interface DownCall {
  readonly upstream: Upstream;
  readonly upstreamId: JsonRpcId;
  readonly session: RelaySession;
  readonly deliver: Deliver;
}

/** Where a progress token exai put on a relayed request leads back to, and the token it had there. */
type ProgressRoute =
  | { readonly kind: 'session'; readonly session: RelaySession; readonly token: string | number }
  | { readonly kind: 'upstream'; readonly upstream: Upstream; readonly token: string | number };

export interface RelayOptions {
  /** Upper bound for one relayed request (ms); the asker's own timeout normally acts first. */
  callTimeoutMs: number;
}

const key = (id: JsonRpcId) => (typeof id === 'number' ? `n:${id}` : `s:${id}`);

export class Relay {
  private seq = 0;
  private readonly up = new Map<string, UpCall>();
  /** session -> its request id (key) -> exai's id upstream. */
  private readonly upBySession = new Map<RelaySession, Map<string, string>>();
  private readonly down = new Map<string, DownCall>();
  /** upstream -> its request id (key) -> exai's id towards the session. */
  private readonly downByUpstream = new Map<Upstream, Map<string, string>>();
  private readonly progress = new Map<string, ProgressRoute>();
  /** Requests whose progress was passed on during this turn of the event loop. */
  private readonly progressThisTurn = new Set<string>();

  /** callTimeoutMs for each call in flight, either way (deadlines.ts). */
  private readonly upDeadlines: Deadlines<string>;
  private readonly downDeadlines: Deadlines<string>;

  constructor(private readonly options: RelayOptions) {
    this.upDeadlines = new Deadlines(options.callTimeoutMs, (id) => this.upTimedOut(id));
    this.downDeadlines = new Deadlines(options.callTimeoutMs, (id) => this.downTimedOut(id));
  }

  private nextId(): string {
    return `exai-${++this.seq}`;
  }

  // --- session -> upstream -------------------------------------------------------------------

  /**
   * Sends `method` with `params` to the upstream on behalf of `session`'s request `clientId`
   * (or of the gateway itself, with no session). The response goes to `deliver`, with exai's
   * id still on it; progress goes back to the session under its own token.
   * Returns exai's id for the request upstream.
   */
  toUpstream(
    upstream: Upstream,
    method: string,
    params: Record<string, unknown> | undefined,
    from: { session?: RelaySession; clientId?: JsonRpcId; deliver: Deliver; onCancel?: () => void },
  ): string {
    const id = this.nextId();
    const outgoing = this.rewriteProgress(params, id, from.session ? { session: from.session } : undefined);
    const call: UpCall = {
      upstream,
      session: from.session,
      clientId: from.clientId,
      seq: this.seq,
      method,
      deliver: from.deliver,
      onCancel: from.onCancel,
    };
    this.up.set(id, call);
    upstream.lastUsedAt = monotonicNow();
    if (from.session && from.clientId !== undefined) {
      let mine = this.upBySession.get(from.session);
      if (!mine) this.upBySession.set(from.session, (mine = new Map()));
      mine.set(key(from.clientId), id);
    }
    this.upDeadlines.add(id);
    upstream.send({ jsonrpc: '2.0', id, method, ...(outgoing ? { params: outgoing } : {}) }).catch((err: unknown) => {
      const failed = this.takeUp(id);
      if (failed) failed.deliver(errorResponse(id, INTERNAL_ERROR, errorMessage(err)));
    });
    return id;
  }

  /** The same as toUpstream, as a promise of the response (the gateway's own requests). */
  askUpstream(upstream: Upstream, method: string, params: Record<string, unknown> | undefined, session?: RelaySession): Promise<WireResponse> {
    return new Promise((resolve) => this.toUpstream(upstream, method, params, { session, deliver: resolve }));
  }

  /** Forwards a session's request and sends the response back under the session's own id. */
  forward(session: RelaySession, clientId: JsonRpcId, upstream: Upstream, method: string, params: Record<string, unknown> | undefined): void {
    this.toUpstream(upstream, method, params, {
      session,
      clientId,
      deliver: (response) => session.send({ ...response, id: clientId }),
    });
  }

  /** The sessions with calls in flight on `upstream`, the newest call first. */
  callersOf(upstream: Upstream): RelaySession[] {
    const calls = [...this.up.values()].filter((c) => c.upstream === upstream && c.session);
    return calls.sort((a, b) => b.seq - a.seq).map((c) => c.session!);
  }

  /** The ids (its own) of `session`'s requests in flight on `upstream`, the newest first. */
  callIdsOf(session: RelaySession, upstream: Upstream): JsonRpcId[] {
    const calls = [...this.up.values()].filter((c) => c.upstream === upstream && c.session === session && c.clientId !== undefined);
    return calls.sort((a, b) => b.seq - a.seq).map((c) => c.clientId!);
  }

  /**
   * Whether anything is in flight with `upstream`: a request to it, or one of its requests to a
   * session (either keeps it from being stopped as idle).
   */
  busyWith(upstream: Upstream): boolean {
    for (const call of this.up.values()) if (call.upstream === upstream) return true;
    for (const call of this.down.values()) if (call.upstream === upstream) return true;
    return false;
  }

  /** Forgets the progress route of a task-creating request once its task is over. */
  dropProgress(upId: string): void {
    this.progress.delete(upId);
  }

  // --- upstream -> session -------------------------------------------------------------------

  /**
   * Sends the upstream's request `request` to `session` under an id of exai's; the session's
   * answer goes to `deliver` (default: back to the upstream under its own id).
   */
  toSession(session: RelaySession, upstream: Upstream, request: WireRequest, deliver?: Deliver): string {
    const id = this.nextId();
    const upstreamId = request.id;
    const call: DownCall = {
      upstream,
      upstreamId,
      session,
      deliver: deliver ?? ((response) => this.answerUpstream(upstream, { ...response, id: upstreamId })),
    };
    this.down.set(id, call);
    let mine = this.downByUpstream.get(upstream);
    if (!mine) this.downByUpstream.set(upstream, (mine = new Map()));
    mine.set(key(upstreamId), id);
    this.downDeadlines.add(id);
    const params = this.rewriteProgress(request.params, id, { upstream });
    session.send({ jsonrpc: '2.0', id, method: request.method, ...(params ? { params } : {}) });
    return id;
  }

  /** Withdraws a request exai sent to a session on an upstream's behalf (the session is told). */
  cancelToSession(downId: string, reason: string): void {
    const call = this.takeDown(downId);
    call?.session.send({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: downId, reason } });
  }

  /** Answers one of the upstream's requests (the response carries the upstream's own id). */
  answerUpstream(upstream: Upstream, response: WireResponse): void {
    upstream.send(response).catch(() => undefined); // it exited: nobody waits for the answer any more
  }

  // --- messages that may belong to a relayed call ---------------------------------------------

  /** A message from the upstream; true when it belonged to the relay (and was handled). */
  fromUpstream(upstream: Upstream, message: WireResponse | WireNotification): boolean {
    if ('method' in message) {
      if (message.method === 'notifications/progress') return this.routeProgress(message, upstream);
      if (message.method === 'notifications/cancelled') {
        const requestId = message.params?.requestId;
        if (typeof requestId !== 'string' && typeof requestId !== 'number') return false;
        const downId = this.downByUpstream.get(upstream)?.get(key(requestId));
        const call = downId === undefined ? undefined : this.takeDown(downId);
        if (!call) return false;
        call.session.send({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { ...message.params, requestId: downId } });
        return true;
      }
      return false;
    }
    const call = typeof message.id === 'string' ? this.up.get(message.id) : undefined;
    if (!call || call.upstream !== upstream) return false;
    // A result that creates a task keeps the progress token alive: progress goes on until the task ends.
    const task = message.result?.task;
    this.takeUp(message.id as string, typeof task === 'object' && task !== null);
    // The SDK client handles a notification a microtask after it arrives but a response at once,
    // and forgets the request's progress handler with it: progress passed on in the same turn
    // as the result would be dropped. One turn later it is not.
    if (this.progressThisTurn.has(message.id as string)) setImmediate(() => call.deliver(message));
    else call.deliver(message);
    return true;
  }

  /** A message from a session; true when it belonged to the relay (and was handled). */
  fromSession(session: RelaySession, message: WireResponse | WireNotification): boolean {
    if ('method' in message) {
      if (message.method === 'notifications/progress') return this.routeProgress(message, session);
      if (message.method === 'notifications/cancelled') {
        const requestId = message.params?.requestId;
        if (typeof requestId !== 'string' && typeof requestId !== 'number') return false;
        const upId = this.upBySession.get(session)?.get(key(requestId));
        const call = upId === undefined ? undefined : this.takeUp(upId);
        if (!call) return false;
        // The spec's cancellation: the receiver stops, and nobody answers the cancelled request.
        call.upstream
          .send({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { ...message.params, requestId: upId } })
          .catch(() => undefined);
        call.onCancel?.();
        return true;
      }
      return false;
    }
    const call = typeof message.id === 'string' ? this.down.get(message.id) : undefined;
    if (!call || call.session !== session) return false;
    this.takeDown(message.id as string);
    call.deliver(message);
    return true;
  }

  // --- peers going away ----------------------------------------------------------------------

  /** A session closed: its calls upstream are cancelled, the requests it was asked fail. */
  sessionClosed(session: RelaySession): void {
    for (const upId of [...(this.upBySession.get(session)?.values() ?? [])]) {
      const call = this.takeUp(upId);
      call?.upstream
        .send({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: upId, reason: 'the client disconnected' } })
        .catch(() => undefined);
    }
    this.upBySession.delete(session);
    for (const [id, call] of [...this.down]) {
      if (call.session !== session) continue;
      this.takeDown(id);
      call.deliver(errorResponse(id, INTERNAL_ERROR, 'the client that was asked disconnected before it answered; ask again'));
    }
    for (const [token, route] of [...this.progress]) if (route.kind === 'session' && route.session === session) this.progress.delete(token);
  }

  /** An upstream stopped or crashed: calls on it fail with `why`, its requests to sessions are cancelled. */
  upstreamGone(upstream: Upstream, why: string): void {
    for (const [id, call] of [...this.up]) {
      if (call.upstream !== upstream) continue;
      this.takeUp(id);
      call.deliver(errorResponse(id, INTERNAL_ERROR, why, { upstream: upstream.name }));
    }
    for (const [id, call] of [...this.down]) {
      if (call.upstream !== upstream) continue;
      this.takeDown(id);
      call.session.send({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: id, reason: why } });
    }
    this.downByUpstream.delete(upstream);
    for (const [token, route] of [...this.progress]) if (route.kind === 'upstream' && route.upstream === upstream) this.progress.delete(token);
  }

  // --- internals -----------------------------------------------------------------------------

  /**
   * Replaces a request's progress token with exai's id for it (tokens from different peers may
   * collide: SDKs count from 0) and remembers where progress under it goes back to.
   */
  private rewriteProgress(
    params: Record<string, unknown> | undefined,
    id: string,
    backTo: { session: RelaySession } | { upstream: Upstream } | undefined,
  ): Record<string, unknown> | undefined {
    const meta = params?._meta;
    if (!params || typeof meta !== 'object' || meta === null || !('progressToken' in meta)) return params;
    const token = (meta as { progressToken: unknown }).progressToken;
    if (backTo && (typeof token === 'string' || typeof token === 'number')) {
      this.progress.set(id, 'session' in backTo ? { kind: 'session', session: backTo.session, token } : { kind: 'upstream', upstream: backTo.upstream, token });
    }
    return { ...params, _meta: { ...meta, progressToken: id } };
  }

  /** Progress under one of exai's tokens, sent on to the peer that chose the original token. */
  private routeProgress(message: WireNotification, from: RelaySession | Upstream): boolean {
    const token = message.params?.progressToken;
    const route = typeof token === 'string' ? this.progress.get(token) : undefined;
    if (!route) return false;
    const notification: WireNotification = { ...message, params: { ...message.params, progressToken: route.token } };
    if (route.kind === 'upstream') {
      if (route.upstream === from) return false;
      route.upstream.send(notification).catch(() => undefined);
    } else {
      if (route.session === from) return false;
      route.session.send(notification);
      if (this.progressThisTurn.size === 0) setImmediate(() => this.progressThisTurn.clear());
      this.progressThisTurn.add(token as string);
    }
    return true;
  }

  private takeUp(id: string, keepProgress = false): UpCall | undefined {
    const call = this.up.get(id);
    if (!call) return undefined;
    this.up.delete(id);
    this.upDeadlines.delete(id);
    call.upstream.lastUsedAt = monotonicNow();
    if (call.session && call.clientId !== undefined) this.upBySession.get(call.session)?.delete(key(call.clientId));
    // A response that creates a task keeps its token: progress goes on until the task ends.
    if (!keepProgress) this.progress.delete(id);
    return call;
  }

  private takeDown(id: string): DownCall | undefined {
    const call = this.down.get(id);
    if (!call) return undefined;
    this.down.delete(id);
    this.downDeadlines.delete(id);
    call.upstream.lastUsedAt = monotonicNow();
    this.downByUpstream.get(call.upstream)?.delete(key(call.upstreamId));
    this.progress.delete(id);
    return call;
  }

  private upTimedOut(id: string): void {
    const call = this.takeUp(id);
    if (!call) return;
    call.upstream.send({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: id, reason: 'timed out' } }).catch(() => undefined);
    call.deliver(errorResponse(id, INTERNAL_ERROR, `upstream server "${call.upstream.name}" did not answer ${call.method} within ${this.options.callTimeoutMs} ms`));
  }

  private downTimedOut(id: string): void {
    const call = this.takeDown(id);
    if (!call) return;
    call.session.send({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: id, reason: 'timed out' } });
    call.deliver(errorResponse(id, INTERNAL_ERROR, `the client did not answer within ${this.options.callTimeoutMs} ms`));
  }
}
