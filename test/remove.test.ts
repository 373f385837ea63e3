/**
 * `exai remove` leaves the workspace as exai found it, or changes nothing: found by trying exai
 * as a new user would (a broken config made remove drop the entry it then could not clean up,
 * files exai created were left behind as `{}`, and a shim start recorded no config to clean).
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SpawnResult } from '../src/start/spawn.js';
import { makeTestEnv, pm2Apps, runCli, spawnJson, type TestEnv } from './helpers/env.js';
import { connectStrict, exaiStatus, writtenEntry } from './helpers/strict-client.js';

let t: TestEnv;
beforeAll(() => {
  t = makeTestEnv();
});
afterAll(async () => {
  await t.cleanup();
});


describe('exai remove', () => {
  it('deletes the files and folders exai created for every client, and nothing else', async () => {
    const ws = t.workspace('all-clients');
    writeFileSync(join(ws, 'README.md'), 'mine\n');
    await spawnJson(t.env, ws, ...['vscode', 'claude', 'cursor', 'gemini', 'codex'].flatMap((c) => ['--client', c]));
    expect(readdirSync(ws).sort()).toEqual(['.claude', '.codex', '.cursor', '.gemini', '.mcp.json', '.vscode', 'README.md']);
    const res = await runCli(['remove', '--workspace', ws], t.env);
    expect(res.code, res.stderr).toBe(0);
    expect(readdirSync(ws)).toEqual(['README.md']);
  });

  it('with an unparsable client config: refuses, removes nothing, and works once the file is fixed', async () => {
    const ws = t.workspace('broken-config');
    const spawned = await spawnJson(t.env, ws);
    const file = join(ws, '.vscode', 'mcp.json');
    const good = readFileSync(file, 'utf8');
    writeFileSync(file, '{ broken');
    const refused = await runCli(['remove', '--workspace', ws], t.env);
    expect(refused.code).toBe(1);
    expect(refused.stderr.trim().split('\n')).toHaveLength(1);
    expect(refused.stderr).toMatch(/CONFIG_UNPARSABLE: .*mcp\.json.*nothing of .* was removed/);
    expect((await pm2Apps(t.env)).some((a) => a.name === spawned.name)).toBe(true);
    expect(readFileSync(join(t.home, 'registry.json'), 'utf8')).toContain(spawned.id);
    writeFileSync(file, good);
    const done = await runCli(['remove', '--workspace', ws], t.env);
    expect(done.code, done.stderr).toBe(0);
    expect(existsSync(file)).toBe(false);
  });

  it("takes exai's entry out of a config the shim started it from, though no spawn recorded it", async () => {
    const ws = t.workspace('shim-registered');
    const spawned = await spawnJson(t.env, ws);
    const entry = writtenEntry(ws);
    // Registered anew by a client (as after a remove whose config cleanup was lost).
    const registry = join(t.home, 'registry.json');
    const data = JSON.parse(readFileSync(registry, 'utf8')) as { workspaces: Record<string, { clients: string[] }> };
    data.workspaces[spawned.id]!.clients = [];
    writeFileSync(registry, JSON.stringify(data, null, 2));
    const session = await connectStrict(entry, join(t.dir, 'client-home'));
    expect((await exaiStatus(session.client)).port).toBe(spawned.port);
    await session.close();
    expect((await runCli(['remove', '--workspace', ws], t.env)).code).toBe(0);
    expect(existsSync(join(ws, '.vscode'))).toBe(false);
  });
});

describe('a shim for a workspace new to this machine', () => {
  it('starts it on the port its config names when that port is free', async () => {
    const ws = t.workspace('fresh-with-port');
    mkdirSync(join(ws, '.vscode'));
    const port = t.portBase + 777;
    const other = t.workspace('template');
    await spawnJson(t.env, other);
    const template = writtenEntry(other);
    const session = await connectStrict({ ...template, env: { ...template.env, EXAI_WORKSPACE: ws, EXAI_WS_PORT: String(port) } }, join(t.dir, 'client-home'));
    try {
      const status = await exaiStatus(session.client);
      expect(status.workspace).toBe(ws);
      expect(status.port).toBe(port);
    } finally {
      await session.close();
    }
  });
});
