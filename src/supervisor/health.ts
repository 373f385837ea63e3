import { request } from 'node:http';
import { errnoCode, errorMessage } from '../common/errors.js';
import { dialDaemon } from '../transport/dial.js';

/** What `GET /health` answers (DESIGN.md "Daemon wire contract"). */
export interface Health {
  ok: boolean;
  version: string;
  id: string;
  pid: number;
  port: number;
  uptimeMs: number;
  sessions: number;
}

export type Probe =
  | { state: 'healthy'; health: Health }
  /** Nothing listens on the port. */
  | { state: 'down'; reason: string }
  /** Something listens, but it is not this workspace's daemon (or not a daemon at all). */
  | { state: 'foreign'; reason: string; health?: Health }
  /** Our daemon answers /health but does not complete an authenticated MCP ping. */
  | { state: 'unresponsive'; reason: string; health: Health };

export function fetchHealth(port: number, timeoutMs: number): Promise<Health> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path: '/health', method: 'GET', timeout: timeoutMs, headers: { host: `127.0.0.1:${port}` } },
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
    req.on('timeout', () => req.destroy(Object.assign(new Error(`GET /health timed out after ${timeoutMs} ms`), { code: 'TIMEOUT' })));
    req.on('error', reject);
    req.end();
  });
}

/** An authenticated MCP `ping` over the daemon's WebSocket: the real readiness test. */
export async function pingDaemon(port: number, token: string, timeoutMs: number): Promise<void> {
  const ws = await dialDaemon({ port, token, timeoutMs });
  try {
    await new Promise<void>((resolve, reject) => {
      const id = `exai-health-${process.pid}`;
      const timer = setTimeout(() => reject(new Error(`MCP ping timed out after ${timeoutMs} ms`)), timeoutMs);
      ws.on('message', (data) => {
        try {
          const msg = JSON.parse(String(data)) as { id?: unknown; error?: { message?: string } };
          if (msg.id !== id) return;
          clearTimeout(timer);
          if (msg.error) reject(new Error(`MCP ping failed: ${msg.error.message ?? 'error'}`));
          else resolve();
        } catch {
          // A frame we cannot read is not the answer to our ping; keep waiting.
        }
      });
      ws.on('close', () => {
        clearTimeout(timer);
        reject(new Error('the daemon closed the connection before answering the ping'));
      });
      ws.send(JSON.stringify({ jsonrpc: '2.0', id, method: 'ping' }));
    });
  } finally {
    ws.close(1000);
  }
}

/**
 * Is the daemon on `port` this workspace's, and does it answer an authenticated ping?
 * Never throws: the answer is a state the caller can act on.
 */
export async function probeDaemon(opts: { port: number; id: string; token: string; timeoutMs?: number }): Promise<Probe> {
  const timeoutMs = opts.timeoutMs ?? 2_000;
  let health: Health;
  try {
    health = await fetchHealth(opts.port, timeoutMs);
  } catch (err) {
    const code = errnoCode(err);
    if (code === 'ECONNREFUSED' || code === 'ECONNRESET') return { state: 'down', reason: code };
    return { state: 'foreign', reason: errorMessage(err) };
  }
  if (health.id !== opts.id) {
    return { state: 'foreign', reason: `port ${opts.port} is served by exai daemon ${health.id}, not ${opts.id}`, health };
  }
  try {
    await pingDaemon(opts.port, opts.token, timeoutMs);
    return { state: 'healthy', health };
  } catch (err) {
    return { state: 'unresponsive', reason: errorMessage(err), health };
  }
}
