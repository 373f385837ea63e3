/**
 * Newline-delimited JSON-RPC framing for the stdio side of the shim.
 *
 * The bytes of every message are handed on exactly as they arrived (minus the line ending):
 * the shim is a relay, and re-serialising would change number formatting, key order and
 * escapes that the other side might rely on. Parsing happens on a copy, only to learn the
 * message's kind, id and method.
 */
import { isId, type JsonRpcId } from '../transport/lines.js';

export { LineSplitter, sniffId, type JsonRpcId, type LineSplitterOptions } from '../transport/lines.js';

export interface MessageInfo {
  kind: 'request' | 'notification' | 'response' | 'invalid';
  id?: JsonRpcId;
  method?: string;
  /** The parsed copy; absent when the bytes are not a JSON object. */
  value?: Record<string, unknown>;
}

/** Classifies one JSON-RPC message from its bytes (a parsed copy; the bytes are untouched). */
export function inspectMessage(bytes: Buffer): MessageInfo {
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch {
    return { kind: 'invalid' };
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return { kind: 'invalid' };
  const record = value as Record<string, unknown>;
  const id = isId(record.id) ? record.id : undefined;
  if (typeof record.method === 'string') {
    return id === undefined
      ? { kind: 'notification', method: record.method, value: record }
      : { kind: 'request', id, method: record.method, value: record };
  }
  if (id !== undefined && ('result' in record || 'error' in record)) return { kind: 'response', id, value: record };
  return { kind: 'invalid', id, value: record };
}

/**
 * A daemon frame as one stdout line: a raw newline would split the message on stdout, and JSON
 * never needs one between tokens, so such a frame is written again from its parsed copy.
 * Undefined when it holds a newline and is not JSON.
 */
export function oneLine(frame: Buffer, info: MessageInfo): Buffer | undefined {
  if (!frame.includes(0x0a)) return frame;
  return info.value ? Buffer.from(JSON.stringify(info.value)) : undefined;
}

/** Map key for an id: 1 and "1" are different requests. */
export function idKey(id: JsonRpcId): string {
  return typeof id === 'number' ? `n:${id}` : `s:${id}`;
}

/** A JSON-RPC error response, serialised (without the newline). */
export function errorResponse(id: JsonRpcId | null, code: number, message: string): Buffer {
  return Buffer.from(JSON.stringify({ jsonrpc: '2.0', id, error: { code, message } }));
}
