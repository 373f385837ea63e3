import { request, type Agent } from 'node:http';
import { ExaiError } from '../common/errors.js';

/**
 * What `GET /health` answers (DESIGN.md "Daemon wire contract"), plus `home` (the state dir
 * the daemon reads its token from, so a shim of another EXAI_HOME can say so) and `spec` (a
 * hash of the launch spec it runs with, so every start path can see a daemon started with
 * other inputs). Both are paths or hashes, never secrets.
 */
export interface Health {
  ok: boolean;
  version: string;
  id: string;
  pid: number;
  port: number;
  uptimeMs: number;
  sessions: number;
  /** `sessions` by transport (daemons before Streamable HTTP leave it out). */
  sessionsByTransport?: { ws: number; http: number };
  home?: string;
  spec?: string;
  /**
   * How MCP clients may connect on this port: `ws` (the WebSocket `/mcp` the shim dials) and,
   * from a daemon that speaks it, `http` (Streamable HTTP on `/mcp`). Absent from older daemons,
   * which speak `ws` only. The VS Code extension picks its server definition by it.
   */
  transports?: string[];
}

/**
 * `GET /health` on 127.0.0.1:port. Rejects with the socket error (`ECONNREFUSED`, …), a
 * `TIMEOUT` error after `timeoutMs`, or an Error when what answers is not an exai daemon.
 * With `agent` (keep-alive, one socket), a dial after it reuses the connection (supervisor/health.ts).
 */
export function fetchHealth(port: number, timeoutMs: number, agent?: Agent): Promise<Health> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path: '/health', method: 'GET', timeout: timeoutMs, headers: { host: `127.0.0.1:${port}` }, ...(agent ? { agent } : {}) },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          try {
            if (res.statusCode !== 200) throw new Error(`GET /health answered ${res.statusCode}`);
            const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Health;
            if (typeof body.id !== 'string' || typeof body.version !== 'string') throw new Error('GET /health is not an exai daemon');
            resolve(body);
          } catch (err) {
            reject(err);
          }
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new ExaiError('TIMEOUT', `GET /health timed out after ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}
