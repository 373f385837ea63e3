import type { IncomingMessage, ServerResponse } from 'node:http';
import { isInitializeRequest } from '@modelcontextprotocol/server';
import { monotonicNow } from '../../common/clock.js';
import { errorMessage } from '../../common/errors.js';
import { MAX_PAYLOAD } from '../../transport/constants.js';
import { tokensEqual } from '../../workspace/token.js';
import { bearerToken } from '../guard.js';
import type { Logger } from '../log.js';
import { openSession, type Session } from '../session.js';
import type { DaemonState } from '../state.js';
import type { Gateway } from '../upstreams/gateway.js';
import { HttpSessionTransport } from './session-transport.js';
import { jsonError, readBody, requestBodyTooLargeMessage, sendJson } from './replies.js';
import { ModernSessions } from './modern-pool.js';
import { eraOfOpening } from '../era-session.js';
import { isJsonRpcMessage, isRequest } from '../../transport/jsonrpc.js';

/** A 2025-11-25 HTTP session with no request and no open stream for this long is closed (10 min). */
export const DEFAULT_HTTP_SESSION_IDLE_MS = 10 * 60_000;
/**
 * How often open responses get a sign of life. Node's fetch (undici) gives up on a response
 * with no headers, or a body with no bytes, for 5 minutes: a call still running after one
 * beat turns its response into an SSE stream (headers out), and open SSE streams get an SSE
 * comment each beat.
 */
export const DEFAULT_HTTP_KEEPALIVE_MS = 20_000;

export interface HttpEndpointOptions {
  state: DaemonState;
  token: string;
  log: Logger;
  gateway?: Gateway;
  /** A session quiet this long (no request in flight, no GET stream) expires. */
  sessionIdleMs?: number;
  /** The keep-alive beat (DEFAULT_HTTP_KEEPALIVE_MS); tests shorten it. */
  keepAliveMs?: number;
}

export interface HttpEndpoint {
  /** Serves one request to `/mcp` that is not a WebSocket upgrade; Host and Origin are already checked. */
  handle(req: IncomingMessage, res: ServerResponse): void;
  /** Closes every HTTP session (daemon shutdown) and stops taking new ones. */
  close(): Promise<void>;
}

interface Entry {
  session: Session;
  transport: HttpSessionTransport;
  /** HTTP requests of this session still open (a call being answered, the GET stream). */
  open: number;
  lastActive: number;
}

/**
 * Streamable HTTP on `/mcp` (DESIGN.md "Streamable HTTP") for 2025-11-25 sessions: the
 * bearer token first (401 before the body is read), then a session per `Mcp-Session-Id`, each
 * with its own transport (session-transport.ts) and the same per-connection session code as a WebSocket
 * (openSession). A client that leaves without DELETE holds nothing forever: its session
 * expires after `sessionIdleMs` with no request in flight and no GET stream open.
 */
export function createHttpEndpoint(options: HttpEndpointOptions): HttpEndpoint {
  const { state, token, log, gateway } = options;
  const idleMs = options.sessionIdleMs ?? DEFAULT_HTTP_SESSION_IDLE_MS;
  const entries = new Map<string, Entry>();
  const modern = new ModernSessions({ state, log, gateway });
  let closing = false;

  const sweep = setInterval(() => {
    const now = monotonicNow();
    modern.sweep(now, idleMs);
    for (const [id, entry] of entries) {
      if (entry.open > 0 || now - entry.lastActive < idleMs) continue;
      log.info(`HTTP session ${id} expired: no request for ${Math.round(idleMs / 1000)} s and no stream open`);
      entries.delete(id);
      void entry.session.close();
    }
  }, Math.min(10_000, Math.max(50, Math.floor(idleMs / 10))));
  sweep.unref();
  const beat = setInterval(() => {
    for (const entry of entries.values()) entry.transport.beat();
    modern.beat();
  }, options.keepAliveMs ?? DEFAULT_HTTP_KEEPALIVE_MS);
  beat.unref();

  /** Counts a request of `entry` open until its response is finished or cut. */
  const track = (entry: Entry, res: ServerResponse) => {
    entry.open++;
    entry.lastActive = monotonicNow();
    res.once('close', () => {
      entry.open--;
      entry.lastActive = monotonicNow();
    });
  };

  const serve = (entry: Entry, req: IncomingMessage, res: ServerResponse, body?: unknown) => {
    track(entry, res);
    entry.transport.handleRequest(req, res, body).catch((err: unknown) => fail(res, err));
  };

  const fail = (res: ServerResponse, err: unknown) => {
    log.warn(`HTTP /mcp: ${errorMessage(err)}`);
    if (!res.headersSent) jsonError(res, 500, -32603, 'Internal error: the exai daemon could not serve this request');
    else res.destroy();
  };

  /** A POST with no Mcp-Session-Id: a 2026-07-28 request, or the initialize of a 2025 session. */
  async function sessionless(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req, MAX_PAYLOAD);
    if (body === 'too large') {
      jsonError(res, 413, -32000, requestBodyTooLargeMessage(MAX_PAYLOAD), true);
      return;
    }
    let message: unknown;
    try {
      message = JSON.parse(body);
    } catch {
      jsonError(res, 400, -32700, 'Parse error: Invalid JSON');
      return;
    }
    if (closing) {
      jsonError(res, 503, -32000, 'the exai daemon is shutting down; connect again in a moment', true);
      return;
    }
    if (isJsonRpcMessage(message) && isRequest(message) && eraOfOpening(message) === 'modern') {
      await modern.serve(req, res, message, (status, reply) => sendJson(res, status, reply));
      return;
    }
    if (isJsonRpcMessage(message) && 'method' in message && !isRequest(message)) {
      // A 2026-07-28 client's notification (it has no session): only a cancel means anything.
      if (message.method === 'notifications/cancelled') modern.cancel(message);
      res.writeHead(202).end();
      return;
    }
    if (!isInitializeRequest(message)) {
      jsonError(res, 400, -32000, 'Bad Request: Mcp-Session-Id header is required (start a session with initialize, or send 2026-07-28 requests with their _meta envelope)');
      return;
    }
    await initialize(req, res, message);
  }

  async function initialize(req: IncomingMessage, res: ServerResponse, message: unknown): Promise<void> {
    let transport!: HttpSessionTransport;
    const session = await openSession(
      {
        kind: 'http',
        openTransport: (sessionId, onIncoming) => (transport = new HttpSessionTransport(sessionId, onIncoming)),
      },
      state,
      log,
      gateway,
    );
    const entry: Entry = { session, transport, open: 0, lastActive: monotonicNow() };
    entries.set(session.id, entry);
    void session.closed.then(() => entries.delete(session.id));
    track(entry, res);
    await transport.handleRequest(req, res, message);
    // Refused (an Accept or Content-Type the transport does not take): no session was made.
    if (!transport.initialized) {
      entries.delete(session.id);
      await session.close();
    }
  }

  return {
    handle(req, res) {
      // No Date header: nothing in MCP reads it, and every client parses each header of every answer.
      res.sendDate = false;
      // The token before anything else: nothing of the body is read for a stranger.
      const presented = bearerToken(req.headers.authorization);
      if (presented === undefined || !tokensEqual(presented, token)) {
        state.counters.rejectedHandshakes++;
        const reason = presented === undefined ? 'no bearer token (send Authorization: Bearer <token>)' : 'wrong bearer token';
        log.warn(`refused ${req.method ?? '?'} /mcp from ${req.socket.remoteAddress ?? '?'}: 401 ${reason}`);
        res.writeHead(401, { 'WWW-Authenticate': 'Bearer', 'Content-Type': 'text/plain; charset=utf-8', Connection: 'close' });
        res.end(`${reason}\n`);
        return;
      }
      const method = req.method ?? '';
      if (method !== 'POST' && method !== 'GET' && method !== 'DELETE') {
        res.setHeader('Allow', 'GET, POST, DELETE');
        jsonError(res, 405, -32000, 'Method not allowed: /mcp takes POST, GET (stream) and DELETE', true);
        return;
      }
      const header = req.headers['mcp-session-id'];
      const sessionId = Array.isArray(header) ? header[0] : header;
      if (sessionId === undefined) {
        if (method === 'POST') sessionless(req, res).catch((err: unknown) => fail(res, err));
        else jsonError(res, 400, -32000, 'Bad Request: Mcp-Session-Id header is required', true);
        return;
      }
      const entry = entries.get(sessionId);
      if (!entry) {
        // The spec's answer to an unknown or expired session: the client starts a new one.
        jsonError(res, 404, -32001, 'Session not found: it expired or the daemon restarted; initialize a new session', method !== 'GET');
        return;
      }
      serve(entry, req, res);
    },
    async close() {
      closing = true;
      clearInterval(sweep);
      clearInterval(beat);
      const all = [...entries.values()];
      entries.clear();
      await Promise.all([...all.map((e) => e.session.close()), modern.close()]);
    },
  };
}
