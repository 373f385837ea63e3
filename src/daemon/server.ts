import { createServer, STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { ExaiError, errnoCode, errorMessage } from '../common/errors.js';
import { MAX_PAYLOAD, MCP_SUBPROTOCOL } from '../transport/ws-server.js';
import { checkHostAndOrigin, checkUpgrade, type Refusal } from './guard.js';
import { createHttpEndpoint } from './http/endpoint.js';
import type { Logger } from './log.js';
import { openSession, type Session } from './session.js';
import { healthBody, type DaemonState } from './state.js';
import type { Gateway } from './upstreams/gateway.js';

export interface DaemonServerOptions {
  state: DaemonState;
  token: string;
  log: Logger;
  /** Ping every this many ms; a peer that has not answered the previous ping is dropped. */
  heartbeatMs: number;
  /** A client must finish its request headers (the handshake) within this. Default 10 s. */
  headersTimeoutMs?: number;
  /** How long open sessions get to answer the 1001 close before they are cut. Default 500 ms. */
  closeGraceMs?: number;
  /** Serves the workspace's upstream MCP servers to every session, next to the built-ins. */
  gateway?: Gateway;
  /** A Streamable HTTP session quiet this long expires (src/daemon/http/endpoint.ts; default 10 min). */
  httpSessionIdleMs?: number;
  /** The Streamable HTTP keep-alive beat (default 20 s); tests shorten it. */
  httpKeepAliveMs?: number;
}

export interface DaemonServer {
  readonly port: number;
  /** Stops accepting, closes every session with 1001, and resolves when all is closed. */
  close(): Promise<void>;
}

/**
 * The daemon's one listener on 127.0.0.1: `GET /health` and the MCP WebSocket on `/mcp`.
 * Rejects with ExaiError('ADDR_IN_USE') when the port is taken.
 */
export async function listenDaemon(options: DaemonServerOptions): Promise<DaemonServer> {
  const { state, token, log, heartbeatMs } = options;
  const headersTimeout = options.headersTimeoutMs ?? 10_000;
  const closeGraceMs = options.closeGraceMs ?? 500;
  const sockets = new Set<WebSocket>();
  const alive = new WeakMap<WebSocket, boolean>();
  const sessions = new Set<Session>();
  let closing = false;
  const httpMcp = createHttpEndpoint({ state, token, log, gateway: options.gateway, sessionIdleMs: options.httpSessionIdleMs, keepAliveMs: options.httpKeepAliveMs });

  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: MAX_PAYLOAD,
    clientTracking: false,
    perMessageDeflate: false,
    handleProtocols: (protocols) => (protocols.has(MCP_SUBPROTOCOL) ? MCP_SUBPROTOCOL : false),
  });

  const http = createServer(
    {
      headersTimeout,
      requestTimeout: headersTimeout * 2,
      // The timeouts above are only enforced on this tick; Node's default (30 s) would let a
      // slow handshake linger far past headersTimeout.
      connectionsCheckingInterval: Math.max(50, Math.min(1_000, Math.floor(headersTimeout / 2))),
    },
    (req, res) => handleRequest(req, res),
  );

  const refuse = (socket: Duplex, req: IncomingMessage, refusal: Refusal | { status: 404; reason: string }) => {
    state.counters.rejectedHandshakes++;
    log.warn(`refused ${req.method ?? '?'} ${pathOf(req)} from ${req.socket.remoteAddress ?? '?'}: ${refusal.status} ${refusal.reason}`);
    const body = `${refusal.reason}\n`;
    const extra = refusal.status === 401 ? 'WWW-Authenticate: Bearer\r\n' : '';
    socket.once('finish', () => socket.destroy());
    socket.end(
      `HTTP/1.1 ${refusal.status} ${STATUS_CODES[refusal.status] ?? ''}\r\n` +
        'Connection: close\r\nContent-Type: text/plain; charset=utf-8\r\n' +
        `Content-Length: ${Buffer.byteLength(body)}\r\n${extra}\r\n${body}`,
    );
  };

  function handleRequest(req: IncomingMessage, res: ServerResponse): void {
    const send = (status: number, body: string, type = 'text/plain; charset=utf-8') => {
      res.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store', 'Content-Length': Buffer.byteLength(body) });
      res.end(body);
    };
    const refused = checkHostAndOrigin(req.headers, state.port);
    if (refused) {
      log.warn(`refused ${req.method ?? '?'} ${pathOf(req)}: ${refused.status} ${refused.reason}`);
      send(refused.status, `${refused.reason}\n`);
      return;
    }
    const path = pathOf(req);
    if (path === '/health') {
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.setHeader('Allow', 'GET, HEAD');
        send(405, 'use GET /health\n');
        return;
      }
      send(200, JSON.stringify(healthBody(state)), 'application/json');
      return;
    }
    if (path === '/mcp') {
      // Streamable HTTP beside the WebSocket upgrade (DESIGN.md "Streamable HTTP").
      httpMcp.handle(req, res);
      return;
    }
    send(404, 'not found: the daemon serves GET /health and MCP on /mcp (WebSocket or Streamable HTTP)\n');
  }

  http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    // Between here and the ws handover nobody else listens for errors on this socket.
    socket.on('error', () => socket.destroy());
    if (closing) {
      socket.destroy();
      return;
    }
    if (pathOf(req) !== '/mcp') {
      refuse(socket, req, { status: 404, reason: 'the WebSocket endpoint is /mcp' });
      return;
    }
    const refusal = checkUpgrade(req.headers, state.port, token);
    if (refusal) {
      refuse(socket, req, refusal);
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => accept(ws));
  });

  function accept(ws: WebSocket): void {
    // Without an error listener, one oversized or malformed frame would crash the daemon
    // (ws emits 'error' and then closes with 1009/1002). The session logs it.
    ws.on('error', () => undefined);
    sockets.add(ws);
    alive.set(ws, true);
    const markAlive = () => alive.set(ws, true);
    ws.on('pong', markAlive);
    ws.on('message', markAlive);
    ws.on('close', () => sockets.delete(ws));
    if (closing) {
      ws.close(1001, 'exai daemon shutting down');
      return;
    }
    openSession(ws, state, log, options.gateway).then(
      (session) => {
        sessions.add(session);
        void session.closed.then(() => sessions.delete(session));
      },
      (err: unknown) => {
        log.error(`cannot open a session: ${errorMessage(err)}`);
        ws.terminate();
      },
    );
  }

  const heartbeat = setInterval(() => {
    for (const ws of sockets) {
      if (alive.get(ws) === false) {
        log.warn('dropping a session whose peer stopped answering pings');
        ws.terminate();
        continue;
      }
      alive.set(ws, false);
      try {
        ws.ping();
      } catch {
        // Not open any more: its close event is on the way.
      }
    }
  }, heartbeatMs);
  heartbeat.unref();

  try {
    await new Promise<void>((resolve, reject) => {
      http.once('error', reject);
      http.listen({ port: state.port, host: '127.0.0.1' }, () => {
        http.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    clearInterval(heartbeat);
    throw bindError(err, state.port);
  }
  const address = http.address();
  if (address && typeof address === 'object') state.port = address.port;
  http.on('error', (err) => log.error(`http server: ${errorMessage(err)}`));

  let closed: Promise<void> | undefined;
  return {
    get port() {
      return state.port;
    },
    close() {
      closed ??= (async () => {
        closing = true;
        clearInterval(heartbeat);
        const httpClosed = new Promise<void>((resolve) => http.close(() => resolve()));
        http.closeAllConnections();
        const all = [...sessions];
        const httpSessionsClosed = httpMcp.close();
        await Promise.all(all.map((s) => s.close(1001, 'exai daemon shutting down')));
        await httpSessionsClosed;
        await Promise.race([Promise.all(all.map((s) => s.closed)), delay(closeGraceMs)]);
        for (const ws of sockets) ws.terminate();
        await Promise.all(all.map((s) => s.closed));
        await httpClosed;
      })();
      return closed;
    },
  };
}

/**
 * What a failed bind of 127.0.0.1:port means for the supervisor: ADDR_IN_USE (the daemon exits
 * 98, pm2 does not restart it, and the next `exai spawn` moves the workspace to another
 * candidate) for every "this port cannot be ours" error, not only EADDRINUSE. On Windows a
 * port inside an excluded range (Hyper-V, WSL, Docker reserve them, and the ranges move at
 * boot) fails with EACCES; a privileged port fails EACCES for non-root on POSIX; and
 * EADDRNOTAVAIL says the address cannot be bound at all (WINDOWS.md #17; microsoft/WSL#5514).
 * Anything else is returned as it came.
 */
export function bindError(err: unknown, port: number): unknown {
  const code = errnoCode(err);
  if (code === 'EADDRINUSE') {
    return new ExaiError('ADDR_IN_USE', `port ${port} on 127.0.0.1 is already in use; run \`exai spawn\` for this workspace to move it to a free port`, { cause: err });
  }
  if (code === 'EACCES' || code === 'EADDRNOTAVAIL') {
    return new ExaiError(
      'ADDR_IN_USE',
      `port ${port} on 127.0.0.1 cannot be bound (${code}: reserved by the system, such as a Windows excluded port range, or privileged); run \`exai spawn\` for this workspace to move it to a free port`,
      { cause: err },
    );
  }
  return err;
}

function pathOf(req: IncomingMessage): string {
  try {
    return new URL(req.url ?? '/', 'http://127.0.0.1').pathname;
  } catch {
    return '?';
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
