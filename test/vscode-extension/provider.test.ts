import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type * as vscode from 'vscode';
import { activateExai, type ExaiExtension } from '../../vscode/src/activate.js';
import { catalogDigest } from '../../vscode/src/provider.js';
import { CLI, ROOT, makeTestEnv, runCli, type TestEnv } from '../helpers/env.js';
import { fakeVscode, McpHttpServerDefinition, McpStdioServerDefinition, type Folder } from './fake-vscode.js';

/**
 * The provider with the `vscode` module faked and everything it runs real: the exai CLI of
 * dist/ (spawn, list), pm2 with this file's PM2_HOME, the daemon, and the shim VS Code would
 * launch from the returned definition, driven by a real MCP SDK client.
 */

const SCRIPTED = join(ROOT, 'test', 'fixtures', 'scripted-server.mjs');
const EVERYTHING = join(ROOT, 'node_modules', '.bin', 'mcp-server-everything');
let t: TestEnv;
let baseEnv: NodeJS.ProcessEnv;
const active: ExaiExtension[] = [];

beforeAll(() => {
  t = makeTestEnv();
  // exai.home carries EXAI_HOME, as a user with a non-default home would set it.
  baseEnv = { ...t.env, EXAI_HOME: undefined };
});
afterAll(async () => {
  await Promise.all(active.map((a) => a.dispose()));
  await t.cleanup();
});

async function activate(folders: Folder[], trusted = true) {
  const fake = fakeVscode({ folders, trusted, settings: { path: '', home: t.home } });
  const ext = await activateExai(fake.vscode, fake.context, { bundledCli: CLI, env: baseEnv, pollMs: 3_600_000 });
  active.push(ext);
  return { fake, ext };
}

async function listed(): Promise<{ workspace: string; port: number; status: string }[]> {
  const res = await runCli(['list', '--json'], t.env);
  expect(res.code, res.stderr).toBe(0);
  return JSON.parse(res.stdout) as { workspace: string; port: number; status: string }[];
}

/** Connects a real MCP client to a stdio definition exactly as VS Code would launch it. */
/** What VS Code does with an HTTP definition: POSTs to its URL with its headers. */
async function connect(def: McpHttpServerDefinition): Promise<Client> {
  const client = new Client({ name: 'vscode-fake', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(def.uri.toString()), { requestInit: { headers: def.headers } }));
  return client;
}

describe('the MCP server definition provider', () => {
  it('in an untrusted workspace offers nothing and starts nothing; trust granted later offers the folder', async () => {
    const ws = t.workspace('untrusted');
    const { fake, ext } = await activate([{ name: 'untrusted', path: ws }], false);
    expect(await ext.provider.provideMcpServerDefinitions()).toEqual([]);
    expect(await ext.provider.resolveMcpServerDefinition(new McpStdioServerDefinition('exai · untrusted', 'node', []) as unknown as vscode.McpServerDefinition)).toBeUndefined();
    expect(existsSync(join(t.home, 'registry.json'))).toBe(false);
    expect(fake.statusItems[0]?.text).toContain('$(shield)');

    let asked = 0;
    ext.provider.onDidChangeMcpServerDefinitions(() => asked++);
    fake.grantTrust();
    expect(asked).toBe(1);
    const defs = await ext.provider.provideMcpServerDefinitions();
    expect(defs?.map((d) => d.label)).toEqual(['exai · untrusted']);
    await ext.dispose();
  });

  it('offers one definition per folder without starting anything, then resolve registers and starts each folder on its own port and no client config appears', async () => {
    const a = t.workspace('alpha');
    const b = t.workspace('beta');
    mkdirSync(join(a, '.exai'));
    writeFileSync(join(a, '.exai', 'servers.json'), JSON.stringify({ servers: { scripted: { command: process.execPath, args: [SCRIPTED], env: { SCRIPTED_TOOL_NAMES: 'hello' } } } }));
    const { fake, ext } = await activate([
      { name: 'alpha', path: a },
      { name: 'beta', path: b },
    ]);
    expect(fake.providers.get('exai')).toBe(ext.provider);

    const defs = (await ext.provider.provideMcpServerDefinitions()) as McpStdioServerDefinition[];
    expect(defs.map((d) => d.label)).toEqual(['exai · alpha', 'exai · beta']);
    expect(defs[0]!.version).toBe(`0.1.0+${catalogDigest(a)}`);
    expect(defs[0]!.version).not.toBe(defs[1]!.version); // alpha declares upstreams, beta none
    expect(await listed()).toEqual([]); // provide is eager: it must not start anything

    const resolvedA = (await ext.provider.resolveMcpServerDefinition(defs[0] as unknown as vscode.McpServerDefinition)) as unknown as McpHttpServerDefinition;
    const resolvedB = (await ext.provider.resolveMcpServerDefinition(defs[1] as unknown as vscode.McpServerDefinition)) as unknown as McpHttpServerDefinition;
    const rows = await listed();
    const rowA = rows.find((r) => r.workspace === a);
    const rowB = rows.find((r) => r.workspace === b);
    expect(rowA?.status).toBe('online');
    expect(rowB?.status).toBe('online');
    expect(rowA!.port).not.toBe(rowB!.port);
    // The registered daemon speaks Streamable HTTP (its /health lists it): the resolved definition
    // is its /mcp URL with the bearer token held in memory, no shim process.
    expect(resolvedA).toBeInstanceOf(McpHttpServerDefinition);
    expect(resolvedA.uri.toString()).toBe(`http://127.0.0.1:${rowA!.port}/mcp`);
    expect(resolvedA.headers.Authorization).toMatch(/^Bearer \S{32,}$/);
    expect(resolvedB.uri.toString()).toBe(`http://127.0.0.1:${rowB!.port}/mcp`);
    expect(resolvedB.headers.Authorization).not.toBe(resolvedA.headers.Authorization);

    const client = await connect(resolvedA);
    try {
      const names = (await client.listTools()).tools.map((tool) => tool.name);
      expect(names).toContain('exai_status');
      const hello = names.find((n) => n.endsWith('hello'));
      expect(hello, names.join(', ')).toBeDefined();
      const result = (await client.callTool({ name: hello!, arguments: {} })) as { content: { text?: string }[] };
      expect(result.content[0]?.text).toContain('hello');
    } finally {
      await client.close();
    }
    for (const ws of [a, b]) {
      expect(existsSync(join(ws, '.vscode'))).toBe(false);
      expect(existsSync(join(ws, '.mcp.json'))).toBe(false);
    }
    await ext.dispose();
  });

  it('a start that fails reaches VS Code as exai spawn\'s own one-line error, also in the output channel', async () => {
    const ws = t.workspace('vanishing');
    const { fake, ext } = await activate([{ name: 'vanishing', path: ws }]);
    const [def] = (await ext.provider.provideMcpServerDefinitions()) ?? [];
    rmSync(ws, { recursive: true });
    await expect(ext.provider.resolveMcpServerDefinition(def as vscode.McpServerDefinition)).rejects.toThrow(/^exai spawn: .*vanishing/);
    expect(fake.channels.get('exai')!.lines.join('\n')).toMatch(/vanishing: exai spawn: /);
    await ext.dispose();
  });

  it('asks VS Code again when folders change, when .exai/servers.json changes (new version) and when a daemon moves to another port', async () => {
    const ws = t.workspace('mover');
    const { fake, ext } = await activate([{ name: 'mover', path: ws }]);
    let asked = 0;
    ext.provider.onDidChangeMcpServerDefinitions(() => asked++);
    const [def] = (await ext.provider.provideMcpServerDefinitions()) as McpStdioServerDefinition[];
    await ext.provider.resolveMcpServerDefinition(def as unknown as vscode.McpServerDefinition);
    await ext.refresh();
    expect(asked).toBe(0);

    const other = t.workspace('second');
    fake.setFolders([
      { name: 'mover', path: ws },
      { name: 'second', path: other },
    ]);
    expect(asked).toBe(1);
    expect(((await ext.provider.provideMcpServerDefinitions()) ?? []).map((d) => d.label)).toEqual(['exai · mover', 'exai · second']);

    mkdirSync(join(ws, '.exai'));
    writeFileSync(join(ws, '.exai', 'servers.json'), '{ "servers": {} }\n');
    const watcher = fake.watchers.find((w) => w.pattern === '**/.exai/servers.json')!;
    watcher.created.fire(fake.vscode.Uri.file(join(ws, '.exai', 'servers.json')) as unknown as never);
    expect(asked).toBe(2);
    const [again] = (await ext.provider.provideMcpServerDefinitions()) as McpStdioServerDefinition[];
    expect(again!.version).not.toBe(def!.version);

    // The daemon moves (a pinned port given to spawn); the next fleet read sees it.
    const before = (await listed()).find((r) => r.workspace === ws)!.port;
    const target = before + 5;
    const moved = await runCli(['spawn', '--workspace', ws, '--no-config', '--port', String(target), '--json'], t.env);
    expect(moved.code, moved.stderr).toBe(0);
    await ext.refresh();
    expect(asked).toBe(3);
    const [after] = (await ext.provider.provideMcpServerDefinitions()) as McpStdioServerDefinition[];
    expect(after!.env.EXAI_WS_PORT).toBe(String(target));
    await ext.dispose();
  });
  it('a folder with .exai/daemon.json gets its own daemon started and its own client entry: the HTTP URL, no exai token, reached by a real client', async () => {
    const ws = t.workspace('own-http');
    mkdirSync(join(ws, '.exai'));
    const spec = {
      command: EVERYTHING,
      args: ['streamableHttp'],
      env: { PORT: '${port}' },
      ready: { tcp: true, timeout: '60s' },
      client: { type: 'http', url: 'http://127.0.0.1:${port}/mcp' },
    };
    writeFileSync(join(ws, '.exai', 'daemon.json'), JSON.stringify(spec));
    const { fake, ext } = await activate([{ name: 'own-http', path: ws }]);
    const [def] = (await ext.provider.provideMcpServerDefinitions()) as McpStdioServerDefinition[];
    const before = def!.version;
    const resolved = (await ext.provider.resolveMcpServerDefinition(def as unknown as vscode.McpServerDefinition)) as unknown as McpHttpServerDefinition;
    const row = (await listed()).find((r) => r.workspace === ws);
    expect(row?.status).toBe('online');
    expect(resolved).toBeInstanceOf(McpHttpServerDefinition);
    expect(resolved.uri.toString()).toBe(`http://127.0.0.1:${row!.port}/mcp`);
    expect(resolved.headers).toEqual({});
    expect(resolved.version).toBe(before);

    const client = await connect(resolved);
    try {
      const names = (await client.listTools()).tools.map((tool) => tool.name);
      expect(names).toContain('echo');
      expect(names).not.toContain('exai_status'); // the workspace's own daemon, not exai's
    } finally {
      await client.close();
    }
    expect(existsSync(join(ws, '.vscode'))).toBe(false);

    // An edit of daemon.json changes the version, and its watcher has VS Code ask again.
    let asked = 0;
    ext.provider.onDidChangeMcpServerDefinitions(() => asked++);
    writeFileSync(join(ws, '.exai', 'daemon.json'), JSON.stringify({ ...spec, args: ['streamableHttp', '--x'] }));
    fake.watchers.find((w) => w.pattern === '**/.exai/daemon.json')!.changed.fire(fake.vscode.Uri.file(join(ws, '.exai', 'daemon.json')) as unknown as never);
    expect(asked).toBe(1);
    const [again] = (await ext.provider.provideMcpServerDefinitions()) as McpStdioServerDefinition[];
    expect(again!.version).not.toBe(before);
    const stopped = await runCli(['stop', '--workspace', ws, '--json'], t.env);
    expect(stopped.code, stopped.stderr).toBe(0);
    await ext.dispose();
  });
  it('a folder whose .exai/daemon.json has a stdio client with "wake" gets exai\'s shim --exec in front of it, which a real client goes through', async () => {
    const ws = t.workspace('own-stdio');
    mkdirSync(join(ws, '.exai'));
    const node = process.execPath;
    const wsShim = join(ROOT, 'test', 'fixtures', 'ws-shim.mjs');
    writeFileSync(
      join(ws, '.exai', 'daemon.json'),
      JSON.stringify({
        command: join(ROOT, 'node_modules', '.bin', 'supergateway'),
        args: ['--stdio', `${node} ${join(ROOT, 'node_modules', '@modelcontextprotocol', 'server-everything', 'dist', 'index.js')} stdio`, '--outputTransport', 'ws', '--port', '${port}'],
        files: { '${stateDir}/instance.env': 'PORT=${port}\nTOKEN=${token}\n' },
        ready: { log: 'WebSocket endpoint', timeout: '60s' },
        client: { command: node, args: [wsShim, 'ws://127.0.0.1:${port}/message'], env: { SHIM_ENV_FILE: '${stateDir}/instance.env' }, wake: true },
      }),
    );
    const { ext } = await activate([{ name: 'own-stdio', path: ws }]);
    const [def] = (await ext.provider.provideMcpServerDefinitions()) as McpStdioServerDefinition[];
    const resolved = (await ext.provider.resolveMcpServerDefinition(def as unknown as vscode.McpServerDefinition)) as unknown as McpStdioServerDefinition;
    const row = (await listed()).find((r) => r.workspace === ws);
    expect(row?.status).toBe('online');
    expect(resolved).toBeInstanceOf(McpStdioServerDefinition);
    expect(resolved.args.slice(1)).toEqual(['shim', '--exec', '--', node, wsShim, `ws://127.0.0.1:${row!.port}/message`]);
    expect(resolved.env.EXAI_WORKSPACE).toBe(ws); // VS Code expands nothing in a provided definition
    expect(String(resolved.env.SHIM_ENV_FILE)).toMatch(/instance\.env$/);
    expect(String(resolved.env.SHIM_ENV_FILE)).not.toContain('${');

    const env = Object.fromEntries(Object.entries(resolved.env).map(([k, v]) => [k, String(v)]));
    const client = new Client({ name: 'vscode-fake', version: '1.0.0' });
    await client.connect(new StdioClientTransport({ command: resolved.command, args: resolved.args, env: { ...env, PATH: process.env.PATH ?? '' }, stderr: 'pipe' }));
    try {
      const res = await client.callTool({ name: 'echo', arguments: { message: 'through the wake shim' } });
      expect(JSON.stringify(res.content)).toContain('through the wake shim');
    } finally {
      await client.close();
    }
    const stopped = await runCli(['stop', '--workspace', ws, '--json'], t.env);
    expect(stopped.code, stopped.stderr).toBe(0);
    await ext.dispose();
  });
});
