/**
 * JSON-RPC 2.0 envelopes (the shapes MCP messages travel in), checked by hand. The SDK checks
 * them with zod schemas; on the hot path of a relay that is most of the cost of a small call,
 * and the relay needs only the envelope: what is inside (params, result) is the peers' business
 * and each peer's own SDK validates it.
 */
import type { JSONRPCMessage } from '@modelcontextprotocol/server';
import type { JsonRpcId } from './lines.js';

export type { JsonRpcId } from './lines.js';

/**
 * The one table of the JSON-RPC error codes exai puts on the wire: the spec's (section 5.1)
 * and, from its server-error range, exai's own. (Errors inside exai are ExaiErrors with string
 * codes: common/errors.ts.) test/tables.test.ts fails when src/ answers with a number not here.
 */
export const PARSE_ERROR = -32700;
export const INVALID_REQUEST = -32600;
export const METHOD_NOT_FOUND = -32601;
export const INVALID_PARAMS = -32602;
export const INTERNAL_ERROR = -32603;
/** Server error: the daemon could not be reached, or the HTTP endpoint refused the request as it stands. */
export const SERVER_ERROR = -32000;
/** The Streamable HTTP session id names no session (it expired, or the daemon restarted). */
export const SESSION_NOT_FOUND = -32001;
/** A 2026-07-28 request asked for a protocol version this daemon does not speak. */
export const UNSUPPORTED_PROTOCOL_VERSION = -32022;
/** A 2026-07-28 HTTP request whose Mcp-Method/Mcp-Name/MCP-Protocol-Version headers disagree with its body. */
export const HEADER_MISMATCH = -32020;

export const WIRE_ERROR_CODES = {
  PARSE_ERROR,
  INVALID_REQUEST,
  METHOD_NOT_FOUND,
  INVALID_PARAMS,
  INTERNAL_ERROR,
  SERVER_ERROR,
  SESSION_NOT_FOUND,
  UNSUPPORTED_PROTOCOL_VERSION,
  HEADER_MISMATCH,
} as const;

export interface WireRequest {
  jsonrpc: '2.0';
  id: JsonRpcId;
  method: string;
  params?: Record<string, unknown>;
}
export interface WireNotification {
  jsonrpc: '2.0';
  method: string;
  params?: Record<string, unknown>;
}
export interface WireError {
  code: number;
  message: string;
  data?: unknown;
}
export interface WireResponse {
  jsonrpc: '2.0';
  id: JsonRpcId;
  result?: Record<string, unknown>;
  error?: WireError;
}
export type WireMessage = WireRequest | WireNotification | WireResponse;

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const isIntegerId = (v: unknown): v is JsonRpcId => typeof v === 'string' || Number.isSafeInteger(v);

const REQUEST_KEYS = new Set(['jsonrpc', 'id', 'method', 'params']);
const RESULT_KEYS = new Set(['jsonrpc', 'id', 'result']);
const ERROR_KEYS = new Set(['jsonrpc', 'id', 'error']);
const onlyKeys = (value: Record<string, unknown>, allowed: Set<string>) => Object.keys(value).every((k) => allowed.has(k));

/** `params` as MCP allows it: an object whose `_meta`, if any, is an object with a string or integer progressToken. */
function validParams(params: unknown): boolean {
  if (params === undefined) return true;
  if (!isObject(params)) return false;
  const meta = params._meta;
  if (meta === undefined) return true;
  return isObject(meta) && (meta.progressToken === undefined || isIntegerId(meta.progressToken));
}

/**
 * Whether `value` is one JSON-RPC 2.0 message as MCP allows it, with the same rules as the SDK's
 * JSONRPCMessageSchema (so what passes here the SDK also accepts): a request (string or integer
 * id, method, optional object params), a notification, or a response (id plus an object result,
 * or an error with an integer code and a string message); no other top-level members.
 */
export function isJsonRpcMessage(value: unknown): value is WireMessage {
  if (!isObject(value) || value.jsonrpc !== '2.0') return false;
  if ('method' in value) {
    if (typeof value.method !== 'string' || !onlyKeys(value, REQUEST_KEYS) || !validParams(value.params)) return false;
    return value.id === undefined ? !('id' in value) : isIntegerId(value.id);
  }
  if ('result' in value) return isIntegerId(value.id) && isObject(value.result) && onlyKeys(value, RESULT_KEYS);
  const error = value.error;
  return (
    (value.id === undefined ? !('id' in value) : isIntegerId(value.id)) &&
    isObject(error) &&
    Number.isInteger(error.code) &&
    typeof error.message === 'string' &&
    onlyKeys(value, ERROR_KEYS)
  );
}

export const isRequest = (m: WireMessage): m is WireRequest => 'method' in m && 'id' in m && m.id !== undefined;
export const isNotification = (m: WireMessage): m is WireNotification => 'method' in m && (!('id' in m) || m.id === undefined);
export const isResponse = (m: WireMessage): m is WireResponse => !('method' in m);

/** The SDK's message type for the same value (its union is what `Transport` speaks). */
export const asSdkMessage = (m: WireMessage): JSONRPCMessage => m as unknown as JSONRPCMessage;
export const fromSdkMessage = (m: JSONRPCMessage): WireMessage => m as unknown as WireMessage;

export function errorResponse(id: JsonRpcId, code: number, message: string, data?: unknown): WireResponse {
  return { jsonrpc: '2.0', id, error: { code, message, ...(data === undefined ? {} : { data }) } };
}

/**
 * An error to throw from an SDK request handler: the SDK puts `message` and `code` on the wire
 * as they are. (Its McpError prefixes "MCP error <code>: " to the message, and every SDK that
 * receives it prefixes again, so a relayed McpError says it twice.)
 */
export class WireRequestError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly data?: unknown,
  ) {
    super(message);
  }
}

