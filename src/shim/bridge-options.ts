import type { Readable, Writable } from 'node:stream';
import type WebSocket from 'ws';
import type { Logger } from './log.js';

/**
 * What the bridge is given (streams, the connect function, limits) and what it returns: the
 * seam that lets the CLI (shim/run.ts) and tests (memory streams, a fake daemon) drive it.
 */

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
  /**
   * Errors from `connect` that say no request can be served for now (the workspace was
   * removed): returns the error text every waiting request gets at once, instead of waiting
   * out `outageMs`. The bridge keeps retrying, so the workspace brought back is used again.
   */
  refusal?: (err: unknown) => string | undefined;
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
  /** After stdin ends, how long requests already asked may take to be answered before the shim exits. */
  drainMs?: number;
}

export interface BridgeResult {
  /** 0: stdin ended or close() was called; 1: gave up (see `error`). */
  code: number;
  error?: unknown;
}
