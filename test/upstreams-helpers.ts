/**
 * Shared by the upstream/gateway tests: real upstream servers from node_modules, a scriptable
 * fixture server, and SDK client sessions wired to a Gateway in-process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
// The daemon's sessions run on the v2 SDK's Server; the clients stay v1 (the 2025 client).
import { Server } from '@modelcontextprotocol/server';
import {
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  ListRootsRequestSchema,
  type ClientCapabilities,
  type CreateMessageRequest,
  type CreateMessageResult,
  type JSONRPCMessage,
} from '@modelcontextprotocol/sdk/types.js';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { ROOT, makeTestEnv, waitFor, type TestEnv } from './helpers/env.js';
import type { BuiltinTool } from '../src/daemon/builtins.js';
import { GATEWAY_SERVER_CAPABILITIES, Gateway, type GatewayOptions } from '../src/daemon/upstreams/gateway.js';

const require = createRequire(import.meta.url);

export const EVERYTHING = join(ROOT, 'node_modules', '@modelcontextprotocol', 'server-everything', 'dist', 'index.js');
export const FILESYSTEM = join(ROOT, 'node_modules', '@modelcontextprotocol', 'server-filesystem', 'dist', 'index.js');

export interface ServerEntry {
  command: string;
  args?: string[];
  env?: Record<string, string>;
  cwd?: string;
  lifecycle?: 'eager' | 'lazy';
  idleTimeout?: string | number;
  protocol?: 'auto' | '2025-11-25' | '2026-07-28';
}

export const everythingEntry = (): ServerEntry => ({ command: process.execPath, args: [EVERYTHING, 'stdio'] });
export const filesystemEntry = (dir: string): ServerEntry => ({ command: process.execPath, args: [FILESYSTEM, dir] });

export function writeServers(workspace: string, servers: Record<string, ServerEntry> | string): void {
  mkdirSync(join(workspace, '.exai'), { recursive: true });
  const text = typeof servers === 'string' ? servers : JSON.stringify({ servers }, null, 2);
  // Atomic, like an editor's safe-write: the watcher must cope with rename-replacement.
  const file = join(workspace, '.exai', 'servers.json');
  writeFileSync(`${file}.tmp`, text);
  renameSync(`${file}.tmp`, file);
}

/**
 * A small stdio MCP server (CommonJS, SDK resolved by absolute path so it runs from a temp dir)
 * with tools that make the gateway's forwarding observable: a cancellable wait that reports
 * cancellation on stderr, roots and elicitation requests, a tool added at runtime, and a crash.
 */
export function writeFixtureServer(dir: string): string {
  const sdk = (p: string) => JSON.stringify(require.resolve(`@modelcontextprotocol/sdk/${p}`));
  const zod = JSON.stringify(require.resolve('zod'));
  const file = join(dir, 'fixture-server.cjs');
  writeFileSync(
    file,
    `
const { McpServer } = require(${sdk('server/mcp.js')});
const { StdioServerTransport } = require(${sdk('server/stdio.js')});
const { z } = require(${zod});
const server = new McpServer({ name: 'fixture', version: '1.0.0' }, { capabilities: { logging: {} } });
const text = (t) => ({ content: [{ type: 'text', text: t }] });
server.registerTool('wait', { inputSchema: { ms: z.number() } }, async ({ ms }, extra) => {
  console.error('waiting ' + ms + ' ms'); // tests wait on this line: the call reached the server
  await new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    extra.signal.addEventListener('abort', () => { clearTimeout(timer); console.error('cancelled request ' + extra.requestId); resolve(); });
  });
  return text('waited ' + ms);
});
server.registerTool('roots', {}, async () => text(JSON.stringify((await server.server.listRoots()).roots)));
server.registerTool('elicit', {}, async () => {
  const r = await server.server.elicitInput({ message: 'your name?', requestedSchema: { type: 'object', properties: { name: { type: 'string' } }, required: ['name'] } });
  return text(JSON.stringify(r));
});
server.registerTool('sample', {}, async () => {
  const r = await server.server.createMessage({ messages: [{ role: 'user', content: { type: 'text', text: 'hi' } }], maxTokens: 10 });
  return text(JSON.stringify(r.content));
});
server.registerTool('add_tool', {}, async () => {
  server.registerTool('added', {}, async () => text('I was added'));
  return text('added');
});
server.registerTool('log', { inputSchema: { message: z.string() } }, async ({ message }) => {
  await server.sendLoggingMessage({ level: 'info', logger: 'fx', data: message });
  return text('logged');
});
server.registerTool('crash', {}, async () => { console.error('fixture: crashing on purpose'); process.exit(7); });
server.registerPrompt('greet', { argsSchema: { who: z.string() } }, ({ who }) => ({ messages: [{ role: 'user', content: { type: 'text', text: 'hello ' + who } }] }));
server.connect(new StdioServerTransport()).then(() => console.error('fixture: ready pid ' + process.pid));
`,
  );
  return file;
}

export const fixtureEntry = (file: string): ServerEntry => ({ command: process.execPath, args: [file] });

export interface TestSession {
  client: Client;
  server: Server;
  /** Every message the client received, in order, at the transport level. */
  received: JSONRPCMessage[];
  close(): Promise<void>;
}

export interface SessionOptions {
  name?: string;
  capabilities?: ClientCapabilities;
  onSampling?: (request: CreateMessageRequest) => CreateMessageResult | Promise<CreateMessageResult>;
  roots?: { uri: string; name?: string }[];
  onElicit?: () => { action: 'accept' | 'decline' | 'cancel'; content?: Record<string, string> };
  builtins?: BuiltinTool[];
}

export const echoBuiltin: BuiltinTool = {
  definition: { name: 'exai_status', description: 'test built-in', inputSchema: { type: 'object', properties: {} } },
  call: () => ({ content: [{ type: 'text', text: 'built-in ok' }] }),
};

/** One session, like the daemon makes per WebSocket: its own Server, attached to the gateway. */
export async function openSession(gateway: Gateway, options: SessionOptions = {}): Promise<TestSession> {
  const server = new Server({ name: 'exai', version: 'test' }, { capabilities: GATEWAY_SERVER_CAPABILITIES });
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  server.onclose = await gateway.connect(server, serverSide, options.builtins ?? [echoBuiltin]);
  const capabilities: ClientCapabilities = { ...(options.capabilities ?? {}) };
  if (options.onSampling) capabilities.sampling = {};
  if (options.roots) capabilities.roots = {};
  if (options.onElicit) capabilities.elicitation = {};
  const client = new Client({ name: options.name ?? 'test', version: '1.0.0' }, { capabilities });
  if (options.onSampling) {
    const onSampling = options.onSampling;
    client.setRequestHandler(CreateMessageRequestSchema, (request) => onSampling(request));
  }
  if (options.roots) {
    const roots = options.roots;
    client.setRequestHandler(ListRootsRequestSchema, () => ({ roots }));
  }
  if (options.onElicit) {
    const onElicit = options.onElicit;
    client.setRequestHandler(ElicitRequestSchema, () => onElicit());
  }
  await client.connect(clientSide);
  const received = recordMessages(clientSide);
  return { client, server, received, close: () => client.close() };
}

/** Gateways and sessions that are closed by the test file's `cleanups` (run after each test). */
/**
 * A test file's gateway setup: one TestEnv for the file (`env()`, made before its tests and removed
 * after), `cleanups` run after each test in reverse order, and the `harness` that registers its own.
 */
export function gatewayTestFile(): { h: ReturnType<typeof harness>; cleanups: (() => Promise<unknown>)[]; env: () => TestEnv } {
  let t: TestEnv | undefined;
  beforeAll(() => {
    t = makeTestEnv();
  });
  afterAll(async () => {
    await t?.cleanup();
  });
  const cleanups: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });
  return { h: harness(cleanups), cleanups, env: () => t! };
}

export function harness(cleanups: (() => Promise<unknown>)[]) {
  return {
    startGateway(workspace: string, options: Partial<GatewayOptions> = {}): Gateway {
      const gateway = new Gateway({ workspace, debounceMs: 50, ...options });
      gateway.start();
      cleanups.push(() => gateway.close());
      return gateway;
    },
    async session(gateway: Gateway): Promise<TestSession> {
      const s = await openSession(gateway);
      cleanups.push(() => s.close());
      return s;
    },
  };
}

/** The text of a tool result (the SDK's result type is a union that includes the legacy `toolResult` shape). */
export function textOf(result: object): string {
  const content = ('content' in result && Array.isArray(result.content) ? result.content : []) as { type: string; text?: string }[];
  return content.map((c) => (c.type === 'text' ? (c.text ?? '') : '')).join('');
}

/**
 * Every message a connected transport delivers from now on, in order, recorded below the SDK
 * Client (which swallows some, such as progress for a token it did not issue).
 */
export function recordMessages(transport: Transport): JSONRPCMessage[] {
  const received: JSONRPCMessage[] = [];
  const deliver = transport.onmessage;
  transport.onmessage = (message, extra) => {
    received.push(message);
    deliver?.(message, extra);
  };
  return received;
}

/**
 * A node process running `script` (an ES module) that writes one JSON line on stdout once it is
 * ready: resolves with the child and that value. The child is SIGKILLed by `cleanup`.
 */
export async function startReporter<T>(dir: string, name: string, script: string, cleanups: (() => Promise<unknown>)[]): Promise<{ child: ChildProcess; report: T }> {
  const file = join(dir, `${name}.mjs`);
  writeFileSync(file, script);
  const child = spawn(process.execPath, [file], { stdio: ['ignore', 'pipe', 'inherit'] });
  cleanups.push(async () => child.kill('SIGKILL'));
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  const report = await waitFor(() => (out.includes('\n') ? (JSON.parse(out) as T) : undefined), { what: `${name} to report`, timeoutMs: 60_000 });
  return { child, report };
}

export function methods(messages: JSONRPCMessage[]): string[] {
  return messages.flatMap((m) => ('method' in m ? [m.method] : []));
}

/** True once the fixture's `wait` tool got a call for `ms` (its stderr line; pick an `ms` no other call of the test uses). */
export function waitReached(status: { stderrTail?: readonly string[] } | undefined, ms: number): true | undefined {
  return status?.stderrTail?.includes(`waiting ${ms} ms`) ? true : undefined;
}

