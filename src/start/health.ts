import { Agent } from 'node:http';
import { errnoCode, errorMessage } from '../common/errors.js';
import { dialDaemon } from '../transport/dial.js';
import { fetchHealth, type Health } from '../transport/health.js';
import { readExaiStatus, type ExaiStatus } from '../workspace/status.js';

export { fetchHealth, type Health };

export type Probe =
  | { state: 'healthy'; health: Health; status?: ExaiStatus }
  /** Nothing listens on the port. */
  | { state: 'down'; reason: string }
  /** Something listens, but it is not this workspace's daemon (or not a daemon at all). */
  | { state: 'foreign'; reason: string; health?: Health }
  /** Our daemon answers /health but does not complete an authenticated MCP ping. */
  | { state: 'unresponsive'; reason: string; health: Health };

/**
 * One authenticated JSON-RPC request over the daemon's WebSocket, answered or refused within
 * `timeoutMs`. The daemon serves requests without an `initialize` first, which keeps probes
 * to one round trip.
 */
async function requestDaemon(port: number, token: string, method: string, params: object | undefined, timeoutMs: number, agent?: Agent): Promise<unknown> {
  const ws = await dialDaemon({ port, token, timeoutMs, agent });
  try {
    return await new Promise<unknown>((resolve, reject) => {
      const id = `exai-probe-${process.pid}`;
      const timer = setTimeout(() => reject(new Error(`MCP ${method} timed out after ${timeoutMs} ms`)), timeoutMs);
      ws.on('error', () => undefined); // the close handler below reports it
      ws.on('message', (data) => {
        try {
          const msg = JSON.parse(String(data)) as { id?: unknown; result?: unknown; error?: { message?: string } };
          if (msg.id !== id) return;
          clearTimeout(timer);
          if (msg.error) reject(new Error(`MCP ${method} failed: ${msg.error.message ?? 'error'}`));
          else resolve(msg.result);
        } catch {
          // A frame we cannot read is not the answer to our request; keep waiting.
        }
      });
      ws.on('close', () => {
        clearTimeout(timer);
        reject(new Error(`the daemon closed the connection before answering ${method}`));
      });
      ws.send(JSON.stringify({ jsonrpc: '2.0', id, method, ...(params ? { params } : {}) }));
    });
  } finally {
    ws.close(1000);
  }
}

/** An authenticated MCP `ping`: the real readiness test. */
export async function pingDaemon(port: number, token: string, timeoutMs: number, agent?: Agent): Promise<void> {
  await requestDaemon(port, token, 'ping', undefined, timeoutMs, agent);
}

/** The daemon's own `exai_status`, authenticated: also proves the token works. */
export async function daemonStatus(port: number, token: string, timeoutMs: number, agent?: Agent): Promise<ExaiStatus> {
  const result = (await requestDaemon(port, token, 'tools/call', { name: 'exai_status', arguments: {} }, timeoutMs, agent)) as { structuredContent?: unknown } | undefined;
  const status = readExaiStatus(result?.structuredContent);
  if (!status) throw new Error('exai_status returned no status');
  return status;
}

/**
 * Is the daemon on `port` this workspace's, and does it answer an authenticated ping?
 * Never throws: the answer is a state the caller can act on. /health and the authenticated
 * request share one connection (a keep-alive agent of one socket): `exai list` probes every
 * daemon at once, and half the connects was a sixth of its time on 50 workspaces.
 */
export async function probeDaemon(opts: { port: number; id: string; token: string; timeoutMs?: number; withStatus?: boolean }): Promise<Probe> {
  const timeoutMs = opts.timeoutMs ?? 2_000;
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  try {
    let health: Health;
    try {
      health = await fetchHealth(opts.port, timeoutMs, agent);
    } catch (err) {
      const code = errnoCode(err);
      if (code === 'ECONNREFUSED' || code === 'ECONNRESET') return { state: 'down', reason: code };
      return { state: 'foreign', reason: errorMessage(err) };
    }
    if (health.id !== opts.id) {
      return { state: 'foreign', reason: `port ${opts.port} is served by exai daemon ${health.id}, not ${opts.id}`, health };
    }
    try {
      if (opts.withStatus) return { state: 'healthy', health, status: await daemonStatus(opts.port, opts.token, timeoutMs, agent) };
      await pingDaemon(opts.port, opts.token, timeoutMs, agent);
      return { state: 'healthy', health };
    } catch (err) {
      return { state: 'unresponsive', reason: errorMessage(err), health };
    }
  } finally {
    agent.destroy();
  }
}
