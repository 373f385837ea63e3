import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type * as vscode from 'vscode';
import { activateExai } from '../../vscode/src/activate.js';
import { CLI, makeTestEnv, type TestEnv } from '../helpers/env.js';
import { fakeVscode, McpHttpServerDefinition, McpStdioServerDefinition } from './fake-vscode.js';

const STANDIN = fileURLToPath(new URL('./http-exai.mjs', import.meta.url));
let t: TestEnv;
let server: Server;
let transports: string[] = ['ws', 'http'];

beforeAll(async () => {
  t = makeTestEnv();
  server = createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ ok: true, version: '0.1.0', id: 'standin1', pid: process.pid, port: t.portBase, uptimeMs: 1, sessions: 0, transports }));
  });
  await new Promise<void>((resolve) => server.listen(t.portBase, '127.0.0.1', resolve));
  mkdirSync(join(t.home, 'tokens'), { recursive: true });
  writeFileSync(join(t.home, 'tokens', 'standin1.token'), 'f00d'.repeat(16) + '\n');
});
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  await t.cleanup();
});

it('hands VS Code Streamable HTTP with the bearer token in memory when /health lists http, and the stdio shim when it does not', async () => {
  const ws = t.workspace('http');
  const fake = fakeVscode({ folders: [{ name: 'http', path: ws }], settings: { path: STANDIN, home: t.home } });
  const ext = await activateExai(fake.vscode, fake.context, { bundledCli: CLI, env: { ...t.env, STANDIN_PORT: String(t.portBase), STANDIN_ID: 'standin1' }, pollMs: 3_600_000 });
  try {
    expect(ext.cli.command.args).toEqual([STANDIN]); // exai.path as a script runs with node
    const [def] = (await ext.provider.provideMcpServerDefinitions()) ?? [];
    const http = (await ext.provider.resolveMcpServerDefinition(def as vscode.McpServerDefinition)) as unknown as McpHttpServerDefinition;
    expect(http).toBeInstanceOf(McpHttpServerDefinition);
    expect(http.uri.toString()).toBe(`http://127.0.0.1:${t.portBase}/mcp`);
    expect(http.headers).toEqual({ Authorization: `Bearer ${'f00d'.repeat(16)}` });
    expect(http.label).toBe('exai · http');

    transports = ['ws']; // an older daemon, or one without HTTP
    const stdio = (await ext.provider.resolveMcpServerDefinition(def as vscode.McpServerDefinition)) as unknown as McpStdioServerDefinition;
    expect(stdio).toBeInstanceOf(McpStdioServerDefinition);
    expect(stdio.args).toEqual([STANDIN, 'shim']);
    expect(stdio.env.EXAI_WS_PORT).toBe(String(t.portBase));
  } finally {
    await ext.dispose();
  }
});
