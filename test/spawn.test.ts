import { spawn as spawnChild } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countPm2Daemons, getHealth, isAlive } from './helpers/daemon.js';
import { makeTestEnv, pm2Apps, runCli, spawnJson as spawnEnvJson, waitFor, CLI, type TestEnv } from './helpers/env.js';
import { LINUX } from './helpers/platform.js';
import type { SpawnResult as SpawnJson } from '../src/start/spawn.js';
import { resolveWorkspace } from '../src/workspace/identity.js';
import { readToken } from '../src/workspace/token.js';
import { connectClient } from './helpers/mcp-client.js';
import { upstreamEnv } from './helpers/strict-client.js';
import { everythingEntry, writeServers } from './upstreams-helpers.js';

let t: TestEnv;

beforeAll(() => {
  t = makeTestEnv();
});
afterAll(async () => {
  await t.cleanup();
});

/** This file's spawns all run in its one TestEnv. */
const spawnJson = (dir: string, ...extra: string[]) => spawnEnvJson<SpawnJson>(t.env, dir, ...extra);

function mcpPort(file: string): number {
  const text = readFileSync(file, 'utf8');
  const match = /"EXAI_WS_PORT"\s*:\s*"(\d+)"/.exec(text);
  if (!match?.[1]) throw new Error(`no EXAI_WS_PORT in ${file}`);
  return Number(match[1]);
}

function listen(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer((s) => s.destroy());
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

describe('exai spawn', () => {
  it('gives two workspaces base and base+stride, each daemon answering with its own id', async () => {
    const a = await spawnJson(t.workspace('alpha'));
    const b = await spawnJson(t.workspace('beta'));
    expect(a.port).toBe(t.portBase);
    expect(b.port).toBe(t.portBase + t.portStride);
    expect(a.reused).toBe(false);
    expect(a.status).toBe('online');
    // Under a non-default EXAI_HOME (every test's) the name carries the home's tag (WINDOWS.md #2).
    expect(a.name).toMatch(/^exai-alpha-[0-9a-f]{8}-[0-9a-f]{4}$/);
    expect((await getHealth(a.port)).id).toBe(a.id);
    expect((await getHealth(b.port)).id).toBe(b.id);
    expect(a.id).not.toBe(b.id);
    // The client config is written, pointing at the workspace's port, with absolute paths.
    const mcp = JSON.parse(readFileSync(join(a.workspace, '.vscode', 'mcp.json'), 'utf8')) as {
      servers: { exai: { type: string; command: string; args: string[]; env: Record<string, string> } };
    };
    expect(mcp.servers.exai).toEqual({
      type: 'stdio',
      command: process.execPath,
      args: [CLI, 'shim'],
      // Non-default state dirs and port range travel with the entry: strict clients pass nothing else (DESIGN.md "Environment").
      env: {
        EXAI_WS_PORT: String(a.port),
        EXAI_WORKSPACE: '${workspaceFolder}',
        EXAI_HOME: t.home,
        PM2_HOME: t.pm2Home,
        EXAI_PORT_BASE: String(t.portBase),
        EXAI_PORT_STRIDE: String(t.portStride),
      },
    });
    expect(a.configFiles).toEqual([join(a.workspace, '.vscode', 'mcp.json')]);
  });

  it('reuses a healthy daemon: same pid, same port', async () => {
    const dir = t.workspace('alpha');
    const again = await spawnJson(dir);
    const health = await getHealth(again.port);
    expect(again.reused).toBe(true);
    expect(again.port).toBe(t.portBase);
    expect(again.pid).toBe(health.pid);
    // Relative, `..` and trailing-separator spellings are the same workspace.
    const viaDotDot = await runCli(['spawn', '--workspace', '../alpha/', '--json'], t.env, { cwd: t.workspace('beta') });
    expect(JSON.parse(viaDotDot.stdout)).toMatchObject({ id: again.id, port: again.port, pid: again.pid, reused: true });
  });

  it('--restart restarts on the same port with a new pid', async () => {
    const before = await spawnJson(t.workspace('beta'));
    const after = await spawnJson(t.workspace('beta'), '--restart');
    expect(after.reused).toBe(false);
    expect(after.port).toBe(before.port);
    expect(after.pid).not.toBe(before.pid);
    expect(isAlive(before.pid)).toBe(false);
  });

  it('8 processes spawning 8 workspaces at once: 8 ports, 8 online apps, one pm2 daemon', async () => {
    const dirs = Array.from({ length: 8 }, (_, i) => t.workspace(`par${i}`));
    const results = await Promise.all(dirs.map((d) => spawnJson(d)));
    expect(new Set(results.map((r) => r.port)).size).toBe(8);
    for (const r of results) expect((await getHealth(r.port)).id).toBe(r.id);
    const apps = (await pm2Apps(t.env)).filter((p) => p.name.startsWith('exai-par'));
    expect(apps.filter((p) => p.pm2_env.status === 'online')).toHaveLength(8);
    expect(countPm2Daemons(t.pm2Home)).toBe(1);
  });

  it('5 processes spawning the same workspace at once agree on one app and one port', async () => {
    const dir = t.workspace('same');
    const results = await Promise.all(Array.from({ length: 5 }, () => spawnJson(dir)));
    expect(new Set(results.map((r) => r.port)).size).toBe(1);
    expect(new Set(results.map((r) => r.pid)).size).toBe(1);
    expect(results.filter((r) => !r.reused)).toHaveLength(1);
    const apps = (await pm2Apps(t.env)).filter((p) => p.name === results[0]!.name);
    expect(apps).toHaveLength(1);
  });

  it('kill -9 of the daemon: pm2 brings it back on the same port, healthy', async () => {
    const first = await spawnJson(t.workspace('alpha'));
    process.kill(first.pid, 'SIGKILL');
    const health = await waitFor(
      async () => {
        const h = await getHealth(first.port).catch(() => undefined);
        return h && h.pid !== first.pid ? h : undefined;
      },
      { what: 'the daemon to come back' },
    );
    expect(health.id).toBe(first.id);
    const again = await spawnJson(t.workspace('alpha'));
    expect(again).toMatchObject({ reused: true, port: first.port, pid: health.pid });
  });

  it('moves a stopped workspace whose port a foreign process took, and rewrites mcp.json', async () => {
    const dir = t.workspace('mover');
    const first = await spawnJson(dir);
    const stop = await runCli(['stop', '--workspace', dir], t.env);
    expect(stop.code).toBe(0);
    await waitFor(async () => ((await getHealth(first.port).catch(() => undefined)) ? undefined : true), { what: 'the port to free' });
    const squatter = await listen(first.port);
    try {
      const res = await runCli(['spawn', '--workspace', dir, '--json'], t.env);
      expect(res.code).toBe(0);
      const moved = JSON.parse(res.stdout) as SpawnJson;
      expect(moved.port).not.toBe(first.port);
      expect(res.stderr).toContain(`${first.port} -> ${moved.port}`);
      expect(res.stderr).toContain('mcp.json');
      expect(mcpPort(join(dir, '.vscode', 'mcp.json'))).toBe(moved.port);
      expect((await getHealth(moved.port)).id).toBe(first.id);
    } finally {
      squatter.close();
    }
  });

  it('keeps comments and other servers in mcp.json; leaves an invalid one untouched', async () => {
    const dir = t.workspace('jsonc');
    mkdirSync(join(dir, '.vscode'));
    const original = `{
  // my servers
  "inputs": [{ "id": "key", "type": "promptString" }],
  "servers": {
    "other": { "command": "other-server" }, // keep me
  },
}
`;
    writeFileSync(join(dir, '.vscode', 'mcp.json'), original);
    const r = await spawnJson(dir);
    const text = readFileSync(join(dir, '.vscode', 'mcp.json'), 'utf8');
    expect(text).toContain('// my servers');
    expect(text).toContain('"other": { "command": "other-server" }');
    expect(text).toContain('// keep me');
    expect(text).toContain('"inputs": [{ "id": "key", "type": "promptString" }]');
    expect(mcpPort(join(dir, '.vscode', 'mcp.json'))).toBe(r.port);

    const bad = t.workspace('badjson');
    mkdirSync(join(bad, '.vscode'));
    const broken = '{ "servers": { "x": [1, 2 }\n';
    writeFileSync(join(bad, '.vscode', 'mcp.json'), broken);
    const res = await runCli(['spawn', '--workspace', bad], t.env);
    expect(res.code).toBe(1);
    expect(res.stderr.trim().split('\n')).toHaveLength(1);
    expect(res.stderr).toMatch(/mcp\.json.*1:\d+/);
    expect(readFileSync(join(bad, '.vscode', 'mcp.json'), 'utf8')).toBe(broken);
  });

  it('handles paths with spaces, quotes, $() and non-ASCII without executing anything', async () => {
    const marker = join(t.dir, 'pwned');
    const dir = t.workspace(`we ird "q" 'x' $(touch ${marker}) ünï`);
    const r = await spawnJson(dir);
    expect((await getHealth(r.port)).id).toBe(r.id);
    expect(r.workspace).toBe(dir);
    expect(existsSync(marker)).toBe(false);
    expect(r.name).toMatch(/^exai-[a-z0-9-]{1,24}-[0-9a-f]{8}-[0-9a-f]{4}$/);
  });

  it('writes claude and cursor configs on request, none with --no-config', async () => {
    const dir = t.workspace('clients');
    const r = await spawnJson(dir, '--client', 'claude', '--client', 'cursor');
    expect(r.configFiles.sort()).toEqual([join(dir, '.cursor', 'mcp.json'), join(dir, '.mcp.json')].sort());
    const claude = JSON.parse(readFileSync(join(dir, '.mcp.json'), 'utf8')) as { mcpServers: { exai: { env: Record<string, string> } } };
    expect(claude.mcpServers.exai.env.EXAI_WS_PORT).toBe(String(r.port));
    expect(existsSync(join(dir, '.vscode'))).toBe(false);

    const none = t.workspace('noconfig');
    const n = await spawnJson(none, '--no-config');
    expect(n.configFiles).toEqual([]);
    expect(existsSync(join(none, '.vscode'))).toBe(false);
  });

  it('refuses bad input with one line, the right exit code, and nothing written', async () => {
    const fresh = makeTestEnv();
    try {
      const missing = await runCli(['spawn', '--workspace', join(fresh.dir, 'nope')], fresh.env);
      expect(missing.code).toBe(1);
      expect(missing.stderr).toMatch(/WORKSPACE_NOT_FOUND/);
      expect(missing.stderr.trim().split('\n')).toHaveLength(1);
      expect(existsSync(join(fresh.home, 'registry.json'))).toBe(false);

      const file = join(fresh.dir, 'afile');
      writeFileSync(file, 'x');
      expect((await runCli(['spawn', '--workspace', file], fresh.env)).stderr).toMatch(/WORKSPACE_NOT_FOUND.*not a directory/);

      for (const port of ['0', '70000', 'abc', '-5']) {
        const res = await runCli(['spawn', '--workspace', fresh.workspace(), '--port', port], fresh.env);
        expect(res.code).toBe(2);
        expect(res.stderr).toMatch(/--port/);
      }
      expect((await runCli(['spawn'], fresh.env)).code).toBe(2);
      expect((await runCli(['spawn', '--workspace', '.', '--client', 'emacs'], fresh.env)).code).toBe(2);
      expect((await runCli(['spawn', '--bogus'], fresh.env)).code).toBe(2);
      expect(existsSync(join(fresh.home, 'registry.json'))).toBe(false);
    } finally {
      await fresh.cleanup();
    }
  });

  it('--port pins a port and refuses one held by a foreign process', async () => {
    const pinned = t.portBase + 7;
    const r = await spawnJson(t.workspace('pinned'), '--port', String(pinned));
    expect(r.port).toBe(pinned);
    const other = t.workspace('wants-same');
    const clash = await runCli(['spawn', '--workspace', other, '--port', String(pinned)], t.env);
    expect(clash.code).toBe(1);
    expect(clash.stderr).toMatch(/PORT_TAKEN/);
    const foreignPort = t.portBase + 8;
    const squatter = await listen(foreignPort);
    try {
      const res = await runCli(['spawn', '--workspace', other, '--port', String(foreignPort)], t.env);
      expect(res.code).toBe(1);
      expect(res.stderr).toMatch(/PORT_TAKEN/);
    } finally {
      squatter.close();
    }
    expect(existsSync(join(other, '.vscode'))).toBe(false);
  });
});

describe('the daemon environment', () => {
  // Reads the daemon's environment from /proc: Linux only (WINDOWS.md #31).
  it.runIf(LINUX)('holds only what exai passes, not the caller\'s whole environment; passed values reach upstreams, not pm2', async () => {
    const dir = t.workspace('envcheck');
    writeServers(dir, { ev: { ...everythingEntry(), env: { WANTED_HERE: '${env:EXAI_WANTED}' } } });
    const env = { ...t.env, EXAI_CANARY_SECRET: 'must-not-leak', EXAI_WANTED: 'passed-on', EXAI_PASS_ENV: 'EXAI_WANTED' };
    const res = await runCli(['spawn', '--workspace', dir, '--json'], env);
    expect(res.code).toBe(0);
    const { pid, port } = JSON.parse(res.stdout) as SpawnJson;
    const environ = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
    expect(environ).toContain(`EXAI_WS_PORT=${port}`);
    expect(environ).toContain(`EXAI_WORKSPACE=${dir}`);
    // Passed values are read from beside the token, never handed over in pm2's env.
    expect(environ.some((kv) => kv.includes('passed-on'))).toBe(false);
    expect(environ.some((kv) => kv.startsWith('EXAI_CANARY_SECRET='))).toBe(false);
    expect(environ.some((kv) => kv.startsWith('EXAI_PORT_BASE='))).toBe(false);
    const client = await connectClient(port, readToken(t.home, resolveWorkspace(dir).id)!);
    try {
      const upstream = await waitFor(() => upstreamEnv(client, 'ev').catch(() => undefined), { what: 'the ev upstream', timeoutMs: 30_000 });
      expect(upstream.WANTED_HERE, JSON.stringify(upstream)).toBe('passed-on');
      expect(upstream.EXAI_CANARY_SECRET).toBeUndefined();
      expect(upstream.PATH).toBe(process.env.PATH);
    } finally {
      await client.close();
    }
  });
});

// The CLI must exit when its work is done even when it started the pm2 daemon itself.
describe('exai spawn on a cold pm2', () => {
  it('exits on its own after starting the pm2 daemon', async () => {
    const cold = makeTestEnv();
    try {
      const child = spawnChild(process.execPath, [CLI, 'spawn', '--workspace', cold.workspace(), '--json'], { env: cold.env, stdio: 'ignore' });
      const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
      expect(code).toBe(0);
      expect(countPm2Daemons(cold.pm2Home)).toBe(1);
    } finally {
      await cold.cleanup();
    }
  });
});
