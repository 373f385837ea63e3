/**
 * Issue 13 inputs 5 and 6 and its "Also" list, end to end: a real `exai daemon` process hosting
 * server-everything, server-filesystem, the fixture server and the ticker fixture, reached by
 * real SDK clients through real `exai shim` processes, and by raw WebSocket frames.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { ListRootsRequestSchema, type JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exposedName, MAX_EXPOSED_NAME } from '../src/daemon/upstreams/gateway.js';
import { resolveWorkspace } from '../src/workspace/identity.js';
import { readToken } from '../src/workspace/token.js';
import { CLI, ROOT, childExit, makeTestEnv, shimTransport, waitFor, type TestEnv } from './helpers/env.js';
import { RawSession } from './helpers/mcp-client.js';
import { everythingEntry, filesystemEntry, fixtureEntry, recordMessages, textOf, writeFixtureServer, writeServers } from './upstreams-helpers.js';

const TICKER = join(ROOT, 'test', 'fixtures', 'ticker-server.mjs');
const LONG_TOOL = 'tell_the_time_in_a_very_long_and_descriptive_way_for_testing_limits';

let t: TestEnv;
let workspace: string;
let id: string;
let port: number;
let daemon: ChildProcess;
let rootA: string;
const clients: Client[] = [];

beforeAll(async () => {
  t = makeTestEnv();
  const resolved = resolveWorkspace(t.workspace('fidelity'));
  workspace = resolved.path;
  id = resolved.id;
  rootA = join(workspace, 'a');
  mkdirSync(rootA);
  writeServers(workspace, {
    everything: everythingEntry(),
    fs: filesystemEntry(rootA),
    fx: fixtureEntry(writeFixtureServer(t.dir)),
    ticker: { command: process.execPath, args: [TICKER] },
  });
  port = t.portBase + 5;
  daemon = spawn(process.execPath, [CLI, 'daemon'], {
    env: { ...t.env, EXAI_WS_PORT: String(port), EXAI_WORKSPACE: workspace },
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  await new Promise<void>((resolve, reject) => {
    daemon.on('message', (m) => m === 'ready' && resolve());
    daemon.on('exit', (code) => reject(new Error(`daemon exited with ${code}`)));
  });
});

afterAll(async () => {
  for (const client of clients) await client.close().catch(() => undefined);
  if (daemon && daemon.exitCode === null) daemon.kill('SIGTERM');
  if (daemon) await childExit(daemon);
  await t?.cleanup();
});

/** A real SDK client through a real `exai shim`; `roots`: it declares roots and answers with these folders. */
async function shimClient(roots?: string[]): Promise<{ client: Client; received: JSONRPCMessage[]; setRoots(next: string[]): Promise<void> }> {
  const transport = shimTransport(t.env, port, workspace);
  let current = roots ?? [];
  const client = new Client({ name: 'fidelity', version: '1.0.0' }, { capabilities: roots ? { roots: { listChanged: true } } : {} });
  if (roots) client.setRequestHandler(ListRootsRequestSchema, () => ({ roots: current.map((dir) => ({ uri: pathToFileURL(dir).href, name: dir })) }));
  clients.push(client);
  await client.connect(transport);
  const received = recordMessages(transport);
  return {
    client,
    received,
    setRoots: async (next) => {
      current = next;
      await client.sendRootsListChanged();
    },
  };
}

async function allowedDirectories(client: Client): Promise<string> {
  return textOf(await client.callTool({ name: 'fs__list_allowed_directories', arguments: {} }));
}

describe('errors', () => {
  it('say what went wrong once: an upstream relays the gateway\'s error to the model with one "MCP error" prefix', async () => {
    const { client } = await shimClient();
    const result = await client.callTool({ name: 'fx__sample', arguments: {} }).then(textOf, (err: Error) => err.message);
    expect(result).toMatch(/MCP error -32600: no client connected to this workspace's exai daemon supports sampling/);
    expect(result.match(/MCP error/g)).toHaveLength(1);
  });

  it('answer wrong parameter types with -32602 Invalid params, the session staying open', async () => {
    const raw = await RawSession.open(port, readToken(t.home, id)!);
    await raw.initialize();
    const cases: [string, object][] = [
      ['tools/call', { name: 42 }],
      ['tools/call', { name: 'everything__echo', arguments: 'hello' }],
      ['tools/call', { name: 'exai_status', arguments: [] }],
      ['resources/read', { uri: 7 }],
      ['prompts/get', { name: null }],
      ['completion/complete', { ref: 5, argument: {} }],
      ['logging/setLevel', { level: 'loud' }],
      ['tools/list', { cursor: 5 }],
      ['resources/subscribe', {}],
      ['tasks/get', { taskId: 1 }],
    ];
    for (const [i, [method, params]] of cases.entries()) {
      const reply = (await raw.request(`bad-${i}`, method, params)) as { error?: { code: number; message: string } };
      expect({ method, params, code: reply.error?.code }).toEqual({ method, params, code: -32602 });
      expect(reply.error?.message).toMatch(new RegExp(`^invalid params for ${method.replace('/', '\\/')}: `));
    }
    const ok = (await raw.request('still-open', 'tools/call', { name: 'everything__echo', arguments: { message: 'ok' } })) as { result?: unknown };
    expect(ok.result).toBeDefined();
    await raw.close();
  });
});

describe('roots', () => {
  it("reach upstreams that asked before a client with roots was there, and follow the client's roots/list_changed", async () => {
    const rootB = join(workspace, 'b');
    const rootC = join(workspace, 'c');
    mkdirSync(rootB);
    mkdirSync(rootC);
    const { client, received, setRoots } = await shimClient([rootB]);
    // server-filesystem replaces its folders with the client's roots once it learns of them.
    await waitFor(async () => ((await allowedDirectories(client)).includes(rootB) ? true : undefined), {
      what: 'server-filesystem to take the roots of the client that attached',
      timeoutMs: 15_000,
    });
    // server-everything, which asked for roots while no client could answer, asked again.
    const rootsLog = (m: JSONRPCMessage) => 'method' in m && m.method === 'notifications/message' && JSON.stringify(m.params).includes('Roots updated: 1 root(s)');
    await waitFor(() => received.find(rootsLog), { what: "server-everything's roots update", timeoutMs: 15_000 });

    await setRoots([rootC]);
    await waitFor(async () => {
      const dirs = await allowedDirectories(client);
      return dirs.includes(rootC) && !dirs.includes(rootB) ? true : undefined;
    }, { what: 'server-filesystem to follow roots/list_changed', timeoutMs: 15_000 });
    expect(await allowedDirectories(client)).not.toContain(rootA);
  });
});

describe('what a session learns at initialize and from tools/list', () => {
  it("carries every upstream's instructions, each under its server's name", async () => {
    const { client } = await shimClient();
    const instructions = client.getInstructions() ?? '';
    expect(instructions).toContain('<server>__<name>');
    expect(instructions).toContain('## ticker\n\nTicker tells the time, every 300 ms.');
    expect(instructions).toMatch(/## everything\n\n\S/);
    expect(instructions).not.toContain('## fs');
  });

  it(`keeps every exposed name within ${MAX_EXPOSED_NAME} characters: a longer one gets its short form, which still routes`, async () => {
    const { client } = await shimClient();
    const names = (await client.listTools()).tools.map((x) => x.name);
    expect(names.every((n) => n.length <= MAX_EXPOSED_NAME)).toBe(true);
    const short = exposedName('ticker', LONG_TOOL);
    expect(`ticker__${LONG_TOOL}`.length).toBeGreaterThan(MAX_EXPOSED_NAME);
    expect(short).toMatch(/^ticker__tell_the_time_in_a_very_long_and_des_[0-9a-f]{8}$/);
    expect(names).toContain(short);
    expect(names).not.toContain(`ticker__${LONG_TOOL}`);
    expect(textOf(await client.callTool({ name: short, arguments: {} }))).toMatch(/^tick \d+$/);
  });

  it("describes exai_status's output with portable JSON Schema (one type per property), and its result matches it", async () => {
    const { client } = await shimClient();
    const status = (await client.listTools()).tools.find((x) => x.name === 'exai_status')!;
    const problems: string[] = [];
    const walk = (schema: Record<string, unknown>, path: string) => {
      if (typeof schema.type !== 'string') problems.push(`${path}: type ${JSON.stringify(schema.type)}`);
      for (const [key, child] of Object.entries((schema.properties ?? {}) as Record<string, Record<string, unknown>>)) walk(child, `${path}.${key}`);
      if (schema.items) walk(schema.items as Record<string, unknown>, `${path}[]`);
    };
    walk(status.outputSchema as Record<string, unknown>, 'outputSchema');
    expect(problems).toEqual([]);
    // The SDK client checks structuredContent against the output schema.
    const result = await client.callTool({ name: 'exai_status', arguments: {} });
    expect(result.structuredContent).toMatchObject({ port, workspace });
  });
});
