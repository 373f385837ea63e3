import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseToml } from '@decimalturn/toml-patch';
import { parse } from 'jsonc-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkClientConfig, clientConfigPath, clientHints, readClientEntryPort, removeClientEntry, writeClientConfig } from '../src/supervisor/client-config.js';
import { CLI_ENTRY, configFile as write, DEFAULT_DIRS as DIRS } from './helpers/client-configs.js';
import { makeTestEnv, type TestEnv } from './helpers/env.js';

let t: TestEnv;
beforeAll(() => {
  t = makeTestEnv();
});
afterAll(async () => {
  await t.cleanup();
});

/** Claude Code's local settings as a user has them: comments, permissions, another approved server. */
const LOCAL_SETTINGS = [
  '{',
  '  // my own settings',
  '  "permissions": { "allow": ["Bash(npm test)"] },',
  '  "enabledMcpjsonServers": [',
  '    "github" // the team one',
  '  ],',
  '}',
  '',
].join('\n');

describe('Claude Code approval (.claude/settings.local.json)', () => {
  it('--client claude approves exai, and remove takes only that approval back', async () => {
    const ws = t.workspace();
    const local = join(ws, '.claude', 'settings.local.json');
    await writeClientConfig('claude', ws, 8079, DIRS);
    expect(JSON.parse(readFileSync(local, 'utf8'))).toEqual({ enabledMcpjsonServers: ['exai'] });
    // Approving twice changes nothing.
    const once = readFileSync(local, 'utf8');
    await writeClientConfig('claude', ws, 8179, DIRS);
    expect(readFileSync(local, 'utf8')).toBe(once);
    await removeClientEntry('claude', ws);
    // exai created the file (and its folder): remove leaves the workspace as it found it.
    expect(existsSync(local)).toBe(false);
    expect(existsSync(join(ws, '.claude'))).toBe(false);
    expect(readClientEntryPort('claude', ws)).toBeUndefined();
  });

  it('adds exai to a hand-written approval list without disturbing it, and removing gives the bytes back', async () => {
    const ws = t.workspace();
    const local = write(ws, '.claude/settings.local.json', LOCAL_SETTINGS);
    await writeClientConfig('claude', ws, 8079, DIRS);
    const written = readFileSync(local, 'utf8');
    expect(written).toBe(LOCAL_SETTINGS.replace('  "enabledMcpjsonServers": [\n', '  "enabledMcpjsonServers": [\n    "exai",\n'));
    expect((parse(written) as { enabledMcpjsonServers: string[] }).enabledMcpjsonServers).toEqual(['exai', 'github']);
    await removeClientEntry('claude', ws);
    expect(readFileSync(local, 'utf8')).toBe(LOCAL_SETTINGS);
  });

  it('leaves settings that already approve every project server alone', async () => {
    const ws = t.workspace();
    const text = '{ "enableAllProjectMcpServers": true }\n';
    const local = write(ws, '.claude/settings.local.json', text);
    await writeClientConfig('claude', ws, 8079, DIRS);
    expect(readFileSync(local, 'utf8')).toBe(text);
  });

  it('an unparsable settings.local.json stops spawn before it writes anything', async () => {
    const ws = t.workspace();
    const broken = '{ "enabledMcpjsonServers": [ "a" ,, ] }\n';
    const local = write(ws, '.claude/settings.local.json', broken);
    expect(() => checkClientConfig('claude', ws)).toThrow(expect.objectContaining({ code: 'CONFIG_UNPARSABLE', message: expect.stringContaining(`${local}:1:`) }));
    expect(existsSync(clientConfigPath('claude', ws))).toBe(false);
    // A list that is not a list is refused too, with the file untouched.
    writeFileSync(local, '{ "enabledMcpjsonServers": "github" }\n');
    await expect(writeClientConfig('claude', ws, 8079, DIRS)).rejects.toMatchObject({ code: 'CONFIG_UNPARSABLE' });
    expect(readFileSync(local, 'utf8')).toBe('{ "enabledMcpjsonServers": "github" }\n');
  });
});

describe('Gemini CLI (.gemini/settings.json)', () => {
  it('writes mcpServers.exai with the absolute workspace into the user’s settings, JSONC-safe', async () => {
    const ws = t.workspace();
    const text = '{\n  // theme and such\n  "ui": { "theme": "GitHub" },\n}\n';
    const file = write(ws, '.gemini/settings.json', text);
    expect(clientConfigPath('gemini', ws)).toBe(file);
    await writeClientConfig('gemini', ws, 8279, { home: t.home, pm2Home: t.pm2Home });
    const value = parse(readFileSync(file, 'utf8')) as { ui: unknown; mcpServers: Record<string, unknown> };
    expect(value.ui).toEqual({ theme: 'GitHub' });
    expect(value.mcpServers.exai).toEqual({
      type: 'stdio',
      command: process.execPath,
      args: [CLI_ENTRY, 'shim'],
      env: { EXAI_WS_PORT: '8279', EXAI_WORKSPACE: ws, EXAI_HOME: t.home, PM2_HOME: t.pm2Home },
    });
    expect(readClientEntryPort('gemini', ws)).toBe(8279);
    await removeClientEntry('gemini', ws);
    expect(readFileSync(file, 'utf8')).toBe(text);
  });
});

describe('what is left to do in the client', () => {
  it('names the trust step for Gemini CLI, Codex and Claude Code, nothing for VS Code', () => {
    const ws = '/work/my project';
    const files = (['vscode', 'claude', 'gemini', 'codex'] as const).map((k) => clientConfigPath(k, ws));
    const hints = clientHints(ws, files);
    expect(hints).toHaveLength(3);
    expect(hints[0]).toMatch(/^Claude Code: .*settings\.local\.json.*trust this folder/);
    expect(hints[1]).toMatch(/^Gemini CLI: .*trusted folder.*trustedFolders\.json/);
    const [codexLine, ...snippet] = hints[2]!.split('\n');
    expect(codexLine).toMatch(/^Codex: .*trusted project.*add these two lines to ~\/\.codex\/config\.toml:$/);
    expect(snippet).toEqual(['[projects."/work/my project"]', 'trust_level = "trusted"']);
    expect(clientHints(ws, [clientConfigPath('vscode', ws)])).toEqual([]);
  });

  it('prints Codex\'s trust snippet as TOML that parses back to the workspace path, whatever characters the path holds', () => {
    for (const ws of ['/work/my project', '/work/say "hi" \\ back', '/work/tab\there\u007f', 'C:\\Users\\me\\proj', '/work/é 日本 🚀']) {
      const snippet = clientHints(ws, [clientConfigPath('codex', ws)])[0]!.split('\n').slice(1).join('\n');
      expect(parseToml(snippet), snippet).toEqual({ projects: { [ws]: { trust_level: 'trusted' } } });
    }
  });
});
