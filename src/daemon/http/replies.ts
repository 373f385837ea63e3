import type { IncomingMessage, ServerResponse } from 'node:http';

/** The 413 message, worded as the SDK's Streamable HTTP transport words it (v2 does not export it). */
export function requestBodyTooLargeMessage(maxBytes: number): string {
  return `Payload Too Large: Request body must not exceed ${maxBytes} bytes`;
}

/**
 * The body as text, or 'too large' past `maxBytes` (a declared Content-Length over it is
 * refused without reading; the read otherwise stops at the limit, as the SDK's does).
 */
export function readBody(req: IncomingMessage, maxBytes: number): Promise<string | 'too large'> {
  if (Number(req.headers['content-length']) > maxBytes) return Promise.resolve('too large');
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        req.off('data', onData);
        req.pause();
        resolve('too large');
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.once('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.once('error', reject);
  });
}

export function sendJson(res: ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

/**
 * A JSON-RPC error as the SDK's transport answers (status, `{jsonrpc, error, id: null}`).
 * `close`: the connection is closed after it, for an answer sent before the body was read.
 */
export function jsonError(res: ServerResponse, status: number, code: number, message: string, close = false): void {
  const body = JSON.stringify({ jsonrpc: '2.0', error: { code, message }, id: null });
  res.writeHead(status, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(body),
    ...(close ? { Connection: 'close' } : {}),
  });
  res.end(body);
}
