/**
 * The standard request headers of 2026-07-28 over HTTP (SEP-2243): a request POST carrying the
 * protocol-version envelope also carries `MCP-Protocol-Version` and `Mcp-Method`, and, for the
 * methods that name a tool, prompt, resource or task, `Mcp-Name` (Base64 in a `=?base64?…?=`
 * sentinel when not plain ASCII). Intermediaries route on them, so the server refuses a request
 * whose headers are missing or disagree with its body: 400 with -32020 (HeaderMismatch), the
 * same cells and error as the SDK v2 HTTP entry (its validator is not exported; the SDK v2
 * server package is not a runtime dependency of exai).
 */
import type { IncomingMessage } from 'node:http';
import { HEADER_MISMATCH, type WireRequest } from '../../transport/jsonrpc.js';

export { HEADER_MISMATCH };
const PROTOCOL_VERSION_META = 'io.modelcontextprotocol/protocolVersion';

/** Which body field `Mcp-Name` mirrors, per method (SEP-2243's table, SEP-2663 for tasks). */
const NAME_SOURCE: Record<string, string> = {
  'tools/call': 'name',
  'prompts/get': 'name',
  'resources/read': 'uri',
  'tasks/get': 'taskId',
  'tasks/update': 'taskId',
  'tasks/cancel': 'taskId',
};

const SENTINEL = /^=\?base64\?((?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?)\?=$/;

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  const one = Array.isArray(value) ? value[0] : value;
  return one === undefined ? undefined : one.trim();
}

export interface HeaderMismatch {
  message: string;
  data: { mismatch: { header: string; body: string } };
}

/** Undefined when the headers agree with the request; otherwise the refusal. */
export function checkStandardHeaders(req: IncomingMessage, request: WireRequest): HeaderMismatch | undefined {
  const meta = request.params?._meta as Record<string, unknown> | undefined;
  const claimed = meta?.[PROTOCOL_VERSION_META];
  const version = header(req, 'mcp-protocol-version');
  const method = header(req, 'mcp-method');
  const enveloped = typeof claimed === 'string';
  const refuse = (headerValue: string, body: string): HeaderMismatch => ({
    message: `Bad Request: the request headers and body disagree: ${body}`,
    data: { mismatch: { header: headerValue, body } },
  });
  if (version === undefined && enveloped) return refuse('(missing)', `the body envelope names protocol version ${claimed} but the required MCP-Protocol-Version header is absent`);
  if (version !== undefined && enveloped && version !== claimed) return refuse(version, `the body envelope names protocol version ${claimed} but the MCP-Protocol-Version header names ${version}`);
  if (method === undefined && enveloped) return refuse('(missing)', `the body names method ${request.method} but the required Mcp-Method header is absent`);
  if (method !== undefined && method !== request.method) return refuse(method, `the body names method ${request.method} but the Mcp-Method header names ${method}`);
  const field = Object.hasOwn(NAME_SOURCE, request.method) ? NAME_SOURCE[request.method] : undefined;
  if (field === undefined) return undefined;
  const raw = request.params?.[field];
  const bodyValue = typeof raw === 'string' ? raw : undefined;
  const name = header(req, 'mcp-name');
  if (name === undefined) {
    return bodyValue !== undefined && enveloped ? refuse('(missing)', `the body carries params.${field}="${bodyValue}" but the required Mcp-Name header is absent`) : undefined;
  }
  const decoded = decodeName(name);
  if (decoded === undefined) return refuse(name, 'the Mcp-Name header carries an invalid Base64 sentinel value');
  if (bodyValue !== undefined && decoded !== bodyValue) return refuse(name, `the body carries params.${field}="${bodyValue}" but the Mcp-Name header names "${decoded}"`);
  return undefined;
}

function decodeName(value: string): string | undefined {
  if (!(value.startsWith('=?base64?') && value.endsWith('?='))) return value;
  const match = SENTINEL.exec(value);
  if (!match) return undefined;
  const text = Buffer.from(match[1] ?? '', 'base64').toString('utf8');
  // Not UTF-8: the SDK refuses it too.
  return text.includes('\uFFFD') ? undefined : text;
}
