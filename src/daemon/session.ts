import { randomUUID } from 'node:crypto';
import { Server, type JSONRPCMessage, type Transport } from '@modelcontextprotocol/server';
import type WebSocket from 'ws';
import { errorMessage } from '../common/errors.js';
import { INVALID_PARAMS, WireRequestError, fromSdkMessage } from '../transport/jsonrpc.js';
import { WebSocketServerTransport } from '../transport/ws-server.js';
import { builtinTools } from './builtins.js';
import { EraTransport, protocolOfOpening } from './era-session.js';
import type { Logger } from './log.js';
import type { DaemonState, SessionInfo } from './state.js';
import { GATEWAY_SERVER_CAPABILITIES, type Gateway } from './upstreams/gateway.js';
import { monotonicNow } from '../common/clock.js';

/** One MCP connection: its own SDK Server (never shared: sharing leaks responses across clients). */
export interface Session {
  readonly id: string;
  readonly server: Server;
  readonly transport: SessionTransport;
  /** Resolves once the connection is closed and the session is forgotten. */
  readonly closed: Promise<void>;
  /** Closes the WebSocket with `code` (1001 when the daemon shuts down); HTTP ignores the code. */
  close(code?: number, reason?: string): Promise<void>;
}

/** A session's transport: the SDK's, closable with a WebSocket close code where there is one. */
export type SessionTransport = Transport & { close(code?: number, reason?: string): Promise<void> };

/**
 * A connection that is not one WebSocket (Streamable HTTP, src/daemon/http/): it makes the
 * session's transport from the session id and the hook that counts each incoming message.
 */
export interface SessionChannel {
  readonly kind: 'http';
  openTransport(sessionId: string, onIncoming: (message: JSONRPCMessage) => void): SessionTransport;
}

/**
 * The one place where a session is served: with a gateway, the union of the built-in tools and
 * the upstreams' tools, prompts and resources (the gateway connects the Server); without one,
 * the built-ins. Returns what to call when the session closes.
 */
export async function serveSession(server: Server, transport: Transport, state: DaemonState, gateway?: Gateway): Promise<() => void> {
  const tools = builtinTools(state);
  if (gateway) return gateway.connect(server, transport, tools);
  server.setRequestHandler('tools/list', () => ({ tools: tools.map((t) => t.definition) }));
  server.setRequestHandler('tools/call', async (request) => {
    const tool = tools.find((t) => t.definition.name === request.params.name);
    if (!tool) {
      const name = JSON.stringify(request.params.name.slice(0, 100));
      throw new WireRequestError(INVALID_PARAMS, `unknown tool ${name}; call tools/list for the available tools`);
    }
    return tool.call(request.params.arguments);
  });
  await server.connect(transport);
  return () => undefined;
}

export async function openSession(connection: WebSocket | SessionChannel, state: DaemonState, log: Logger, gateway?: Gateway): Promise<Session> {
  const id = randomUUID();
  const channel = 'openTransport' in connection ? connection : undefined;
  const info: SessionInfo = { id, openedAt: monotonicNow(), requests: 0, transport: channel ? channel.kind : 'ws' };
  const onIncoming = (message: JSONRPCMessage) => {
    if ('method' in message && 'id' in message) {
      // A 2025 client opens with initialize, a 2026-07-28 one with its first request (era-session.ts).
      info.protocolVersion ??= protocolOfOpening(fromSdkMessage(message));
      info.requests++;
      state.counters.requests++;
    }
  };
  const transport: SessionTransport = channel ? channel.openTransport(id, onIncoming) : new WebSocketServerTransport(connection as WebSocket, { sessionId: id, onIncoming });
  // With a gateway the session may get upstream tools, prompts and resources at any time, and
  // capabilities cannot grow after initialize: declare them all up front.
  const capabilities = gateway ? GATEWAY_SERVER_CAPABILITIES : { tools: {} };
  const server = new Server({ name: 'exai', version: state.version }, { capabilities });

  let detach: () => void = () => undefined;
  let markClosed!: () => void;
  const closed = new Promise<void>((resolve) => (markClosed = resolve));
  // The SDK's close handling aborts this session's in-flight handlers and drops its pending
  // requests; no other session is touched.
  server.onclose = () => {
    detach();
    state.sessions.delete(id);
    // Health probes (`exai spawn`, `exai list`) open a session for one request: logging
    // those would bury the daemon's log under two lines per probe.
    const lifetimeMs = monotonicNow() - info.openedAt;
    if (info.requests > 1 || lifetimeMs > 1_000) {
      log.info(`${info.transport === 'http' ? 'HTTP ' : ''}session ${id} (${info.protocolVersion ?? 'never opened'}) closed after ${(lifetimeMs / 1000).toFixed(1)} s (${info.requests} requests; ${state.sessions.size} open)`);
    }
    markClosed();
  };
  server.onerror = (err) => log.warn(`session ${id}: ${errorMessage(err)}`);

  state.sessions.set(id, info);
  state.counters.sessionsOpened++;
  // The opening message chooses the session's era (2025-11-25 or 2026-07-28; era-session.ts).
  detach = await serveSession(server, new EraTransport(transport), state, gateway);
  return {
    id,
    server,
    transport,
    closed,
    close: (code = 1000, reason = '') => transport.close(code, reason),
  };
}
