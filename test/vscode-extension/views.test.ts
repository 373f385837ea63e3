import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type * as vscode from 'vscode';
import { activateExai, type ExaiExtension } from '../../vscode/src/activate.js';
import type { FleetNode } from '../../vscode/src/tree.js';
import { statusView } from '../../vscode/src/status.js';
import { CLI, ROOT, makeTestEnv, runCli, spawnJson, waitFor, type TestEnv } from '../helpers/env.js';
import { fakeVscode, type Folder, type TreeItem, type ThemeIcon } from './fake-vscode.js';

/**
 * The fleet in the window, with `vscode` faked and the fleet real: the status bar item, the
 * tree, the commands (each runs the real exai CLI against this file's pm2), and the removal of
 * an exai entry from `.vscode/mcp.json` that `exai spawn` wrote.
 */

const SCRIPTED = join(ROOT, 'test', 'fixtures', 'scripted-server.mjs');
let t: TestEnv;
const active: ExaiExtension[] = [];

beforeAll(() => {
  t = makeTestEnv();
});
afterAll(async () => {
  await Promise.all(active.map((a) => a.dispose()));
  await t.cleanup();
});

async function activate(folders: Folder[], answer?: string) {
  const fake = fakeVscode({ folders, settings: { path: '', home: t.home } });
  fake.state.warningAnswer = answer;
  const ext = await activateExai(fake.vscode, fake.context, { bundledCli: CLI, env: { ...t.env, EXAI_HOME: undefined }, pollMs: 3_600_000 });
  active.push(ext);
  return { fake, ext };
}

function servers(ws: string, entries: Record<string, { command: string; args?: string[]; env?: Record<string, string> }>): void {
  mkdirSync(join(ws, '.exai'), { recursive: true });
  writeFileSync(join(ws, '.exai', 'servers.json'), JSON.stringify({ servers: entries }));
}

async function start(ext: ExaiExtension): Promise<void> {
  for (const def of (await ext.provider.provideMcpServerDefinitions()) ?? []) await ext.provider.resolveMcpServerDefinition(def as vscode.McpServerDefinition);
}

describe('the status bar item and the fleet tree', () => {
  it('show the current folder port, state, sessions and upstreams up/total, and a warning with the reason when an upstream failed', async () => {
    const good = t.workspace('good');
    const bad = t.workspace('bad');
    servers(good, { scripted: { command: process.execPath, args: [SCRIPTED], env: { SCRIPTED_TOOL_NAMES: 'hello' } } });
    servers(bad, { broken: { command: join(t.dir, 'no-such-program') } });
    const { fake, ext } = await activate([
      { name: 'good', path: good },
      { name: 'bad', path: bad },
    ]);
    const item = fake.statusItems[0]!;
    await waitFor(async () => ((await ext.refresh()).rows.length === 0 ? true : undefined), { what: 'the first fleet read' });
    expect(item.text).toBe('$(server) exai: not started');

    await start(ext);
    const snapshot = await waitFor(
      async () => {
        const s = await ext.refresh();
        const ready = s.rows.length === 2 && s.rows.every((r) => r.upstreams?.every((u) => u.state === 'up' || u.state === 'failed' || u.lastError));
        return ready ? s : undefined;
      },
      { what: 'both daemons with settled upstreams', timeoutMs: 60_000 },
    );
    const goodRow = snapshot.rows.find((r) => r.workspace === good)!;
    // The first folder is the current one (no editor open).
    // Sessions as /health counts them (exai list's own probe may still be one of them).
    expect(item.text).toMatch(new RegExp(`^\\$\\(server\\) exai :${goodRow.port} · online · \\d+ sessions? · 1/1 up$`));
    expect(item.backgroundColor).toBeUndefined();
    expect(item.visible).toBe(true);

    // The folder of the active editor is the current one.
    (fake.vscode.window as { activeTextEditor: unknown }).activeTextEditor = { document: { uri: fake.vscode.Uri.file(join(bad, 'x.ts')) } };
    await ext.refresh();
    const badRow = (await ext.refresh()).rows.find((r) => r.workspace === bad)!;
    expect(item.text).toMatch(new RegExp(`^\\$\\(warning\\) exai :${badRow.port} · online · \\d+ sessions? · 0/1 up$`));
    expect((item.backgroundColor as { id: string } | undefined)?.id).toBe('statusBarItem.warningBackground');
    expect(item.tooltip).toMatch(/upstream broken (failed|did not start)/);

    const roots = ext.tree.getChildren() as FleetNode[];
    expect(roots.map((n) => (n.kind === 'workspace' ? n.row.workspace : n.kind)).sort()).toEqual([bad, good].sort());
    const badNode = roots.find((n) => n.kind === 'workspace' && n.row.workspace === bad)!;
    const badItem = ext.tree.getTreeItem(badNode) as unknown as TreeItem;
    expect(badItem.label).toBe('bad');
    expect(badItem.description).toBe(`:${badRow.port} online · 0/1 up`);
    expect((badItem.iconPath as ThemeIcon).id).toBe('warning');
    const [upstream] = ext.tree.getChildren(badNode) as FleetNode[];
    const upItem = ext.tree.getTreeItem(upstream!) as unknown as TreeItem;
    expect(upItem.label).toBe('broken');
    expect((upItem.iconPath as ThemeIcon).id).toBe('error');
    expect(upItem.tooltip).toMatch(/no-such-program|ENOENT|not found/);
    const goodNode = roots.find((n) => n.kind === 'workspace' && n.row.workspace === good)!;
    const goodUp = ext.tree.getTreeItem((ext.tree.getChildren(goodNode) as FleetNode[])[0]!) as unknown as TreeItem;
    expect([goodUp.label, goodUp.description]).toEqual(['scripted', 'up']);

    // restart and stop from the tree, on the real fleet.
    await fake.commands.get('exai.stop')!(goodNode);
    expect((await ext.refresh()).rows.find((r) => r.workspace === good)?.status).toBe('stopped');
    (fake.vscode.window as { activeTextEditor: unknown }).activeTextEditor = undefined;
    await ext.refresh();
    expect(item.text).toBe(`$(server) exai :${goodRow.port} · stopped`);
    await fake.commands.get('exai.restart')!(goodNode);
    expect((await ext.refresh()).rows.find((r) => r.workspace === good)?.status).toBe('online');
    expect(fake.state.errors).toEqual([]);

    // show logs follows the daemon's log through `exai logs --follow --json`.
    await fake.commands.get('exai.showLogs')!(goodNode);
    const logs = fake.channels.get('exai logs')!;
    await waitFor(() => (logs.lines.some((l) => / (out|err) \| /.test(l)) ? true : undefined), { what: 'a log line in the output channel' });

    await fake.commands.get('exai.doctor')!();
    expect(fake.channels.get('exai')!.lines.join('\n')).toMatch(/exai doctor[\s\S]*\n.+/);

    await fake.commands.get('exai.openServersJson')!(goodNode);
    expect(fake.state.opened.at(-1)?.fsPath).toBe(join(good, '.exai', 'servers.json'));
    expect(fake.state.opened.at(-1)?.scheme).toBe('file');
    await ext.dispose();
  });

  it('statusView says why nothing runs in an untrusted folder and when exai list failed', () => {
    expect(statusView({ rows: [], health: new Map() }, '/w/a', false)).toMatchObject({ text: '$(shield) exai', warning: false });
    expect(statusView({ rows: [], health: new Map(), error: 'exai list: pm2 is not installed' }, '/w/a', true)).toMatchObject({ warning: true, tooltip: 'exai list: pm2 is not installed' });
    expect(statusView({ rows: [], health: new Map() }, undefined, true)).toBeUndefined();
  });
});

describe('an exai entry in .vscode/mcp.json', () => {
  /** A folder `exai spawn` set up the old way (the entry in .vscode/mcp.json), beside a server of the user's. */
  async function spawnedTheOldWay(name: string, ignored: boolean): Promise<string> {
    const ws = t.workspace(name);
    execFileSync('git', ['init', '-q'], { cwd: ws });
    if (ignored) writeFileSync(join(ws, '.gitignore'), '.vscode/\n');
    await spawnJson(t.env, ws);
    const file = join(ws, '.vscode', 'mcp.json');
    const config = JSON.parse(readFileSync(file, 'utf8')) as { servers: Record<string, unknown> };
    config.servers.mine = { type: 'stdio', command: 'my-server' };
    writeFileSync(file, JSON.stringify(config, null, 2));
    await runCli(['stop', '--workspace', ws], t.env);
    return ws;
  }
  const serversOf = (ws: string) => Object.keys((JSON.parse(readFileSync(join(ws, '.vscode', 'mcp.json'), 'utf8')) as { servers: object }).servers);

  it('is removed silently when the file is git-ignored, after asking when not, and kept (not asked again) when the user keeps it', async () => {
    const ignored = await spawnedTheOldWay('ignored', true);
    const asked = await spawnedTheOldWay('asked', false);
    const kept = await spawnedTheOldWay('kept', false);

    const first = await activate([{ name: 'ignored', path: ignored }, { name: 'asked', path: asked }], 'Remove');
    await waitFor(() => (first.fake.state.warnings.length === 1 && serversOf(asked).length === 1 ? true : undefined), { what: 'the asked entry removed' });
    expect(serversOf(ignored)).toEqual(['mine']);
    expect(serversOf(asked)).toEqual(['mine']);
    expect(first.fake.state.warnings[0]).toContain('asked: .vscode/mcp.json lists exai');
    // The extension's restart does not write the entry back (exai restart would: vscode is in the launch spec).
    await first.fake.commands.get('exai.restart')!({ kind: 'workspace', row: { workspace: asked } } as FleetNode);
    expect(first.fake.state.errors).toEqual([]);
    expect((await first.ext.refresh()).rows.find((r) => r.workspace === asked)?.status).toBe('online');
    expect(serversOf(asked)).toEqual(['mine']);
    await first.ext.dispose();

    const second = await activate([{ name: 'kept', path: kept }], 'Keep');
    await waitFor(() => (second.fake.state.warnings.length === 1 ? true : undefined), { what: 'the question' });
    await second.ext.checkMcpJson();
    expect(second.fake.state.warnings.length).toBe(1);
    expect(serversOf(kept)).toEqual(['exai', 'mine']);
    expect(existsSync(join(kept, '.vscode', 'mcp.json'))).toBe(true);
    await second.ext.dispose();
  });
});
