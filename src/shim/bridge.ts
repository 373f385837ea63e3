/**
 * The relay between the editor's stdio (newline-delimited JSON-RPC) and the daemon's
 * WebSocket (one text frame per message). Streams and the connect function are injected, so
 * the same code runs under the CLI and in tests with memory streams.
 *
 * What the editor must never see: a hang. Requests in flight when the daemon goes away get an
 * error at once; requests sent while it is away wait (bounded) and then get an error; a queue
 * overflow is answered, not dropped. What the editor must not have to do: re-initialize. The
 * cached `initialize` and `notifications/initialized` are replayed on every new connection.
 */
import { isUtf8 } from 'node:buffer';
import type { Readable, Writable } from 'node:stream';
import WebSocket from 'ws';
import {
  LineSplitter,
  errorResponse,
  idKey,
  inspectMessage,
  sniffId,
  type JsonRpcId,
  type MessageInfo,
} from './framing.js';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type Logger = (level: LogLevel, message: string) => void;

/** What the connect function learns about the attempt it is asked to make. */
export interface ConnectContext {
  /** 0 for the first attempt after start or after a drop. */
  attempt: number;
  /** Counts connection losses; 0 until the first connection was lost. */
  outage: number;
  /** Whether any connection was ever established. */
  everConnected: boolean;
  /** How long the shim has been without a daemon (since start, or since the drop). */
  downForMs: number;
  /** Client requests queued for the daemon: someone is waiting for it right now. */
  waitingRequests: number;
}

export interface BridgeOptions {
  input: Readable;
  output: Writable;
  /** Returns an OPEN WebSocket to the daemon, or rejects. */
  connect: (ctx: ConnectContext) => Promise<WebSocket>;
  log?: Logger;
  /** Errors from `connect` that no retry can fix (bad token, no workspace): the bridge gives up. */
  isFatal?: (err: unknown) => boolean;
  /** Delays before successive reconnect attempts; the last one repeats. */
  backoffMs?: readonly number[];
  /** How long a message queued while the daemon is away waits before it is given up. */
  outageMs?: number;
  maxQueueMessages?: number;
  maxQueueBytes?: number;
  /** How long the replayed `initialize` may take before the connection is considered bad. */
  replayTimeoutMs?: number;
  /** Larger stdin messages are refused locally (the daemon would close the socket on them). */
  maxMessageBytes?: number;
}

export interface BridgeResult {
  /** 0: stdin ended or close() was called; 1: gave up (see `error`). */
  code: number;
  error?: unknown;
}

/** Application-defined JSON-RPC server error range: the daemon could not be reached. */
export const DAEMON_UNAVAILABLE = -32000;
const INVALID_REQUEST = -32600;
const PARSE_ERROR = -32700;

/** Stop reading stdin while this much is handed to the socket but not yet written. */
const INPUT_HIGH_WATER = 8 * 1024 * 1024;
const INPUT_LOW_WATER = 1024 * 1024;

const NL = Buffer.from('\n');

interface Outgoing {
  bytes: Buffer;
  info: MessageInfo;
  deadline: number;
}

type State = 'idle' | 'connecting' | 'replaying' | 'open' | 'closed';

export class Bridge {
  readonly done: Promise<BridgeResult>;
  private resolveDone!: (result: BridgeResult) => void;

  private state: State = 'idle';
  private ws: WebSocket | undefined;
  private readonly log: Logger;
  private readonly backoff: readonly number[];
  private readonly outageMs: number;
  private readonly maxQueueMessages: number;
  private readonly maxQueueBytes: number;
  private readonly replayTimeoutMs: number;
  private readonly maxMessageBytes: number;

  private attempt = 0;
  private outage = 0;
  private everConnected = false;
  private downSince = Date.now();
  private lastConnectError: unknown;
  private connectTimer: NodeJS.Timeout | undefined;

  private queue: Outgoing[] = [];
  private queueBytes = 0;
  private sweepTimer: NodeJS.Timeout | undefined;

  /** The client's requests sent on the current connection and not yet answered. */
  private readonly inflight = new Map<string, JsonRpcId>();
  /** The server's requests to the client on the current connection, not yet answered. */
  private serverRequests = new Set<string>();
  /** Server requests from a connection that is gone: the client's late replies are dropped. */
  private staleServerRequests = new Set<string>();

  /** `initialize` requests sent, by id, until their response tells whether they succeeded. */
  private readonly pendingInitialize = new Map<string, Record<string, unknown>>();
  private cachedInitialize: Record<string, unknown> | undefined;
  private cachedInitialized: Buffer | undefined;
  private replayId: string | undefined;
  private replayCounter = 0;
  private replayTimer: NodeJS.Timeout | undefined;

  private outputBlocked = false;
  private unflushedBytes = 0;
  private inputPaused = false;
  private readonly splitter: LineSplitter;
  private readonly onData = (chunk: Buffer | string) =>
    this.splitter.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  private readonly onEnd = () => {
    this.splitter.end();
    void this.close('stdin ended');
  };
  private readonly onInputError = (err: Error) => {
    this.log('warn', `stdin failed (${err.message}); exiting`);
    void this.close('stdin failed');
  };
  private readonly onOutputError = (err: Error) => {
    this.log('warn', `stdout failed (${err.message}); the editor is gone, exiting`);
    void this.close('stdout failed');
  };

  constructor(private readonly options: BridgeOptions) {
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
    this.log = options.log ?? (() => {});
    this.backoff = options.backoffMs?.length ? options.backoffMs : [50, 100, 200, 400, 800, 1600, 2000];
    this.outageMs = options.outageMs ?? 30_000;
    this.maxQueueMessages = options.maxQueueMessages ?? 1000;
    this.maxQueueBytes = options.maxQueueBytes ?? 64 * 1024 * 1024;
    this.replayTimeoutMs = options.replayTimeoutMs ?? 10_000;
    this.maxMessageBytes = options.maxMessageBytes ?? Number.POSITIVE_INFINITY;
    this.splitter = new LineSplitter((line) => this.fromClient(line), {
      maxLineBytes: this.maxMessageBytes,
      onOversize: (head, tail, total) => this.oversize(head, tail, total),
    });
  }

  /** Starts reading stdin and connecting. Messages read before the daemon answers are queued. */
  start(): void {
    if (this.state !== 'idle') return;
    this.state = 'connecting';
    this.downSince = Date.now();
    const { input, output } = this.options;
    input.on('data', this.onData);
    input.once('end', this.onEnd);
    input.on('error', this.onInputError);
    output.on('error', this.onOutputError);
    void this.tryConnect();
  }

  /** Stops relaying, closes the WebSocket with 1000, resolves `done` with code 0. */
  async close(reason = 'closed'): Promise<void> {
    await this.finish({ code: 0 }, reason);
  }

  /** For tests and diagnostics. */
  get status() {
    return {
      state: this.state,
      queued: this.queue.length,
      inflight: this.inflight.size,
      outage: this.outage,
    };
  }

  // --- stdin -> daemon ---------------------------------------------------------------------

  private fromClient(bytes: Buffer): void {
    if (this.state === 'closed') return;
    if (!isUtf8(bytes)) {
      // A WebSocket text frame must be UTF-8; the daemon would drop the whole connection.
      this.log('warn', 'stdin carried a message that is not UTF-8; answered with a parse error');
      this.emit(errorResponse(null, PARSE_ERROR, 'exai shim: the message is not valid UTF-8; send UTF-8 JSON-RPC'));
      return;
    }
    const info = inspectMessage(bytes);
    if (info.kind === 'request' && info.method === 'initialize' && info.value) {
      this.pendingInitialize.set(idKey(info.id!), info.value);
    } else if (info.kind === 'notification' && info.method === 'notifications/initialized') {
      this.cachedInitialized = bytes;
    } else if (info.kind === 'response') {
      const key = idKey(info.id!);
      if (this.serverRequests.delete(key)) {
        // answered on the connection that asked: relay
      } else if (this.staleServerRequests.delete(key)) {
        // The daemon that asked is gone; a new one would take this reply for its own request.
        this.log('info', `dropped the client's reply to request ${JSON.stringify(info.id)} of a previous daemon connection`);
        return;
      }
    }
    // Only the classification travels with the bytes: a queued 5 MB message must not also keep its parsed copy.
    const message: Outgoing = { bytes, info: { kind: info.kind, id: info.id, method: info.method }, deadline: Date.now() + this.outageMs };
    if (this.state === 'open' && this.queue.length === 0) this.send(message);
    else this.enqueue(message);
  }

  private oversize(head: Buffer, tail: Buffer, total: number): void {
    const id = sniffId(head, tail);
    this.log('warn', `refused a ${total}-byte message from stdin (limit ${this.maxMessageBytes} bytes)`);
    this.emit(
      errorResponse(
        id ?? null,
        INVALID_REQUEST,
        `exai shim: the message is ${total} bytes, more than the ${this.maxMessageBytes}-byte limit of the daemon connection; send a smaller request`,
      ),
    );
  }

  private send(message: Outgoing): void {
    const ws = this.ws!;
    const { info, bytes } = message;
    if (info.kind === 'request') this.inflight.set(idKey(info.id!), info.id!);
    this.unflushedBytes += bytes.length;
    ws.send(bytes, { binary: false }, () => {
      if (ws !== this.ws) return;
      this.unflushedBytes -= bytes.length;
      if (this.inputPaused && this.unflushedBytes < INPUT_LOW_WATER) {
        this.inputPaused = false;
        this.options.input.resume();
      }
    });
    if (!this.inputPaused && this.unflushedBytes > INPUT_HIGH_WATER) {
      this.inputPaused = true;
      this.options.input.pause();
    }
  }

  private enqueue(message: Outgoing): void {
    const { info, bytes } = message;
    if (this.queue.length >= this.maxQueueMessages || this.queueBytes + bytes.length > this.maxQueueBytes) {
      this.refuse(
        message,
        `exai shim: too many messages are waiting for the workspace daemon to come back (limit ${this.maxQueueMessages} messages / ${this.maxQueueBytes} bytes); retry when it is back (check \`exai list\`)`,
        'queue full',
      );
      return;
    }
    const firstWaiting = info.kind === 'request' && !this.queue.some((m) => m.info.kind === 'request');
    this.queue.push(message);
    this.queueBytes += bytes.length;
    this.armSweep();
    if (firstWaiting && this.state === 'connecting' && this.connectTimer) {
      // Someone waits now: try at once instead of at the end of a long backoff step.
      this.log('debug', `${describe(info)} waits for the daemon; trying to connect now`);
      clearTimeout(this.connectTimer);
      this.connectTimer = setTimeout(() => void this.tryConnect(), 0);
    }
  }

  /** A message that will never reach the daemon: requests get an error, the rest a log line. */
  private refuse(message: Outgoing, error: string, why: string): void {
    const { info } = message;
    if (info.kind === 'request') {
      this.emit(errorResponse(info.id!, DAEMON_UNAVAILABLE, error));
      this.pendingInitialize.delete(idKey(info.id!));
    } else {
      this.log('info', `dropped ${describe(info)} (${why})`);
    }
  }

  private armSweep(): void {
    if (this.sweepTimer || this.queue.length === 0) return;
    const wait = Math.max(0, this.queue[0]!.deadline - Date.now());
    this.sweepTimer = setTimeout(() => {
      this.sweepTimer = undefined;
      this.sweep();
    }, wait);
  }

  /** Gives up the messages that waited longer than `outageMs`; the reconnect loop goes on. */
  private sweep(): void {
    const now = Date.now();
    let expired = 0;
    while (this.queue.length > 0 && this.queue[0]!.deadline <= now) {
      const message = this.queue.shift()!;
      this.queueBytes -= message.bytes.length;
      expired++;
      this.refuse(message, this.unavailableMessage(), 'the daemon stayed away');
    }
    if (expired > 0) {
      this.log('warn', `the daemon has been unreachable for ${Math.round((now - this.downSince) / 1000)} s; answered ${expired} waiting message(s) with an error, still retrying${this.lastConnectError ? ` (last error: ${errorText(this.lastConnectError)})` : ''}`);
    }
    this.armSweep();
  }

  private unavailableMessage(): string {
    const seconds = this.outageMs < 10_000 ? (this.outageMs / 1000).toFixed(1) : String(Math.round(this.outageMs / 1000));
    return `exai shim: the workspace daemon did not answer within ${seconds} s${this.lastConnectError ? ` (${errorText(this.lastConnectError)})` : ''}; the shim keeps retrying — check \`exai list\` and \`exai logs --workspace <dir>\`, then retry the request`;
  }

  // --- daemon -> stdout --------------------------------------------------------------------

  private fromDaemon(ws: WebSocket, data: Buffer, isBinary: boolean): void {
    if (ws !== this.ws || this.state === 'closed') return;
    if (isBinary) {
      this.log('warn', `ignored a binary frame of ${data.length} bytes from the daemon (MCP frames are text)`);
      return;
    }
    const info = inspectMessage(data);
    if (info.kind === 'response') {
      const key = idKey(info.id!);
      if (info.id === this.replayId) {
        this.replayDone(info);
        return;
      }
      this.inflight.delete(key);
      const init = this.pendingInitialize.get(key);
      if (init) {
        this.pendingInitialize.delete(key);
        if (info.value && 'result' in info.value) this.cachedInitialize = init;
      }
    } else if (info.kind === 'request') {
      const key = idKey(info.id!);
      this.serverRequests.add(key);
      this.staleServerRequests.delete(key);
    }
    let bytes = data;
    if (bytes.includes(0x0a)) {
      // A raw newline would split the message on stdout; JSON never needs one between tokens.
      if (info.value) bytes = Buffer.from(JSON.stringify(info.value));
      else {
        this.log('warn', 'ignored a frame from the daemon that is not JSON and contains a newline');
        return;
      }
    }
    this.emit(bytes);
  }

  /** One message and its newline on stdout; a full stdout pauses the daemon socket. */
  private emit(bytes: Buffer): void {
    const { output } = this.options;
    if (output.destroyed || output.writableEnded) return;
    let ok: boolean;
    if (bytes.length < 65_536) {
      ok = output.write(Buffer.concat([bytes, NL]));
    } else {
      output.cork();
      output.write(bytes);
      ok = output.write(NL);
      output.uncork();
    }
    if (!ok && !this.outputBlocked) {
      this.outputBlocked = true;
      this.ws?.pause();
      output.once('drain', () => {
        this.outputBlocked = false;
        if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.resume();
      });
    }
  }

  // --- connection lifecycle ----------------------------------------------------------------

  private async tryConnect(): Promise<void> {
    this.connectTimer = undefined;
    if (this.state !== 'connecting') return;
    const ctx: ConnectContext = {
      attempt: this.attempt,
      outage: this.outage,
      everConnected: this.everConnected,
      downForMs: Date.now() - this.downSince,
      waitingRequests: this.queue.reduce((n, m) => (m.info.kind === 'request' ? n + 1 : n), 0),
    };
    let ws: WebSocket;
    try {
      ws = await this.options.connect(ctx);
    } catch (err) {
      if (this.state !== 'connecting') return;
      if (this.options.isFatal?.(err)) {
        await this.finish({ code: 1, error: err }, `cannot connect: ${errorText(err)}`);
        return;
      }
      if (this.attempt === 0 || errorText(err) !== errorText(this.lastConnectError)) {
        this.log('debug', `connecting to the daemon failed (${errorText(err)}); retrying`);
      }
      this.lastConnectError = err;
      const delay = this.backoff[Math.min(this.attempt, this.backoff.length - 1)]!;
      this.attempt++;
      this.connectTimer = setTimeout(() => void this.tryConnect(), delay);
      return;
    }
    if (this.state !== 'connecting') {
      ws.close(1000, 'shim closing');
      return;
    }
    this.adopt(ws);
  }

  private adopt(ws: WebSocket): void {
    this.ws = ws;
    ws.on('message', (data: Buffer, isBinary: boolean) => this.fromDaemon(ws, data, isBinary));
    ws.on('close', (code: number, reason: Buffer) => this.lost(ws, `code ${code}${reason.length ? ` ${reason.toString()}` : ''}`));
    ws.on('error', (err) => this.log('debug', `daemon socket error: ${err.message}`));
    if (ws.readyState !== WebSocket.OPEN) {
      this.lost(ws, 'the socket closed before it was used');
      return;
    }
    if (this.outputBlocked) ws.pause();
    const downFor = Date.now() - this.downSince;
    if (this.everConnected) this.log('info', `reconnected to the daemon after ${downFor} ms`);
    else this.log('debug', `connected to the daemon after ${downFor} ms`);
    this.everConnected = true;
    this.attempt = 0;
    this.lastConnectError = undefined;
    if (this.cachedInitialize) this.replay(ws);
    else this.ready();
  }

  /** The client's session continues on the new connection: initialize again, privately. */
  private replay(ws: WebSocket): void {
    this.state = 'replaying';
    this.replayId = `exai-shim-replay-${process.pid}-${++this.replayCounter}`;
    const request = { ...this.cachedInitialize, id: this.replayId };
    ws.send(JSON.stringify(request));
    this.replayTimer = setTimeout(() => {
      this.log('warn', `the daemon did not answer the replayed initialize within ${this.replayTimeoutMs} ms; reconnecting`);
      ws.terminate();
    }, this.replayTimeoutMs);
  }

  private replayDone(info: MessageInfo): void {
    clearTimeout(this.replayTimer);
    this.replayTimer = undefined;
    this.replayId = undefined;
    if (info.value && 'error' in info.value) {
      this.log('warn', `the daemon refused the replayed initialize: ${JSON.stringify(info.value.error)}`);
    } else {
      this.log('debug', `replayed the client's initialize on the new connection`);
    }
    if (this.cachedInitialized) this.ws!.send(this.cachedInitialized, { binary: false });
    this.ready();
  }

  private ready(): void {
    this.state = 'open';
    clearTimeout(this.sweepTimer);
    this.sweepTimer = undefined;
    const queued = this.queue;
    this.queue = [];
    this.queueBytes = 0;
    for (const message of queued) this.send(message);
  }

  private lost(ws: WebSocket, why: string): void {
    if (ws !== this.ws) return;
    this.ws = undefined;
    clearTimeout(this.replayTimer);
    this.replayTimer = undefined;
    this.replayId = undefined;
    this.unflushedBytes = 0;
    if (this.inputPaused) {
      this.inputPaused = false;
      this.options.input.resume();
    }
    if (this.state === 'closed') return;
    this.log('info', `lost the connection to the daemon (${why}); reconnecting`);
    this.failInflight(
      'exai shim: the connection to the workspace daemon was lost while this request was in flight (the daemon restarted or stopped); retry the request',
    );
    for (const key of this.serverRequests) this.staleServerRequests.add(key);
    this.serverRequests = new Set();
    this.state = 'connecting';
    this.outage++;
    this.attempt = 0;
    this.downSince = Date.now();
    this.connectTimer = setTimeout(() => void this.tryConnect(), this.backoff[0]);
  }

  private failInflight(message: string): void {
    for (const [key, id] of this.inflight) {
      this.emit(errorResponse(id, DAEMON_UNAVAILABLE, message));
      this.pendingInitialize.delete(key);
    }
    this.inflight.clear();
  }

  private async finish(result: BridgeResult, reason: string): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.log('debug', `shim stopping: ${reason}`);
    clearTimeout(this.connectTimer);
    clearTimeout(this.sweepTimer);
    clearTimeout(this.replayTimer);
    const { input, output } = this.options;
    input.off('data', this.onData);
    input.off('end', this.onEnd);
    input.pause();
    output.off('error', this.onOutputError);
    if (result.code !== 0) {
      // Giving up: nobody may wait for an answer that will never come.
      const message = `exai shim: cannot reach the workspace daemon (${errorText(result.error)}); the shim is exiting`;
      this.failInflight(message);
      for (const queued of this.queue) this.refuse(queued, message, 'the shim is exiting');
    }
    this.queue = [];
    this.queueBytes = 0;
    const ws = this.ws;
    this.ws = undefined;
    if (ws) await closeSocket(ws);
    this.resolveDone(result);
  }
}

/** Close with 1000 and wait briefly for the peer's close frame; never longer than half a second. */
function closeSocket(ws: WebSocket): Promise<void> {
  if (ws.readyState === WebSocket.CLOSED) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      ws.terminate();
      resolve();
    }, 500);
    ws.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
    try {
      ws.close(1000, 'shim exiting');
    } catch {
      ws.terminate();
    }
  });
}

function describe(info: MessageInfo): string {
  if (info.kind === 'request') return `request ${JSON.stringify(info.id)} (${info.method})`;
  if (info.kind === 'notification') return `notification ${info.method}`;
  if (info.kind === 'response') return `reply to ${JSON.stringify(info.id)}`;
  return 'a message that is not JSON-RPC';
}

function errorText(err: unknown): string {
  if (err === undefined) return 'unknown error';
  if (err instanceof Error) {
    const code = (err as Error & { code?: unknown }).code;
    return typeof code === 'string' && !err.message.includes(code) ? `${code}: ${err.message}` : err.message;
  }
  return String(err);
}
