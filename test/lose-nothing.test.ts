/**
 * Nothing a user owns is ever lost (issue 19 items 1, 3, 4), on real files and real pm2:
 * `remove` deletes only what the launch spec records exai created — never the workspace folder,
 * however empty exai leaves it — and, for an entry an older exai wrote without that record, only
 * a file holding exactly exai's entry; a renamed workspace folder gets its own config and port,
 * and doctor names both entries; a read-only client config is refused in one line, never
 * rewritten (these tests run as root too, who could write it).
 */
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getHealth } from './helpers/daemon.js';
import { makeTestEnv, runCli, spawnJson, type CliResult, type TestEnv } from './helpers/env.js';
import { resolveWorkspace } from '../src/workspace/identity.js';

let t: TestEnv;
beforeAll(() => {
  t = makeTestEnv();
});
afterAll(async () => {
  await t.cleanup();
});

type Entry = { port: number; clients: string[]; created?: string[]; movedFrom?: string };

function registry(): { workspaces: Record<string, Entry> } {
  return JSON.parse(readFileSync(join(t.home, 'registry.json'), 'utf8')) as { workspaces: Record<string, Entry> };
}

/** Rewrites the registry entry of `id` as `edit` leaves it (an older exai's entry, for one). */
function editEntry(id: string, edit: (e: Entry) => void): void {
  const data = registry();
  edit(data.workspaces[id]!);
  writeFileSync(join(t.home, 'registry.json'), JSON.stringify(data, null, 2));
}

function configPort(file: string): number {
  return Number(/"EXAI_WS_PORT"\s*:\s*"(\d+)"/.exec(readFileSync(file, 'utf8'))?.[1]);
}

function oneLine(res: CliResult): string {
  const lines = res.stderr.trim().split('\n');
  expect(lines, res.stderr).toHaveLength(1);
  return lines[0]!;
}

describe('exai remove deletes only what exai created (item 1)', () => {
  it('a new folder spawned for Claude Code: remove leaves the folder itself, empty', async () => {
    const ws = t.workspace('new-project');
    await spawnJson(t.env, ws, '--client', 'claude');
    expect(readdirSync(ws).sort()).toEqual(['.claude', '.mcp.json']);
    const res = await runCli(['remove', '--workspace', ws], t.env);
    expect(res.code, res.stderr).toBe(0);
    expect(existsSync(ws)).toBe(true);
    expect(statSync(ws).isDirectory()).toBe(true);
    expect(readdirSync(ws)).toEqual([]);
  });

  it("a config the user had before spawn stays, byte for byte, even when exai's entry was all it gained", async () => {
    const ws = t.workspace('users-empty-configs');
    mkdirSync(join(ws, '.vscode'));
    writeFileSync(join(ws, '.vscode', 'mcp.json'), '{}\n');
    writeFileSync(join(ws, '.mcp.json'), '{}\n');
    await spawnJson(t.env, ws, '--client', 'vscode', '--client', 'claude');
    // Byte for byte what exai writes into a new file: only the record tells these apart.
    expect(readFileSync(join(ws, '.mcp.json'), 'utf8')).toBe(JSON.stringify({ mcpServers: { exai: JSON.parse(readFileSync(join(ws, '.mcp.json'), 'utf8')).mcpServers.exai } }, null, 2) + '\n');
    expect((await runCli(['remove', '--workspace', ws], t.env)).code).toBe(0);
    expect(readFileSync(join(ws, '.vscode', 'mcp.json'), 'utf8')).toBe('{}\n');
    expect(readFileSync(join(ws, '.mcp.json'), 'utf8')).toBe('{}\n');
    expect(readdirSync(ws).sort()).toEqual(['.mcp.json', '.vscode']); // .claude was exai's
  });

  it("an entry an older exai wrote (no record): only a file holding exactly exai's entry goes, and never the workspace", async () => {
    const ws = t.workspace('legacy');
    writeFileSync(join(ws, '.mcp.json'), '{}'); // the user's: exai's entry in it is not byte for byte a new file of exai's
    const spawned = await spawnJson(t.env, ws, '--client', 'vscode', '--client', 'claude');
    editEntry(spawned.id, (e) => delete e.created);
    const res = await runCli(['remove', '--workspace', ws], t.env);
    expect(res.code, res.stderr).toBe(0);
    // .vscode/mcp.json and the approval held exactly what exai writes into a new file: gone with their folders.
    expect(readdirSync(ws)).toEqual(['.mcp.json']);
    expect(readFileSync(join(ws, '.mcp.json'), 'utf8')).toBe('{}');

    const bare = t.workspace('legacy-bare');
    const again = await spawnJson(t.env, bare, '--client', 'claude');
    editEntry(again.id, (e) => delete e.created);
    expect((await runCli(['remove', '--workspace', bare], t.env)).code).toBe(0);
    expect(readdirSync(bare)).toEqual([]); // the workspace itself stays
  });

  it('a folder exai created that now holds a file of the user stays, with that file', async () => {
    const ws = t.workspace('user-added');
    await spawnJson(t.env, ws);
    writeFileSync(join(ws, '.vscode', 'settings.json'), '{ "editor.tabSize": 2 }\n');
    expect((await runCli(['remove', '--workspace', ws], t.env)).code).toBe(0);
    expect(readdirSync(join(ws, '.vscode'))).toEqual(['settings.json']);
  });
});

describe('a renamed workspace folder (item 3)', () => {
  it("spawn NEW after mv OLD NEW writes NEW's configs with NEW's port; doctor names the old entry and the new one", async () => {
    const old = t.workspace('before-rename');
    const first = await spawnJson(t.env, old, '--client', 'claude');
    const moved = join(t.dir, 'workspaces', 'after-rename');
    renameSync(old, moved);
    const res = await runCli(['spawn', '--workspace', moved, '--json'], t.env);
    expect(res.code, res.stderr).toBe(0);
    const second = JSON.parse(res.stdout) as { id: string; port: number; configFiles: string[] };
    expect(second.port).not.toBe(first.port);
    // Claude's config came along with the folder: rewritten for NEW, with VS Code's for a new workspace.
    expect(second.configFiles.sort()).toEqual([join(moved, '.mcp.json'), join(moved, '.vscode', 'mcp.json')]);
    const claude = JSON.parse(readFileSync(join(moved, '.mcp.json'), 'utf8')) as { mcpServers: { exai: { env: Record<string, string> } } };
    expect(claude.mcpServers.exai.env.EXAI_WS_PORT).toBe(String(second.port));
    expect(claude.mcpServers.exai.env.EXAI_WORKSPACE).toBe(moved);
    expect(configPort(join(moved, '.vscode', 'mcp.json'))).toBe(second.port);
    expect(res.stderr).toContain(`exai: warning: ${moved} holds the client configs of ${old} (port ${first.port}), whose folder is gone`);
    expect(registry().workspaces[second.id]?.movedFrom).toBe(old);
    expect((await getHealth(second.port)).id).toBe(resolveWorkspace(moved).id);

    const doctor = await runCli(['doctor'], t.env);
    expect(doctor.code).toBe(1);
    expect(doctor.stdout).toContain(
      `PROBLEM  ${old}: workspace folder is gone (moved or renamed: ${moved} held its configs and is registered on port ${second.port}); its daemon still holds port ${first.port} — fix: exai remove --workspace`,
    );
    expect(doctor.stdout).toContain(`ok       ${moved}: ${join(moved, '.mcp.json')} points at port ${second.port}`);
    // With OLD's daemon gone (pm2 stopped it), doctor does not claim it still runs.
    expect((await runCli(['pm2', 'stop', first.name], t.env)).code).toBe(0);
    expect((await runCli(['doctor'], t.env)).stdout).toContain(`${old}: workspace folder is gone (moved or renamed: ${moved} held its configs and is registered on port ${second.port}); no daemon runs, but its registry entry still reserves port ${first.port}`);

    // Removing the old entry touches nothing in the new folder.
    const before = readFileSync(join(moved, '.mcp.json'), 'utf8');
    expect((await runCli(['remove', '--workspace', old], t.env)).code).toBe(0);
    expect(readFileSync(join(moved, '.mcp.json'), 'utf8')).toBe(before);

    // NEW took over OLD's record of what exai created: remove NEW deletes it all, not leaving `{}`s.
    expect(registry().workspaces[second.id]?.created).toEqual(expect.arrayContaining(['.mcp.json', '.claude', '.claude/settings.local.json', '.vscode', '.vscode/mcp.json']));
    const removed = await runCli(['remove', '--workspace', moved], t.env);
    expect(removed.code, removed.stderr).toBe(0);
    expect(readdirSync(moved)).toEqual([]);
  });
});

describe.skipIf(process.platform === 'win32')('a read-only client config (item 4)', () => {
  it('spawn refuses it in one line naming the file, before anything starts; the file keeps its bytes and mode', async () => {
    const ws = t.workspace('read-only-new');
    const file = join(ws, '.vscode', 'mcp.json');
    mkdirSync(join(ws, '.vscode'));
    const text = '{\n  "servers": { "mine": { "command": "x" } }\n}\n';
    writeFileSync(file, text);
    chmodSync(file, 0o444);
    const res = await runCli(['spawn', '--workspace', ws], t.env);
    expect(res.code).toBe(1);
    expect(oneLine(res)).toBe(
      `exai: CONFIG_READ_ONLY: ${file} is read-only (mode 0444); exai left it untouched — make it writable and run the command again, or spawn with --no-config`,
    );
    expect(readFileSync(file, 'utf8')).toBe(text);
    expect(statSync(file).mode & 0o777).toBe(0o444);
    expect(registry().workspaces[resolveWorkspace(ws).id]).toBeUndefined();
  });

  it("Claude Code's read-only approval file is refused the same way, before anything starts", async () => {
    const ws = t.workspace('read-only-approval');
    const file = join(ws, '.claude', 'settings.local.json');
    mkdirSync(join(ws, '.claude'));
    writeFileSync(file, '{ "permissions": {} }\n');
    chmodSync(file, 0o444);
    const res = await runCli(['spawn', '--workspace', ws, '--client', 'claude'], t.env);
    expect(res.code).toBe(1);
    expect(oneLine(res)).toBe(`exai: CONFIG_READ_ONLY: ${file} is read-only (mode 0444); exai left it untouched — make it writable and run the command again, or spawn with --no-config`);
    expect(readFileSync(file, 'utf8')).toBe('{ "permissions": {} }\n');
    expect(existsSync(join(ws, '.mcp.json'))).toBe(false);
  });

  it('a read-only config already right is left as it is; a move that would rewrite it, remove and doctor --fix all refuse it', async () => {
    const ws = t.workspace('read-only-later');
    const spawned = await spawnJson(t.env, ws);
    const file = join(ws, '.vscode', 'mcp.json');
    chmodSync(file, 0o444);
    const text = readFileSync(file, 'utf8');

    expect((await spawnJson(t.env, ws)).reused).toBe(true); // nothing to write: no refusal

    const repin = await runCli(['spawn', '--workspace', ws, '--port', String(t.portBase + 444)], t.env);
    expect(repin.code).toBe(1);
    expect(oneLine(repin)).toMatch(/^exai: CONFIG_READ_ONLY: .*mcp\.json is read-only \(mode 0444\)/);
    expect(registry().workspaces[spawned.id]?.port).toBe(spawned.port);
    expect((await getHealth(spawned.port)).pid).toBe(spawned.pid);

    const removed = await runCli(['remove', '--workspace', ws], t.env);
    expect(removed.code).toBe(1);
    expect(oneLine(removed)).toMatch(/^exai: CONFIG_READ_ONLY: .*mcp\.json is read-only .*; nothing of .* was removed$/);
    expect(registry().workspaces[spawned.id]).toBeDefined();

    editEntry(spawned.id, (e) => (e.port = spawned.port + 1)); // the registry moved on, the file could not
    const fix = await runCli(['doctor', '--fix'], t.env);
    expect(fix.stdout).toMatch(/PROBLEM  .*read-only-later: .*mcp\.json points at port \d+, the registry says \d+; fixing failed: .*is read-only/);
    expect(readFileSync(file, 'utf8')).toBe(text);
    expect(statSync(file).mode & 0o777).toBe(0o444);
    editEntry(spawned.id, (e) => (e.port = spawned.port));
  });
});

describe('doctor --fix when a client config cannot be parsed', () => {
  it('brings the daemon back without it and points at the config, not at the daemon logs', async () => {
    const ws = t.workspace('blocked-by-config');
    const spawned = await spawnJson(t.env, ws, '--client', 'claude');
    expect((await runCli(['pm2', 'delete', spawned.name], t.env)).code).toBe(0);
    writeFileSync(join(ws, '.mcp.json'), 'garbage{\n');
    const fixed = await runCli(['doctor', '--fix', '--json'], t.env);
    const findings = (JSON.parse(fixed.stdout) as { findings: { scope: string; check: string; status: string; message: string; fix?: string }[] }).findings;
    const daemon = findings.find((f) => f.scope === ws && f.check === 'daemon')!;
    expect(daemon.status).toBe('fixed');
    expect((await getHealth(spawned.port)).id).toBe(spawned.id);
    const config = findings.find((f) => f.scope === ws && f.check === 'config claude')!;
    expect(config.status).toBe('problem');
    expect(config.fix).toBe(`fix ${join(ws, '.mcp.json')}, then exai doctor --fix`);
    expect(readFileSync(join(ws, '.mcp.json'), 'utf8')).toBe('garbage{\n');
  });
});
