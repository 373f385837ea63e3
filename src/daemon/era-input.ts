/**
 * Server-to-client requests for a 2026-07-28 session (DESIGN.md "Protocol eras"). Such a client
 * takes no requests from its server: it gets input requests inside an `input_required` result
 * and retries its call with `inputResponses` and `requestState` (multi round-trip requests).
 * A 2025 server's `elicitation/create`, `sampling/createMessage` or `roots/list`, routed by the
 * gateway to this session while one of its calls to that server is in flight, therefore answers
 * that call (the one the gateway names, else the latest) with `input_required`; the retry's responses answer the server's requests, and the
 * call's real result, when it comes, answers the retry. The session's SDK Server never sees
 * the rounds: to it the call simply took longer.
 */
import { randomUUID } from 'node:crypto';
import type { JsonRpcId, WireMessage, WireRequest, WireResponse } from '../transport/jsonrpc.js';

/**
 * `_meta` key the gateway puts on an upstream's request to a 2026-07-28 session: the session's
 * own id of the call to that upstream it belongs to (taken off before the client sees it).
 */
export const RELATED_CALL_META = 'exai/relatedCall';

/** Calls that may answer `input_required` (MRTR's retryable requests). */
const RETRYABLE = new Set(['tools/call', 'prompts/get', 'resources/read']);
/** exai's own requestState values; an upstream 2026-07-28 server's own pass through untouched. */
const STATE_PREFIX = 'exai-input-';
const INVALID_PARAMS = -32602;

const key = (id: JsonRpcId) => JSON.stringify(id);

interface Call {
  /** The id the Server knows the call by (the client's first request). */
  readonly serverId: JsonRpcId;
  /** The id the client waits on now: its first request, then its latest retry. */
  clientId: JsonRpcId;
  /** While the client holds an input_required: its requestState and the server requests it answers, by input key. */
  state: string | undefined;
  asked: Map<string, JsonRpcId>;
  /** Server requests that came while the client held one: the next round. */
  queued: WireRequest[];
  /** The call's result, when it came while the client held an input_required: the retry gets it. */
  final: WireResponse | undefined;
}

export interface SessionInputIo {
  /** To the client. */
  toClient(message: WireMessage): void;
  /** To the Server (and the gateway behind it), as if the client sent it. */
  toServer(message: WireMessage): void;
}

export class SessionInput {
  /** Retryable calls in flight, by the Server's id. */
  private readonly calls = new Map<string, Call>();
  private counter = 0;

  constructor(private readonly io: SessionInputIo) {}

  /**
   * A request from the client. True when it was a retry this answered (taken); otherwise it
   * goes to the Server (cancellations of a retried call are renamed to the call's first id).
   */
  fromClient(message: WireMessage): boolean {
    if (!('id' in message) || !('method' in message)) {
      if ('method' in message && message.method === 'notifications/cancelled') this.renameCancel(message);
      return false;
    }
    const request = message as WireRequest;
    const state = request.params?.requestState;
    if (typeof state === 'string' && state.startsWith(STATE_PREFIX)) return this.retried(request, state);
    if (RETRYABLE.has(request.method)) this.calls.set(key(request.id), { serverId: request.id, clientId: request.id, state: undefined, asked: new Map(), queued: [], final: undefined });
    return false;
  }

  /**
   * A request from the Server to the client. Answered inside the latest call's result; when no
   * call is in flight, answered at once with an error (undefined then: the caller sends it).
   */
  fromServer(request: WireRequest): WireResponse | undefined {
    const related = (request.params?._meta as Record<string, unknown> | undefined)?.[RELATED_CALL_META];
    const relatedCall = typeof related === 'string' || typeof related === 'number' ? this.calls.get(key(related)) : undefined;
    const call = relatedCall ?? [...this.calls.values()].at(-1);
    if (!call) {
      return { jsonrpc: '2.0', id: request.id, error: { code: -32601, message: `a 2026-07-28 client takes ${request.method} only during one of its calls, and none is in flight` } };
    }
    call.queued.push(request);
    if (call.state === undefined) this.ask(call);
    return undefined;
  }

  /**
   * A response from the Server, as the client is to get it now: under the id it waits on (the
   * call's latest retry); undefined while the client holds an input_required (its retry gets it).
   */
  response(response: WireResponse): WireResponse | undefined {
    const call = this.calls.get(key(response.id));
    if (!call) return response;
    if (call.state !== undefined) {
      call.final = response;
      return undefined;
    }
    this.calls.delete(key(response.id));
    return { ...response, id: call.clientId };
  }

  private ask(call: Call): void {
    const inputRequests: Record<string, { method: string; params?: Record<string, unknown> }> = {};
    for (const request of call.queued.splice(0)) {
      const inputKey = `r${++this.counter}`;
      call.asked.set(inputKey, request.id);
      inputRequests[inputKey] = { method: request.method, ...(request.params ? { params: withoutTask(request.params) } : {}) };
    }
    call.state = `${STATE_PREFIX}${randomUUID()}`;
    this.io.toClient({ jsonrpc: '2.0', id: call.clientId, result: { resultType: 'input_required', inputRequests, requestState: call.state } });
  }

  private retried(request: WireRequest, state: string): boolean {
    const call = [...this.calls.values()].find((c) => c.state === state);
    if (!call) {
      this.io.toClient({ jsonrpc: '2.0', id: request.id, error: { code: INVALID_PARAMS, message: 'unknown requestState (the call it continued is over, or the daemon restarted); call again' } });
      return true;
    }
    const responses = (typeof request.params?.inputResponses === 'object' && request.params.inputResponses !== null ? request.params.inputResponses : {}) as Record<string, unknown>;
    call.clientId = request.id;
    call.state = undefined;
    if (call.final) {
      // The call ended while the client was answering: its answers are moot.
      this.calls.delete(key(call.serverId));
      this.io.toClient({ ...call.final, id: request.id });
      return true;
    }
    for (const [inputKey, serverRequestId] of call.asked) {
      const response = responses[inputKey];
      this.io.toServer(
        response !== undefined && typeof response === 'object'
          ? { jsonrpc: '2.0', id: serverRequestId, result: response as Record<string, unknown> }
          : { jsonrpc: '2.0', id: serverRequestId, error: { code: INVALID_PARAMS, message: `the client gave no answer to input request ${inputKey}` } },
      );
    }
    call.asked.clear();
    if (call.queued.length > 0) this.ask(call);
    return true;
  }

  private renameCancel(message: WireMessage): void {
    const params = 'params' in message ? message.params : undefined;
    const requestId = params?.requestId;
    if (typeof requestId !== 'string' && typeof requestId !== 'number') return;
    const call = [...this.calls.values()].find((c) => c.clientId === requestId);
    if (call && params) params.requestId = call.serverId;
  }
}

/** 2026-07-28 input requests carry no task augmentation, nor exai's routing mark. */
function withoutTask(params: Record<string, unknown>): Record<string, unknown> {
  const { task: _task, _meta, ...rest } = params;
  if (typeof _meta !== 'object' || _meta === null) return rest;
  const { [RELATED_CALL_META]: _related, ...meta } = _meta as Record<string, unknown>;
  return Object.keys(meta).length > 0 ? { ...rest, _meta: meta } : rest;
}
