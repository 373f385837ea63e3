/**
 * The relay between the editor's stdio (newline-delimited JSON-RPC) and the daemon's
 * WebSocket (one text frame per message). Streams and the connect function are injected, so
 * the same code runs under the CLI and in tests with memory streams.
 *
 * What the editor must never see: a hang. Requests in flight when the daemon goes away get an
 * error at once; requests sent while it is away wait (bounded) and then get an error; a queue
 * overflow is answered, not dropped. What the editor must not have to do: re-initialize or
 * set its session up again. The client's `initialize`, `notifications/initialized`, log level
 * and resource subscriptions are replayed on every new connection (replay.ts). When stdin ends,
 * the requests already asked are answered (or, after drainMs, failed) before the shim exits.
 */
import { isUtf8 } from 'node:buffer';
import WebSocket from 'ws';
import { LineSplitter, errorResponse, idKey, inspectMessage, oneLine, sniffId } from './framing.js';
import { InputThrottle, MessageWriter, closeSocket, describe, errorText, oversizeText, unavailableText } from './output.js';
import { OutageQueue, type Outgoing } from './queue.js';
import type { BridgeOptions, BridgeResult, ConnectContext } from './bridge-options.js';
import { InflightLedger } from './inflight.js';
import type { Logger } from './log.js';
import { SessionReplay } from './replay.js';
import { monotonicNow } from '../common/clock.js';
import { INVALID_REQUEST, PARSE_ERROR, SERVER_ERROR } from '../transport/jsonrpc.js';

export type { BridgeOptions, BridgeResult, ConnectContext };

/** The daemon could not be reached: the server error of the wire table (transport/jsonrpc.ts). */
export const DAEMON_UNAVAILABLE = SERVER_ERROR;

type State = 'idle' | 'connecting' | 'replaying' | 'open' | 'closed';

export class Bridge {
  readonly done: Promise<BridgeResult>;
  private resolveDone!: (result: BridgeResult) => void;

  private state: State = 'idle';
  private ws: WebSocket | undefined;
  private readonly log: Logger;
  private readonly backoff: readonly number[];
  private readonly outageMs: number;
  private readonly maxMessageBytes: number;
  private readonly drainMs: number;

  private attempt = 0;
  private outage = 0;
  private everConnected = false;
  private downSince = monotonicNow();
  private lastConnectError: unknown;
  private connectTimer: NodeJS.Timeout | undefined;

  private readonly queue: OutageQueue;

  private readonly inflight = new InflightLedger();

  private readonly replay: SessionReplay;
  /** stdin ended: the shim exits once the requests it relayed are answered. */
  private draining = false;
  private drainTimer: NodeJS.Timeout | undefined;

  private readonly writer: MessageWriter;
  private readonly throttle: InputThrottle;
  private readonly splitter: LineSplitter;
  private readonly onData = (chunk: Buffer | string) =>
    this.splitter.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  private readonly onEnd = () => {
    this.splitter.end();
    this.drain();
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
    this.queue = new OutageQueue({
      maxMessages: options.maxQueueMessages ?? 1000,
      maxBytes: options.maxQueueBytes ?? 64 * 1024 * 1024,
      onExpired: (expired) => this.expired(expired),
    });
    this.replay = new SessionReplay(this.log, options.replayTimeoutMs ?? 10_000);
    this.throttle = new InputThrottle(options.input);
    this.writer = new MessageWriter(
      options.output,
      () => this.ws?.pause(),
      () => {
        if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.resume();
      },
    );
    this.maxMessageBytes = options.maxMessageBytes ?? Number.POSITIVE_INFINITY;
    this.drainMs = options.drainMs ?? 5_000;
    this.splitter = new LineSplitter((line) => this.fromClient(line), {
      maxLineBytes: this.maxMessageBytes,
      onOversize: (head, tail, total) => this.oversize(head, tail, total),
    });
  }

  /** Starts reading stdin and connecting. Messages read before the daemon answers are queued. */
  start(): void {
    if (this.state !== 'idle') return;
    this.state = 'connecting';
    this.downSince = monotonicNow();
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
      inflight: this.inflight.clientWaiting,
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
    this.replay.fromClient(info, bytes);
    if (info.kind === 'response' && !this.inflight.replyGoesThrough(info.id!)) {
      this.log('info', `dropped the client's reply to request ${JSON.stringify(info.id)} of a previous daemon connection`);
      return;
    }
    const message: Outgoing = { bytes, info: { kind: info.kind, id: info.id, method: info.method }, deadline: monotonicNow() + this.outageMs };
    if (this.state === 'open' && this.queue.length === 0) this.send(message);
    else this.enqueue(message);
  }

  private oversize(head: Buffer, tail: Buffer, total: number): void {
    const id = sniffId(head, tail);
    this.log('warn', `refused a ${total}-byte message from stdin (limit ${this.maxMessageBytes} bytes)`);
    this.emit(errorResponse(id ?? null, INVALID_REQUEST, oversizeText(total, this.maxMessageBytes)));
  }

  private send(message: Outgoing): void {
    const ws = this.ws!;
    const { info, bytes } = message;
    if (info.kind === 'request') this.inflight.sent(info.id!);
    const written = this.throttle.sending(bytes.length);
    ws.send(bytes, { binary: false }, () => {
      if (ws === this.ws) written();
    });
  }

  private enqueue(message: Outgoing): void {
    const { info } = message;
    const firstWaiting = info.kind === 'request' && this.queue.requests === 0;
    if (!this.queue.push(message)) {
      const { maxQueueMessages = 1000, maxQueueBytes = 64 * 1024 * 1024 } = this.options;
      this.refuse(
        message,
        `exai shim: too many messages are waiting for the workspace daemon to come back (limit ${maxQueueMessages} messages / ${maxQueueBytes} bytes); retry when it is back (check \`exai list\`)`,
        'queue full',
      );
      return;
    }
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
      this.replay.answeredLocally(idKey(info.id!));
    } else {
      this.log('info', `dropped ${describe(info)} (${why})`);
    }
  }

  /** Gives up the messages that waited longer than `outageMs`; the reconnect loop goes on. */
  private expired(expired: Outgoing[]): void {
    for (const message of expired) this.refuse(message, unavailableText(this.outageMs, this.lastConnectError), 'the daemon stayed away');
    this.log('warn', `the daemon has been unreachable for ${Math.round((monotonicNow() - this.downSince) / 1000)} s; answered ${expired.length} waiting message(s) with an error, still retrying${this.lastConnectError ? ` (last error: ${errorText(this.lastConnectError)})` : ''}`);
    if (this.draining) this.drainedYet();
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
      if (this.replay.isOwn(info)) {
        this.replay.ownResponse(info);
        return;
      }
      this.inflight.answered(info.id!);
      this.replay.fromDaemon(info);
    } else if (info.kind === 'request') {
      this.inflight.serverAsked(info.id!);
    }
    const bytes = oneLine(data, info);
    if (!bytes) {
      this.log('warn', 'ignored a frame from the daemon that is not JSON and contains a newline');
      return;
    }
    this.emit(bytes);
    if (this.draining) this.drainedYet();
  }

  /** One message and its newline on stdout; a full stdout pauses the daemon socket. */
  private emit(bytes: Buffer): void {
    this.writer.write(bytes);
  }

  // --- connection lifecycle ----------------------------------------------------------------

  private async tryConnect(): Promise<void> {
    this.connectTimer = undefined;
    if (this.state !== 'connecting') return;
    const ctx: ConnectContext = {
      attempt: this.attempt,
      outage: this.outage,
      everConnected: this.everConnected,
      downForMs: Math.round(monotonicNow() - this.downSince),
      waitingRequests: this.queue.requests,
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
      const refusal = this.options.refusal?.(err);
      if (refusal !== undefined) {
        for (const queued of this.queue.takeAll()) this.refuse(queued, refusal, 'refused while the daemon cannot be used');
        if (this.draining && this.drainedYet()) return;
      }
      if (this.attempt === 0 || errorText(err) !== errorText(this.lastConnectError)) {
        this.log('debug', `connecting to the daemon failed (${errorText(err)}); retrying`);
      }
      this.lastConnectError = err;
      // A request that arrived while this attempt ran (an editor's initialize, right after it
      // launched the shim) may allow what the attempt could not, starting the daemon: try again
      // at once rather than after a backoff step. It costs a wake its first 50 ms otherwise.
      const someoneNowWaits = ctx.waitingRequests === 0 && this.queue.requests > 0;
      const delay = someoneNowWaits ? 0 : this.backoff[Math.min(this.attempt, this.backoff.length - 1)]!;
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
    if (this.writer.blocked) ws.pause();
    const downFor = Math.round(monotonicNow() - this.downSince);
    if (this.everConnected) this.log('info', `reconnected to the daemon after ${downFor} ms`);
    else this.log('debug', `connected to the daemon after ${downFor} ms`);
    this.everConnected = true;
    this.attempt = 0;
    this.lastConnectError = undefined;
    if (this.replay.hasSession) {
      this.state = 'replaying';
      this.replay.begin(ws, () => this.ready());
    } else {
      this.ready();
    }
  }

  private ready(): void {
    this.state = 'open';
    for (const message of this.queue.takeAll()) this.send(message);
  }

  private lost(ws: WebSocket, why: string): void {
    if (ws !== this.ws) return;
    this.ws = undefined;
    this.replay.abort();
    this.throttle.reset();
    if (this.state === 'closed') return;
    this.failInflight(
      'exai shim: the connection to the workspace daemon was lost while this request was in flight (the daemon restarted or stopped); retry the request',
    );
    if (this.draining && this.drainedYet()) return;
    this.log('info', `lost the connection to the daemon (${why}); reconnecting`);
    this.inflight.connectionLost();
    this.state = 'connecting';
    this.outage++;
    this.attempt = 0;
    this.downSince = monotonicNow();
    this.connectTimer = setTimeout(() => void this.tryConnect(), this.backoff[0]);
  }

  private failInflight(message: string): void {
    for (const [key, id] of this.inflight.takeClientRequests()) {
      this.emit(errorResponse(id, DAEMON_UNAVAILABLE, message));
      this.replay.answeredLocally(key);
    }
  }

  /**
   * stdin ended. What was asked is still answered: the shim exits when no request waits (sent
   * or queued), or after drainMs with an error for each one that still does.
   */
  private drain(): void {
    if (this.state === 'closed' || this.draining) return;
    this.draining = true;
    if (this.drainedYet()) return;
    this.log('debug', `stdin ended; waiting up to ${this.drainMs} ms for ${this.waitingRequests()} answer(s)`);
    this.drainTimer = setTimeout(() => {
      const message = `exai shim: the client closed its input and the workspace daemon did not answer within ${this.drainMs / 1000} s`;
      this.failInflight(message);
      for (const queued of this.queue.takeAll()) this.refuse(queued, message, 'the shim is exiting');
      void this.close('stdin ended');
    }, this.drainMs);
  }

  /** While draining: closes the bridge once nothing waits for an answer; returns whether it did. */
  private drainedYet(): boolean {
    if (this.waitingRequests() > 0) return false;
    void this.close('stdin ended');
    return true;
  }

  private waitingRequests(): number {
    return this.inflight.clientWaiting + this.queue.requests;
  }

  private async finish(result: BridgeResult, reason: string): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.log('debug', `shim stopping: ${reason}`);
    clearTimeout(this.connectTimer);
    this.replay.abort();
    clearTimeout(this.drainTimer);
    const { input, output } = this.options;
    input.off('data', this.onData);
    input.off('end', this.onEnd);
    input.pause();
    output.off('error', this.onOutputError);
    if (result.code !== 0) {
      // Giving up: nobody may wait for an answer that will never come.
      const message = `exai shim: cannot reach the workspace daemon (${errorText(result.error)}); the shim is exiting`;
      this.failInflight(message);
      for (const queued of this.queue.takeAll()) this.refuse(queued, message, 'the shim is exiting');
    }
    this.queue.takeAll();
    const ws = this.ws;
    this.ws = undefined;
    if (ws) await closeSocket(ws);
    this.resolveDone(result);
  }
}
