import type { Agent, ClientRequest, IncomingMessage } from 'node:http';
import WebSocket from 'ws';
import { errnoCode, ExaiError, type ErrorCode } from '../common/errors.js';
import { MAX_PAYLOAD, MCP_SUBPROTOCOL } from './constants.js';

export interface DialOptions {
  port: number;
  token: string;
  host?: string;
  /** Bound on the whole dial: TCP connect plus the WebSocket handshake. Default 5 s. */
  timeoutMs?: number;
  /** A keep-alive agent whose connection (from a GET /health just before) the handshake reuses. */
  agent?: Agent;
}

/**
 * Why a dial failed (codes of the one table, common/errors.ts). DAEMON_DOWN: nothing listens;
 * UNAUTHORIZED (401): wrong or missing token; FORBIDDEN (403): Host/Origin refused; TIMEOUT: no
 * answer in time; HANDSHAKE_FAILED: anything else (another HTTP status, a listener that does
 * not speak WebSocket/`mcp`).
 */
export type DialErrorCode = Extract<ErrorCode, 'DAEMON_DOWN' | 'UNAUTHORIZED' | 'FORBIDDEN' | 'TIMEOUT' | 'HANDSHAKE_FAILED'>;

/** An ExaiError with the HTTP status the handshake was refused with, if any. */
export class DialError extends ExaiError {
  declare readonly code: DialErrorCode;
  constructor(
    code: DialErrorCode,
    message: string,
    readonly status?: number,
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
  }

  /** By the prototype chain: ExaiError's own check (by its brand) would call every ExaiError a DialError. */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return Function.prototype[Symbol.hasInstance].call(this, value);
  }
}

/**
 * Opens an authenticated MCP WebSocket to a workspace daemon. Resolves with the open socket;
 * from then on the caller owns it and must attach its own `error` listener.
 */
export function dialDaemon({ port, token, host = '127.0.0.1', timeoutMs = 5_000, agent }: DialOptions): Promise<WebSocket> {
  const hostPart = host.includes(':') ? `[${host}]` : host;
  const where = `${hostPart}:${port}`;
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://${where}/mcp`, MCP_SUBPROTOCOL, {
      headers: { Authorization: `Bearer ${token}` },
      maxPayload: MAX_PAYLOAD,
      perMessageDeflate: false,
      followRedirects: false,
      ...(agent ? { agent } : {}),
    });
    let settled = false;
    const fail = (err: DialError) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      ws.terminate();
      reject(err);
    };
    const timer = setTimeout(
      () => fail(new DialError('TIMEOUT', `the exai daemon on ${where} did not answer within ${timeoutMs} ms`)),
      timeoutMs,
    );
    const onOpen = () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      ws.off('error', onError);
      ws.off('unexpected-response', onResponse);
      resolve(ws);
    };
    const onError = (err: Error) => {
      const code = errnoCode(err);
      if (code === 'ECONNREFUSED') {
        fail(new DialError('DAEMON_DOWN', `nothing listens on ${where}; start the daemon with \`exai spawn\``, undefined, { cause: err }));
      } else {
        fail(new DialError('HANDSHAKE_FAILED', `cannot open the MCP WebSocket on ${where}: ${err.message}`, undefined, { cause: err }));
      }
    };
    const onResponse = (req: ClientRequest, res: IncomingMessage) => {
      const status = res.statusCode ?? 0;
      // ws leaves the refused handshake to us: drain and drop it.
      res.resume();
      req.destroy();
      if (status === 401) {
        fail(new DialError('UNAUTHORIZED', `the daemon on ${where} refused the token (401); the token in EXAI_HOME does not match this daemon`, status));
      } else if (status === 403) {
        fail(new DialError('FORBIDDEN', `the daemon on ${where} refused the connection (403: Host or Origin not allowed)`, status));
      } else {
        fail(new DialError('HANDSHAKE_FAILED', `${where} answered the WebSocket handshake with HTTP ${status}; is it an exai daemon?`, status));
      }
    };
    ws.on('open', onOpen);
    ws.on('error', onError);
    // On failure onError stays attached, so late errors of the discarded socket cannot crash the caller.
    ws.on('unexpected-response', onResponse);
  });
}
