/**
 * The bridge's streams apart from its logic: stdout for protocol messages (one message and its
 * newline per message, with backpressure reported), stdin paused while the daemon socket is
 * behind, and the socket's close. Plus the one-line descriptions the shim log uses.
 */
import type { Readable, Writable } from 'node:stream';
import WebSocket from 'ws';
import type { MessageInfo } from './framing.js';

const NL = Buffer.from('\n');

/** Protocol messages on stdout. `onFull`/`onDrained` tell when the pipe to the client is full and when it has room again. */
export class MessageWriter {
  private full = false;

  constructor(
    private readonly output: Writable,
    private readonly onFull: () => void,
    private readonly onDrained: () => void,
  ) {}

  get blocked(): boolean {
    return this.full;
  }

  write(bytes: Buffer): void {
    const { output } = this;
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
    if (!ok && !this.full) {
      this.full = true;
      this.onFull();
      output.once('drain', () => {
        this.full = false;
        this.onDrained();
      });
    }
  }
}

/** Stop reading stdin while this much is handed to the socket but not yet written. */
const INPUT_HIGH_WATER = 8 * 1024 * 1024;
const INPUT_LOW_WATER = 1024 * 1024;

/** Backpressure from the daemon socket to stdin: reading pauses while too much waits to be written. */
export class InputThrottle {
  private unflushed = 0;
  private paused = false;

  constructor(private readonly input: Readable) {}

  /** `bytes` were handed to the socket; call the returned function once they are written. */
  sending(bytes: number): () => void {
    this.unflushed += bytes;
    if (!this.paused && this.unflushed > INPUT_HIGH_WATER) {
      this.paused = true;
      this.input.pause();
    }
    return () => {
      this.unflushed -= bytes;
      if (this.paused && this.unflushed < INPUT_LOW_WATER) this.resume();
    };
  }

  /** The socket is gone: what it held will never be written. */
  reset(): void {
    this.unflushed = 0;
    if (this.paused) this.resume();
  }

  private resume(): void {
    this.paused = false;
    this.input.resume();
  }
}

/** Close with 1000 and wait briefly for the peer's close frame; never longer than half a second. */
export function closeSocket(ws: WebSocket): Promise<void> {
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

export function describe(info: MessageInfo): string {
  if (info.kind === 'request') return `request ${JSON.stringify(info.id)} (${info.method})`;
  if (info.kind === 'notification') return `notification ${info.method}`;
  if (info.kind === 'response') return `reply to ${JSON.stringify(info.id)}`;
  return 'a message that is not JSON-RPC';
}

export function errorText(err: unknown): string {
  if (err === undefined) return 'unknown error';
  if (err instanceof Error) {
    const code = (err as Error & { code?: unknown }).code;
    return typeof code === 'string' && !err.message.includes(code) ? `${code}: ${err.message}` : err.message;
  }
  return String(err);
}

/** What a request that waited longer than `outageMs` for the daemon is answered with. */
export function unavailableText(outageMs: number, lastConnectError: unknown): string {
  const seconds = outageMs < 10_000 ? (outageMs / 1000).toFixed(1) : String(Math.round(outageMs / 1000));
  return `exai shim: the workspace daemon did not answer within ${seconds} s${lastConnectError ? ` (${errorText(lastConnectError)})` : ''}; the shim keeps retrying — check \`exai list\` and \`exai logs --workspace <dir>\`, then retry the request`;
}

/** What a message from the client larger than the daemon connection takes is answered with. */
export function oversizeText(total: number, limit: number): string {
  return `exai shim: the message is ${total} bytes, more than the ${limit}-byte limit of the daemon connection; send a smaller request`;
}
