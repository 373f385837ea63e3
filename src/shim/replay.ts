/**
 * What a client set up on its MCP session, so that the shim can set it up again on a new
 * daemon connection without the client noticing: the initialize handshake, the resources it
 * subscribed to (resources/subscribe, MCP spec "Server: Resources") and the log level it chose
 * (logging/setLevel, "Server: Utilities: Logging"). A setting counts once the daemon accepted it.
 */
import WebSocket from 'ws';
import type { Logger } from './log.js';
import { idKey, type MessageInfo } from './framing.js';

export interface ReplayRequest {
  method: string;
  params: Record<string, unknown>;
}

const TRACKED = new Set(['initialize', 'resources/subscribe', 'resources/unsubscribe', 'logging/setLevel']);

/** Ids of the shim's own requests on a daemon connection: never shown to the client. */
const OWN_ID_PREFIX = `exai-shim-replay-${process.pid}-`;

interface Replaying {
  readonly ws: WebSocket;
  readonly initializeId: string;
  readonly timer: NodeJS.Timeout;
  readonly onReady: () => void;
}

export class SessionReplay {
  /** The client's requests that change the session, by id, until their response says whether they did. */
  private readonly pending = new Map<string, { method: string; value: Record<string, unknown> }>();
  private initialize: Record<string, unknown> | undefined;
  private initializedBytes: Buffer | undefined;
  private level: string | undefined;
  /** Subscribed URIs, in the order they were subscribed. */
  private readonly subscriptions = new Set<string>();
  private counter = 0;
  private replaying: Replaying | undefined;

  constructor(
    private readonly log: Logger,
    private readonly timeoutMs: number,
  ) {}

  /** Whether there is a session to continue (the client's initialize was accepted). */
  get hasSession(): boolean {
    return this.initialize !== undefined;
  }

  /**
   * Continues the client's session on a new connection: initialize again (privately), and once
   * the daemon answered, notifications/initialized, the log level and the subscriptions; then
   * `onReady`. A daemon that does not answer within the timeout gets its socket terminated.
   */
  begin(ws: WebSocket, onReady: () => void): void {
    const initializeId = `${OWN_ID_PREFIX}${++this.counter}`;
    ws.send(JSON.stringify({ ...this.initialize, id: initializeId }));
    const timer = setTimeout(() => {
      this.log('warn', `the daemon did not answer the replayed initialize within ${this.timeoutMs} ms; reconnecting`);
      ws.terminate();
    }, this.timeoutMs);
    this.replaying = { ws, initializeId, timer, onReady };
  }

  /** The connection being replayed on was lost. */
  abort(): void {
    if (this.replaying) clearTimeout(this.replaying.timer);
    this.replaying = undefined;
  }

  /** Whether a response answers one of the shim's own requests (then it is not the client's). */
  isOwn(info: MessageInfo): boolean {
    return typeof info.id === 'string' && info.id.startsWith(OWN_ID_PREFIX);
  }

  /** An answer to the replayed initialize or to a replayed setting. */
  ownResponse(info: MessageInfo): void {
    const failed = info.value && 'error' in info.value ? JSON.stringify(info.value.error) : undefined;
    const replaying = this.replaying;
    if (!replaying || info.id !== replaying.initializeId) {
      if (failed) this.log('warn', `the daemon refused a replayed setting of the client's session: ${failed}`);
      return;
    }
    this.abort();
    if (failed) this.log('warn', `the daemon refused the replayed initialize: ${failed}`);
    else this.log('debug', `replayed the client's initialize on the new connection`);
    const { ws } = replaying;
    if (this.initializedBytes) ws.send(this.initializedBytes, { binary: false });
    const setup = this.setup();
    for (const { method, params } of setup) ws.send(JSON.stringify({ jsonrpc: '2.0', id: `${OWN_ID_PREFIX}${++this.counter}`, method, params }));
    if (setup.length > 0) this.log('debug', `replayed ${setup.length} setting(s) of the client's session (log level, subscriptions)`);
    replaying.onReady();
  }

  /** A message from the client. */
  fromClient(info: MessageInfo, bytes: Buffer): void {
    if (info.kind === 'request' && info.value && TRACKED.has(info.method!)) {
      this.pending.set(idKey(info.id!), { method: info.method!, value: info.value });
    } else if (info.kind === 'notification' && info.method === 'notifications/initialized') {
      this.initializedBytes = bytes;
    }
  }

  /** A response from the daemon to one of the client's requests. */
  fromDaemon(info: MessageInfo): void {
    const key = idKey(info.id!);
    const request = this.pending.get(key);
    if (!request) return;
    this.pending.delete(key);
    if (!info.value || !('result' in info.value)) return;
    const params = (request.value.params ?? {}) as Record<string, unknown>;
    if (request.method === 'initialize') this.initialize = request.value;
    else if (request.method === 'logging/setLevel' && typeof params.level === 'string') this.level = params.level;
    else if (typeof params.uri === 'string') {
      if (request.method === 'resources/subscribe') this.subscriptions.add(params.uri);
      else this.subscriptions.delete(params.uri);
    }
  }

  /** The shim answered a request itself (an error): it changed nothing. */
  answeredLocally(key: string): void {
    this.pending.delete(key);
  }

  /** What to send after initialize on a new connection: the log level, then each subscription. */
  setup(): ReplayRequest[] {
    const requests: ReplayRequest[] = [];
    if (this.level !== undefined) requests.push({ method: 'logging/setLevel', params: { level: this.level } });
    for (const uri of this.subscriptions) requests.push({ method: 'resources/subscribe', params: { uri } });
    return requests;
  }
}
