/**
 * A 2026-07-28 server asks for client input inside a result (multi round-trip requests, MRTR:
 * `resultType: "input_required"` with `inputRequests`, retried with `inputResponses` and
 * `requestState`). A 2025-11-25 session knows only server-to-client requests. For a call from
 * such a session, each input request is sent on as an `elicitation/create`,
 * `sampling/createMessage` or `roots/list` from the server (the gateway routes it to a session
 * with a call in flight to it, as it does a 2025 server's), and once all are answered the call
 * is retried upstream under its own id, so its final result reaches the caller as any other.
 * A call from a 2026-07-28 session (its own envelope in `_meta`) gets the result as it is: its
 * client does the rounds itself.
 */
import { randomUUID } from 'node:crypto';
import { errorMessage } from '../../common/errors.js';
import { INTERNAL_ERROR, isRequest, isResponse, type JsonRpcId, type WireMessage, type WireRequest, type WireResponse } from '../../transport/jsonrpc.js';

const ASK_ID = `exai-input-${process.pid}-`;
/** What may answer input_required (MRTR's "retryable" requests). */
const RETRYABLE = new Set(['tools/call', 'prompts/get', 'resources/read']);
/** The SDK clients' round cap: a server that keeps asking is given up on. */
const MAX_ROUNDS = 10;
/** A round with nothing to ask (load shedding: only requestState) is retried after this pause. */
const STATE_ONLY_PAUSE_MS = 250;
const PROTOCOL_VERSION_META = 'io.modelcontextprotocol/protocolVersion';

export interface InputRoundsIo {
  /** A request as if the server sent it; false when nobody took it. */
  ask(request: WireRequest): boolean;
  /** A response as if the server sent it (to the session that made the call). */
  answer(response: WireResponse): void;
  /** The call again, to the server. */
  retry(request: WireRequest): void;
}

interface Call {
  request: WireRequest;
  rounds: number;
  /** Input keys of this round still unanswered, and the answers so far. */
  waiting: Set<string>;
  responses: Record<string, unknown>;
  requestState: string | undefined;
}

const idKey = (id: JsonRpcId) => JSON.stringify(id);

/** Whether a relayed request was made by a 2026-07-28 session (its own envelope is on it). */
function fromModernSession(request: WireRequest): boolean {
  const meta = request.params?._meta;
  return typeof meta === 'object' && meta !== null && typeof (meta as Record<string, unknown>)[PROTOCOL_VERSION_META] === 'string';
}

export class InputRounds {
  /** Calls from 2025 sessions in flight on this server, by id. */
  private readonly calls = new Map<string, Call>();
  /** The ids of the requests made of input requests: which call and which key each answers. */
  private readonly asked = new Map<string, { call: string; key: string }>();
  private counter = 0;

  constructor(private readonly io: InputRoundsIo) {}

  /** A message on its way to the server; true when it was an answer to an input request (taken). */
  sending(message: WireMessage): boolean {
    if (isResponse(message)) return typeof message.id === 'string' && message.id.startsWith(ASK_ID) && this.answered(message);
    if (!isRequest(message) && message.method === 'notifications/cancelled') {
      const requestId = message.params?.requestId;
      if (typeof requestId === 'string' || typeof requestId === 'number') this.forget(requestId);
    }
    if (isRequest(message) && RETRYABLE.has(message.method) && !fromModernSession(message) && !this.calls.has(idKey(message.id))) {
      this.calls.set(idKey(message.id), { request: message, rounds: 0, waiting: new Set(), responses: {}, requestState: undefined });
    }
    return false;
  }

  /** A message from the server; true when it was an input_required result this turned into requests. */
  received(message: WireMessage): boolean {
    if (!isResponse(message)) return false;
    const key = idKey(message.id);
    const call = this.calls.get(key);
    if (!call) return false;
    if (message.result?.resultType !== 'input_required') {
      this.calls.delete(key);
      return false;
    }
    this.round(key, call, message.result);
    return true;
  }

  /** The call ended without its result (the session cancelled, the server went away). */
  forget(id: JsonRpcId): void {
    this.calls.delete(idKey(id));
  }

  private round(key: string, call: Call, result: Record<string, unknown>): void {
    if (++call.rounds > MAX_ROUNDS) {
      this.fail(key, call, `the server kept asking for input (more than ${MAX_ROUNDS} rounds); exai gave up on the call`);
      return;
    }
    call.requestState = typeof result.requestState === 'string' ? result.requestState : undefined;
    call.responses = {};
    const requests = typeof result.inputRequests === 'object' && result.inputRequests !== null ? (result.inputRequests as Record<string, { method?: unknown; params?: unknown }>) : {};
    call.waiting = new Set(Object.keys(requests));
    if (call.waiting.size === 0) {
      setTimeout(() => this.retry(key, call), STATE_ONLY_PAUSE_MS);
      return;
    }
    for (const [inputKey, input] of Object.entries(requests)) {
      const id = `${ASK_ID}${++this.counter}`;
      this.asked.set(id, { call: key, key: inputKey });
      const method = typeof input.method === 'string' ? input.method : '';
      const params = legacyParams(method, typeof input.params === 'object' && input.params !== null ? (input.params as Record<string, unknown>) : {});
      if (!this.io.ask({ jsonrpc: '2.0', id, method, params })) {
        this.asked.delete(id);
        this.fail(key, call, `the server asked for ${method || 'input'} in a way exai cannot pass to a 2025-11-25 client`);
        return;
      }
    }
  }

  private answered(response: WireResponse): boolean {
    const asked = this.asked.get(response.id as string);
    if (!asked) return true;
    this.asked.delete(response.id as string);
    const call = this.calls.get(asked.call);
    if (!call || !call.waiting.has(asked.key)) return true;
    if (response.error) {
      this.fail(asked.call, call, `the client could not answer the server's input request: ${response.error.message}`);
      return true;
    }
    call.waiting.delete(asked.key);
    call.responses[asked.key] = response.result ?? {};
    if (call.waiting.size === 0) this.retry(asked.call, call);
    return true;
  }

  private retry(key: string, call: Call): void {
    if (this.calls.get(key) !== call) return;
    const params = {
      ...call.request.params,
      ...(Object.keys(call.responses).length > 0 ? { inputResponses: call.responses } : {}),
      ...(call.requestState === undefined ? {} : { requestState: call.requestState }),
    };
    this.io.retry({ ...call.request, params });
  }

  private fail(key: string, call: Call, message: string): void {
    this.calls.delete(key);
    for (const [id, asked] of [...this.asked]) if (asked.call === key) this.asked.delete(id);
    this.io.answer({ jsonrpc: '2.0', id: call.request.id, error: { code: INTERNAL_ERROR, message } });
  }
}

/** A 2026-07-28 input request's params as the 2025-11-25 request needs them. */
function legacyParams(method: string, params: Record<string, unknown>): Record<string, unknown> {
  // 2025 URL elicitations are completed by id (notifications/elicitation/complete); 2026 ones
  // are correlated by the server's own requestState, so they come without one.
  if (method === 'elicitation/create' && params.mode === 'url' && typeof params.elicitationId !== 'string') return { ...params, elicitationId: randomUUID() };
  return params;
}

/**
 * The rounds of one connection to `upstream`: input requests and failures go to the gateway as
 * if the server sent them (`toGateway`), retries to the server.
 */
export function inputRoundsOf(upstream: { readonly name: string; send(message: WireMessage): Promise<void> }, toGateway: (message: WireMessage) => boolean): InputRounds {
  return new InputRounds({
    ask: (request) => toGateway(request),
    answer: (response) => void toGateway(response),
    retry: (request) => {
      upstream.send(request).catch((err: unknown) => toGateway({ jsonrpc: '2.0', id: request.id, error: { code: INTERNAL_ERROR, message: `upstream server "${upstream.name}": ${errorMessage(err)}` } }));
    },
  });
}
