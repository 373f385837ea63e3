/**
 * MCP clients for the round-trip paths (all real SDK clients), and the closed-loop latency
 * driver: every client sends its next request as soon as the previous answer arrived.
 */
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import WebSocket from 'ws';
import { CLI, DIST, ROOT, sleep } from './env.js';

export const FLOOR_SERVER = join(ROOT, 'bench', 'fixtures', 'stdio-server.js');
export const SUPERGATEWAY = join(ROOT, 'node_modules', 'supergateway', 'dist', 'index.js');
export const EVERYTHING = join(ROOT, 'node_modules', '@modelcontextprotocol', 'server-everything', 'dist', 'index.js');

let distModules;
/** The built transport and token helpers, loaded once (they are exai's own, from dist/). */
async function dist() {
  distModules ??= {
    ...(await import(DIST('transport/ws-client.js'))),
    ...(await import(DIST('workspace/token.js'))),
  };
  return distModules;
}

function stringEnv(env) {
  return Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined));
}

/**
 * Every open client and supergateway: on Ctrl-C they are closed before pm2 is killed, or a shim
 * that sees its daemon vanish would start it again (that is its job) in a dir being removed.
 */
const live = new Set();

function newClient(name) {
  const client = new Client({ name, version: '1.0.0' });
  const close = client.close.bind(client);
  client.close = async () => {
    live.delete(client);
    await close();
  };
  live.add(client);
  return client;
}

export async function closeLive() {
  await Promise.all([...live].map((c) => c.close().catch(() => undefined)));
}

/** Any stdio server: the floor, server-everything, or `exai shim`. */
export async function connectStdio(command, args, env, cwd = ROOT) {
  const client = newClient('bench-stdio');
  await client.connect(new StdioClientTransport({ command, args, env: stringEnv(env), cwd, stderr: 'ignore' }));
  return client;
}

export function connectFloor(env) {
  return connectStdio(process.execPath, [FLOOR_SERVER], env);
}

export function connectShim(env, { port, workspace }) {
  return connectStdio(process.execPath, [CLI, 'shim'], { ...env, EXAI_WS_PORT: String(port), EXAI_WORKSPACE: workspace }, workspace);
}

export async function daemonToken(home, id) {
  const { readToken } = await dist();
  const token = readToken(home, id);
  if (!token) throw new Error(`no token for workspace ${id} in ${home}`);
  return token;
}

/** SDK client -> the daemon's WebSocket, authenticated, with exai's own client transport. */
export async function connectDaemonWs({ port, token }) {
  const { WebSocketClientTransport } = await dist();
  const client = newClient('bench-ws');
  await client.connect(new WebSocketClientTransport({ port, token }));
  return client;
}

/**
 * SDK client -> the daemon's Streamable HTTP endpoint (/mcp, 2025-11-25 session), the bearer
 * header on every request: what a client with a headers helper does, with no shim process.
 */
export async function connectDaemonHttp({ port, token }) {
  const client = newClient('bench-http');
  await client.connect(
    new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${port}/mcp`), { requestInit: { headers: { Authorization: `Bearer ${token}` } } }),
  );
  return client;
}

/**
 * SDK client -> supergateway's WebSocket. The same client transport as the direct daemon
 * path (handed an already open socket), so the two WebSocket rows differ only by the server.
 */
export async function connectSupergateway(port, path = '/message') {
  const { WebSocketClientTransport } = await dist();
  const socket = await new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`, 'mcp', { perMessageDeflate: false });
    ws.once('open', () => {
      ws.off('error', reject);
      resolve(ws);
    });
    ws.once('error', reject);
  });
  const client = newClient('bench-supergateway');
  await client.connect(new WebSocketClientTransport(socket));
  return client;
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/**
 * supergateway in stdio -> WebSocket mode in front of the floor server. Resolves once its
 * WebSocket accepts a connection (it prints "Listening" before that is always true).
 */
export async function startSupergateway(env) {
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const child = spawn(
      process.execPath,
      [SUPERGATEWAY, '--stdio', `${JSON.stringify(process.execPath)} ${JSON.stringify(FLOOR_SERVER)}`, '--outputTransport', 'ws', '--port', String(port), '--logLevel', 'none'],
      { env: stringEnv(env), cwd: ROOT, stdio: ['pipe', 'ignore', 'pipe'] },
    );
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
    let exited = false;
    child.once('exit', () => (exited = true));
    const deadline = Date.now() + 20_000;
    while (!exited && Date.now() < deadline) {
      try {
        const probe = await connectSupergateway(port);
        await probe.close();
        const gateway = {
          port,
          child,
          async close() {
            live.delete(gateway);
            if (child.exitCode !== null || child.signalCode !== null) return;
            const gone = new Promise((r) => child.once('exit', r));
            child.kill('SIGTERM');
            await Promise.race([gone, sleep(5_000).then(() => child.kill('SIGKILL'))]);
          },
        };
        live.add(gateway);
        return gateway;
      } catch {
        await sleep(100);
      }
    }
    child.kill('SIGKILL');
    if (attempt >= 2) throw new Error(`supergateway did not come up on port ${port}: ${stderr.trim()}`);
  }
}

export const OPS = {
  ping: (client) => client.ping(),
  'tools/call': (client) => client.callTool({ name: 'exai_status', arguments: {} }),
};

/**
 * One closed-loop batch: all clients start together and each sends `calls` requests back to
 * back. Returns every latency (ms) and the wall time of the whole batch.
 */
export async function batch(clients, op, calls) {
  const latencies = [];
  const started = performance.now();
  await Promise.all(
    clients.map(async (client) => {
      for (let i = 0; i < calls; i++) {
        const t0 = performance.now();
        await op(client);
        latencies.push(performance.now() - t0);
      }
    }),
  );
  return { latencies, wallMs: performance.now() - started };
}

export async function closeAll(clients) {
  await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
}

/**
 * Two bare relays in front of server-everything (bench/fixtures/bare-relay.js): starts the
 * "daemon" one; a client runs `node ...shimArgs` as its server. The floor of any shim + daemon;
 * with `parse`, of any that reads each message and gives requests ids of its own (NDJSON, no WebSocket).
 */
export async function startBareRelay({ parse = false } = {}) {
  const relay = join(ROOT, 'bench', 'fixtures', 'bare-relay.js');
  const mode = parse ? ['--parse'] : [];
  const port = await freePort();
  const child = spawn(process.execPath, [relay, ...mode, 'daemon', String(port), process.execPath, EVERYTHING, 'stdio'], { stdio: ['ignore', 'ignore', 'ignore', 'ipc'] });
  await new Promise((resolve) => child.once('message', resolve));
  return { child, shimArgs: [relay, ...mode, 'shim', String(port)] };
}
