import type { IncomingHttpHeaders } from 'node:http';
import { tokensEqual } from '../workspace/token.js';
import { MCP_SUBPROTOCOL } from '../transport/constants.js';

/** Why a request is refused: the HTTP status and a one-line reason (never containing the token). */
export interface Refusal {
  status: 400 | 401 | 403;
  reason: string;
}

const LOOPBACK_HOSTNAMES = new Set(['127.0.0.1', 'localhost', '[::1]']);

/**
 * DNS rebinding defence: a browser tricked into talking to 127.0.0.1 still sends the
 * attacker's name in Host, so only loopback names with our own port are accepted.
 */
export function isAllowedHost(host: string | undefined, port: number): boolean {
  if (!host) return false;
  const value = host.toLowerCase();
  // A client omits the scheme's default port (RFC 9110 §7.2): `127.0.0.1` is port 80.
  return [...LOOPBACK_HOSTNAMES].some((name) => value === `${name}:${port}` || (port === 80 && value === name));
}

/** Non-browser clients send no Origin; a browser page's Origin must be a loopback page. */
export function isAllowedOrigin(origin: string | undefined): boolean {
  if (origin === undefined) return true;
  try {
    const url = new URL(origin);
    return ['http:', 'https:', 'ws:', 'wss:'].includes(url.protocol) && LOOPBACK_HOSTNAMES.has(url.hostname);
  } catch {
    return false;
  }
}

/** Host and Origin: checked first, for /health and /mcp alike. */
export function checkHostAndOrigin(headers: IncomingHttpHeaders, port: number): Refusal | undefined {
  if (!isAllowedHost(headers.host, port)) {
    return { status: 403, reason: `Host ${JSON.stringify(headers.host ?? '')} is not a loopback name with port ${port}` };
  }
  if (!isAllowedOrigin(headers.origin)) {
    return { status: 403, reason: `Origin ${JSON.stringify(headers.origin)} is not a loopback origin` };
  }
  return undefined;
}

export function bearerToken(authorization: string | undefined): string | undefined {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
  return match?.[1];
}

/** The full WebSocket handshake check, in the contract's order: Host, Origin, token, subprotocol. */
export function checkUpgrade(headers: IncomingHttpHeaders, port: number, token: string): Refusal | undefined {
  const refused = checkHostAndOrigin(headers, port);
  if (refused) return refused;
  const presented = bearerToken(headers.authorization);
  if (presented === undefined) return { status: 401, reason: 'no bearer token (send Authorization: Bearer <token>)' };
  if (!tokensEqual(presented, token)) return { status: 401, reason: 'wrong bearer token' };
  const offered = (headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim());
  if (!offered.includes(MCP_SUBPROTOCOL)) {
    return { status: 400, reason: `the WebSocket subprotocol ${JSON.stringify(MCP_SUBPROTOCOL)} is required` };
  }
  return undefined;
}
