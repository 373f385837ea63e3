/**
 * `exai token` and Claude Code's Streamable HTTP entry (issue 23): `--client claude
 * --transport http` writes a URL and a headers helper (no token in the file); the helper, run
 * through a shell as Claude Code runs it, prints the header object a real SDK client connects
 * with, and wakes a stopped daemon; on a terminal `exai token` refuses unless --show.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SpawnResult } from '../src/start/spawn.js';
import { readToken } from '../src/workspace/token.js';
import { getHealth } from './helpers/daemon.js';
import { CLI, makeTestEnv, runCli, runProcess, type TestEnv } from './helpers/env.js';
import { connectHttp } from './http-helpers.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';

let t: TestEnv;
beforeAll(() => {
  t = makeTestEnv();
});
afterAll(async () => {
  await t.cleanup();
});

type HttpEntry = { type: string; url: string; headersHelper: string; command?: string; env?: unknown };
const entryOf = (ws: string) => (JSON.parse(readFileSync(join(ws, '.mcp.json'), 'utf8')) as { mcpServers: { exai: HttpEntry } }).mcpServers.exai;

/** Runs the helper as Claude Code does: a command line through the shell, with none of exai's variables set. */
async function runHelper(helper: string): Promise<string> {
  const env = { ...t.env, EXAI_HOME: undefined, PM2_HOME: undefined, EXAI_PORT_BASE: undefined, EXAI_PORT_STRIDE: undefined };
  const res = await runProcess('/bin/sh', ['-c', helper], { env, timeoutMs: 60_000 });
  expect(res.code, res.stderr).toBe(0);
  return res.stdout;
}

describe('exai spawn --client claude --transport http', () => {
  it('writes the URL and a headers helper, never the token; the helper gives a real HTTP client its header', async () => {
    const ws = t.workspace('claude-http');
    const res = await runCli(['spawn', '--workspace', ws, '--client', 'claude', '--transport', 'http', '--json'], t.env);
    expect(res.code, res.stderr).toBe(0);
    const spawned = JSON.parse(res.stdout) as SpawnResult;
    const entry = entryOf(ws);
    expect(entry).toMatchObject({ type: 'http', url: `http://127.0.0.1:${spawned.port}/mcp` });
    expect(entry.command).toBeUndefined();
    expect(entry.headersHelper).toContain(' token --workspace ');
    const token = readToken(t.home, spawned.id)!;
    expect(readFileSync(join(ws, '.mcp.json'), 'utf8')).not.toContain(token);

    const headers = JSON.parse(await runHelper(entry.headersHelper)) as Record<string, string>;
    expect(headers).toEqual({ Authorization: `Bearer ${token}` });
    const client = new Client({ name: 'as-claude', version: '0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(entry.url), { requestInit: { headers } }));
    expect((await client.listTools()).tools.map((x) => x.name)).toContain('exai_status');
    await client.close();

    // A later spawn keeps the entry's transport; --transport stdio takes it back to the shim.
    expect((await runCli(['spawn', '--workspace', ws, '--client', 'claude'], t.env)).code).toBe(0);
    expect(entryOf(ws).type).toBe('http');
    expect((await runCli(['spawn', '--workspace', ws, '--client', 'claude', '--transport', 'stdio'], t.env)).code).toBe(0);
    const stdio = entryOf(ws);
    expect(stdio).toMatchObject({ type: 'stdio' });
    expect(stdio.url).toBeUndefined();
    expect(stdio.headersHelper).toBeUndefined();
    // doctor finds nothing wrong with either kind of entry's port.
    expect((await runCli(['spawn', '--workspace', ws, '--client', 'claude', '--transport', 'http'], t.env)).code).toBe(0);
    const doctor = JSON.parse((await runCli(['doctor', '--json'], t.env)).stdout) as { findings: { scope: string; check: string; status: string; message: string }[] };
    const problems = doctor.findings.filter((f) => f.scope === ws && f.status !== 'ok');
    expect(problems, JSON.stringify(problems)).toEqual([]);
  });

  it('the helper wakes a stopped daemon (--wake), as the shim would', async () => {
    const ws = t.workspace('claude-wake');
    const res = await runCli(['spawn', '--workspace', ws, '--client', 'claude', '--transport', 'http', '--json'], t.env);
    const spawned = JSON.parse(res.stdout) as SpawnResult;
    expect((await runCli(['stop', '--workspace', ws], t.env)).code).toBe(0);
    await expect(getHealth(spawned.port, 500)).rejects.toThrow();
    const headers = JSON.parse(await runHelper(entryOf(ws).headersHelper)) as Record<string, string>;
    expect((await getHealth(spawned.port)).id).toBe(spawned.id);
    const { client } = await connectHttp(spawned.port, headers.Authorization!.slice('Bearer '.length));
    await client.close();
  });

  it('a helper whose port was taken meanwhile moves the workspace within its range and prints no token for the old URL', async () => {
    const ws = t.workspace('claude-moved');
    const spawned = JSON.parse((await runCli(['spawn', '--workspace', ws, '--client', 'claude', '--transport', 'http', '--json'], t.env)).stdout) as SpawnResult;
    expect((await runCli(['stop', '--workspace', ws], t.env)).code).toBe(0);
    const squatter = createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => squatter.listen(spawned.port, '127.0.0.1', resolve));
    try {
      const env = { ...t.env, EXAI_HOME: undefined, PM2_HOME: undefined, EXAI_PORT_BASE: undefined, EXAI_PORT_STRIDE: undefined };
      const res = await runProcess('/bin/sh', ['-c', entryOf(ws).headersHelper], { env, timeoutMs: 60_000 });
      expect(res.code).toBe(1);
      expect(res.stdout).toBe('');
      expect(res.stderr.trim().split('\n')).toHaveLength(1);
      expect(res.stderr).toMatch(new RegExp(`PORT_MOVED: port ${spawned.port} .* taken by another process.*reconnect the client`));
      // Moved within the test's port range (the helper carries EXAI_PORT_BASE/STRIDE), configs rewritten.
      const moved = Number(new URL(entryOf(ws).url).port);
      const base = Number(t.env.EXAI_PORT_BASE);
      const stride = Number(t.env.EXAI_PORT_STRIDE);
      expect(moved).not.toBe(spawned.port);
      expect((moved - base) % stride).toBe(0);
      expect((await getHealth(moved)).id).toBe(spawned.id);
      // The client, restarted, reads the new URL; the helper prints the header for it.
      const headers = JSON.parse(await runHelper(entryOf(ws).headersHelper)) as Record<string, string>;
      expect(headers.Authorization).toBe(`Bearer ${readToken(t.home, spawned.id)}`);
    } finally {
      await new Promise((resolve) => squatter.close(resolve));
    }
  });

  it('--transport needs --client claude', async () => {
    const res = await runCli(['spawn', '--workspace', t.workspace('bad'), '--transport', 'http'], t.env);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/--client claude/);
  });
});

describe('exai token', () => {
  it('prints the header line to a pipe; --json the object; one-line errors on stderr only', async () => {
    const ws = t.workspace('tok');
    const spawned = JSON.parse((await runCli(['spawn', '--workspace', ws, '--no-config', '--json'], t.env)).stdout) as SpawnResult;
    const token = readToken(t.home, spawned.id)!;
    const line = await runCli(['token', '--workspace', ws], t.env);
    expect(line.code, line.stderr).toBe(0);
    expect(line.stdout).toBe(`Authorization: Bearer ${token}\n`);
    expect(JSON.parse((await runCli(['token', '--workspace', ws, '--json'], t.env)).stdout)).toEqual({ Authorization: `Bearer ${token}` });
    const missing = await runCli(['token', '--workspace', t.workspace('never-spawned'), '--json'], t.env);
    expect(missing.code).toBe(1);
    expect(missing.stdout).toBe('');
    expect(missing.stderr.trim().split('\n')).toHaveLength(1);
    expect(missing.stderr).toMatch(/exai spawn --workspace/);

    // A removed workspace is not registered: said so, with the command that registers it.
    expect((await runCli(['remove', '--workspace', ws], t.env)).code).toBe(0);
    const removed = await runCli(['token', '--workspace', ws], t.env);
    expect(removed.code).toBe(1);
    expect(removed.stdout).toBe('');
    expect(removed.stderr).toBe(`exai: WORKSPACE_NOT_REGISTERED: ${ws} is not registered with exai (never spawned, or removed); register it with \`exai spawn --workspace ${ws}\`\n`);
  });

  it('refuses a terminal unless --show', () => {
    const ws = t.workspace('tty');
    execFileSync(process.execPath, [CLI, 'spawn', '--workspace', ws, '--no-config'], { env: t.env, stdio: 'ignore' });
    // `script` gives the command a pseudo-terminal as stdout.
    const onTty = (args: string) => {
      try {
        return { out: execFileSync('script', ['-qec', `${process.execPath} ${CLI} token --workspace ${ws} ${args}`, '/dev/null'], { env: t.env, encoding: 'utf8' }), code: 0 };
      } catch (err) {
        const e = err as { status: number; stdout: string };
        return { out: e.stdout, code: e.status };
      }
    };
    const refused = onTty('');
    expect(refused.code).toBe(2);
    expect(refused.out).toMatch(/--show/);
    expect(refused.out).not.toMatch(/Bearer/);
    const shown = onTty('--show');
    expect(shown.code).toBe(0);
    expect(shown.out).toMatch(/^Authorization: Bearer \S+/);
  });
});
