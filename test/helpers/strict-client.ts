/**
 * A client that launches `exai shim` the way strict clients do (the Python SDK, Codex,
 * Inspector 2.x): from the entry exai wrote into the client config, with only what that entry
 * lists plus HOME and PATH — nothing of the test's own environment (EDITORS.md).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { parse } from 'jsonc-parser';
import { ROOT } from './env.js';

export interface WrittenEntry {
  command: string;
  args: string[];
  env: Record<string, string>;
}

/** exai's entry in `.vscode/mcp.json` (or `.mcp.json` with `kind: 'claude'`), `${workspaceFolder}` expanded as VS Code does. */
export function writtenEntry(workspace: string, kind: 'vscode' | 'claude' = 'vscode'): WrittenEntry {
  const file = kind === 'vscode' ? join(workspace, '.vscode', 'mcp.json') : join(workspace, '.mcp.json');
  const value = parse(readFileSync(file, 'utf8'), [], { allowTrailingComma: true }) as Record<string, Record<string, WrittenEntry>>;
  const entry = value[kind === 'vscode' ? 'servers' : 'mcpServers']?.exai;
  if (!entry) throw new Error(`no exai entry in ${file}`);
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(entry.env)) env[k] = v.replaceAll('${workspaceFolder}', workspace);
  return { command: entry.command, args: entry.args, env };
}

/** The environment a strict client gives the shim: the entry's env, HOME and PATH only. */
export function strictEnv(entry: WrittenEntry, home: string): Record<string, string> {
  return { HOME: home, PATH: process.env.PATH ?? '/usr/bin:/bin', ...entry.env };
}

/** A stdio transport launched exactly from the written entry, in a strict environment. */
export function strictTransport(entry: WrittenEntry, home: string, extraEnv: Record<string, string> = {}): StdioClientTransport {
  return new StdioClientTransport({ command: entry.command, args: entry.args, env: { ...strictEnv(entry, home), ...extraEnv }, stderr: 'pipe', cwd: ROOT });
}

/** Connects an SDK client through that transport; collects the shim's stderr. */
export async function connectStrict(entry: WrittenEntry, home: string, extraEnv: Record<string, string> = {}): Promise<{ client: Client; stderr: () => string; close(): Promise<void> }> {
  const transport = strictTransport(entry, home, extraEnv);
  let stderr = '';
  transport.stderr?.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
  const client = new Client({ name: 'strict-client', version: '0.0.0' });
  await client.connect(transport);
  return { client, stderr: () => stderr, close: () => client.close() };
}

/** `exai_status` through a client (one helper: helpers/mcp-client.ts). */
export { exaiStatus } from './mcp-client.js';

/** An upstream's environment as server-everything's `get-env` tool reports it. */
export async function upstreamEnv(client: Client, server: string): Promise<Record<string, string>> {
  const res = await client.callTool({ name: `${server}__get-env`, arguments: {} });
  const text = (res.content as { type: string; text: string }[])[0]?.text ?? '{}';
  return JSON.parse(text) as Record<string, string>;
}
