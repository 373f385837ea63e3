/**
 * One broken client config does not cut off a workspace's other clients (fresh-user trial,
 * item 1), on real files and real pm2: after `pm2 kill` the fleet comes back, a shim launched
 * from VS Code's entry wakes its daemon, `exai spawn` and `exai restart` of a registered
 * workspace start it — each skipping the unparsable `.mcp.json` with a one-line warning that
 * names it, and never rewriting it. A first spawn of a new workspace still changes nothing.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getHealth } from './helpers/daemon.js';
import { makeTestEnv, pm2Apps, runCli, spawnJson, type TestEnv } from './helpers/env.js';
import { connectStrict, exaiStatus, writtenEntry } from './helpers/strict-client.js';

let t: TestEnv;
beforeAll(() => {
  t = makeTestEnv();
});
afterAll(async () => {
  await t.cleanup();
});

const GARBAGE = 'garbage{\n';

describe('an unparsable .mcp.json in a registered workspace', () => {
  it('the fleet, the shim, spawn and restart still start the daemon; the file keeps its bytes', async () => {
    const ws = t.workspace('broken-claude');
    const first = await spawnJson(t.env, ws, '--client', 'claude', '--client', 'vscode');
    const mcp = join(ws, '.mcp.json');
    writeFileSync(mcp, GARBAGE);

    // pm2 died: the next command brings the workspace back, warning about the file.
    expect((await runCli(['pm2', 'kill'], t.env)).code).toBe(0);
    const list = await runCli(['list'], t.env);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stderr).not.toContain('could not bring back');
    expect(list.stderr).toMatch(new RegExp(`client config skipped, the daemon runs without it: ${mcp.replaceAll('.', '\\.')}:1:1: cannot parse .*fix it there or delete the file`));
    expect((await getHealth(first.port)).id).toBe(first.id);
    expect(readFileSync(mcp, 'utf8')).toBe(GARBAGE);

    // The daemon is gone from pm2: VS Code's shim, in a strict environment, wakes it.
    expect((await runCli(['pm2', 'delete', first.name], t.env)).code).toBe(0);
    const session = await connectStrict(writtenEntry(ws), join(t.dir, 'client-home'));
    try {
      expect((await exaiStatus(session.client)).port).toBe(first.port);
      expect(session.stderr()).toContain(`client config skipped, the daemon runs without it: ${mcp}:1:1: cannot parse`);
    } finally {
      await session.close();
    }
    expect(readFileSync(mcp, 'utf8')).toBe(GARBAGE);

    // An explicit spawn of the registered workspace: up, VS Code's config written, a warning, exit 0.
    const spawn = await runCli(['spawn', '--workspace', ws, '--restart', '--json'], t.env);
    expect(spawn.code, spawn.stderr).toBe(0);
    const res = JSON.parse(spawn.stdout) as { port: number; configFiles: string[]; skippedConfigs: string[] };
    expect(res.configFiles).toEqual([join(ws, '.vscode', 'mcp.json')]);
    expect(res.skippedConfigs).toHaveLength(1);
    expect(res.skippedConfigs[0]).toContain(`${mcp}:1:1: cannot parse`);
    expect(spawn.stderr.trim().split('\n').filter((l) => l.includes('client config skipped'))).toHaveLength(1);

    const restart = await runCli(['restart', '--workspace', ws], t.env);
    expect(restart.code, restart.stderr).toBe(0);
    expect(restart.stderr).toContain(`exai: warning: client config skipped, the daemon runs without it: ${mcp}:1:1`);
    expect((await getHealth(first.port)).id).toBe(first.id);
    expect(readFileSync(mcp, 'utf8')).toBe(GARBAGE);
  });

  it('a first spawn of a new workspace still changes nothing and fails in one line', async () => {
    const ws = t.workspace('broken-first');
    writeFileSync(join(ws, '.mcp.json'), GARBAGE);
    const res = await runCli(['spawn', '--workspace', ws, '--client', 'claude'], t.env);
    expect(res.code).toBe(1);
    expect(res.stderr.trim().split('\n')).toHaveLength(1);
    expect(res.stderr).toContain('CONFIG_UNPARSABLE');
    expect(readFileSync(join(ws, '.mcp.json'), 'utf8')).toBe(GARBAGE);
    expect(existsSync(join(ws, '.vscode'))).toBe(false);
    expect(readFileSync(join(t.home, 'registry.json'), 'utf8')).not.toContain(ws);
    expect((await pm2Apps(t.env)).some((a) => a.name.includes('broken-first'))).toBe(false);
  });
});
