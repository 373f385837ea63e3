import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from '@decimalturn/toml-patch';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkClientConfig, clientConfigPath, readClientEntryPort, removeClientEntry, writeClientConfig } from '../src/supervisor/client-config.js';
import { CLI_ENTRY, configFile as writeConfig, DEFAULT_DIRS as DIRS } from './helpers/client-configs.js';
import { makeTestEnv, type TestEnv } from './helpers/env.js';

let t: TestEnv;
beforeAll(() => {
  t = makeTestEnv();
});
afterAll(async () => {
  await t.cleanup();
});

/** A user's Codex project config: comments, odd spacing, another server with its env, a profile, a date, a hex integer. */
const HAND_WRITTEN = [
  '# Codex settings for this repo — keep this comment',
  'model = "o3"   # inline comment',
  'approval_policy="on-request"',
  '',
  '[mcp_servers.fs]',
  'command = "npx"',
  "args = ['-y', '@modelcontextprotocol/server-filesystem', '.']  # fs",
  '[mcp_servers.fs.env]',
  "X = '1'",
  '',
  '# profiles',
  '[profiles.fast]',
  'model    =   "gpt-5"',
  'since = 1979-05-27T07:32:00Z',
  'mask = 0x1F',
  '',
].join('\n');

const configFile = (ws: string, text: string): string => writeConfig(ws, '.codex/config.toml', text);

interface CodexConfig {
  mcp_servers: Record<string, { command: string; args: string[]; env: Record<string, string> }>;
}

describe('Codex .codex/config.toml', () => {
  it('creates [mcp_servers.exai] and [mcp_servers.exai.env] with the absolute workspace', async () => {
    const ws = t.workspace();
    const { file, changed } = await writeClientConfig('codex', ws, 8079, DIRS);
    expect(file).toBe(clientConfigPath('codex', ws));
    expect(file).toBe(join(ws, '.codex', 'config.toml'));
    expect(changed).toBe(true);
    const text = readFileSync(file, 'utf8');
    expect(text).toBe(
      [
        '[mcp_servers.exai]',
        `command = ${JSON.stringify(process.execPath)}`,
        `args = [ ${JSON.stringify(CLI_ENTRY)}, "shim" ]`,
        '',
        '[mcp_servers.exai.env]',
        'EXAI_WS_PORT = "8079"',
        `EXAI_WORKSPACE = ${JSON.stringify(ws)}`,
        '',
      ].join('\n'),
    );
    // Codex's own schema has no "type" field.
    expect((parse(text) as CodexConfig).mcp_servers.exai).toEqual({ command: process.execPath, args: [CLI_ENTRY, 'shim'], env: { EXAI_WS_PORT: '8079', EXAI_WORKSPACE: ws } });
    expect(readClientEntryPort('codex', ws)).toBe(8079);
    expect(await writeClientConfig('codex', ws, 8079, DIRS)).toEqual({ file, changed: false });
  });

  it('keeps every byte of a hand-written config.toml outside exai’s table, and removing exai gives the original back', async () => {
    const ws = t.workspace();
    const file = configFile(ws, HAND_WRITTEN);
    await writeClientConfig('codex', ws, 8079, DIRS);
    const written = readFileSync(file, 'utf8');
    // exai's tables are appended after the user's text, which is intact, in the file's own
    // style (no spaces inside brackets).
    expect(written.startsWith(HAND_WRITTEN)).toBe(true);
    expect(written.slice(HAND_WRITTEN.length)).toBe(
      ['', '[mcp_servers.exai]', `command = ${JSON.stringify(process.execPath)}`, `args = [${JSON.stringify(CLI_ENTRY)}, "shim"]`, '', '[mcp_servers.exai.env]', 'EXAI_WS_PORT = "8079"', `EXAI_WORKSPACE = ${JSON.stringify(ws)}`, ''].join('\n'),
    );
    const value = parse(written) as CodexConfig & { profiles: unknown };
    expect(value.mcp_servers.fs).toEqual({ command: 'npx', args: ['-y', '@modelcontextprotocol/server-filesystem', '.'], env: { X: '1' } });
    expect(value.mcp_servers.exai?.env.EXAI_WORKSPACE).toBe(ws);

    // A port change and custom state dirs touch only exai's values.
    await writeClientConfig('codex', ws, 8179, { home: t.home, pm2Home: t.pm2Home });
    const moved = readFileSync(file, 'utf8');
    expect(moved.startsWith(HAND_WRITTEN)).toBe(true);
    expect((parse(moved) as CodexConfig).mcp_servers.exai?.env).toEqual({ EXAI_WS_PORT: '8179', EXAI_WORKSPACE: ws, EXAI_HOME: t.home, PM2_HOME: t.pm2Home });
    // Back at the defaults, EXAI_HOME and PM2_HOME leave the env table again.
    await writeClientConfig('codex', ws, 8079, DIRS);
    expect(readFileSync(file, 'utf8')).toBe(written);

    expect(await removeClientEntry('codex', ws)).toEqual({ file, changed: true });
    expect(readFileSync(file, 'utf8')).toBe(HAND_WRITTEN);
    expect(await removeClientEntry('codex', ws)).toEqual({ file, changed: false });
    expect(readClientEntryPort('codex', ws)).toBeUndefined();
  });

  it('keeps CRLF line ends and a byte-order mark', async () => {
    const ws = t.workspace();
    const text = '\uFEFFmodel = "o3"\r\n\r\n[mcp_servers.fs]\r\ncommand = "npx"\r\n';
    const file = configFile(ws, text);
    await writeClientConfig('codex', ws, 8079, DIRS);
    const written = readFileSync(file, 'utf8');
    expect(written.startsWith(text)).toBe(true);
    expect(written).not.toMatch(/[^\r]\n/);
    await removeClientEntry('codex', ws);
    expect(readFileSync(file, 'utf8')).toBe(text);
  });

  it('updates exai’s table where the user moved it, keeping the members the user added', async () => {
    const ws = t.workspace();
    const text = '# mine\n[mcp_servers.exai]\ncommand = "old"\nstartup_timeout_sec = 20 # slow machine\n\n[other]\nx = 1\n';
    const file = configFile(ws, text);
    await writeClientConfig('codex', ws, 8079, DIRS);
    const written = readFileSync(file, 'utf8');
    expect(written).toContain('startup_timeout_sec = 20 # slow machine');
    expect(written.endsWith('[other]\nx = 1\n')).toBe(true);
    expect(written.startsWith('# mine\n[mcp_servers.exai]\n')).toBe(true);
    const exai = (parse(written) as { mcp_servers: { exai: Record<string, unknown> } }).mcp_servers.exai;
    expect(exai).toMatchObject({ command: process.execPath, args: [CLI_ENTRY, 'shim'], startup_timeout_sec: 20, env: { EXAI_WS_PORT: '8079' } });
  });

  it('leaves an unparsable config.toml untouched and says where it fails', async () => {
    const ws = t.workspace();
    const broken = 'model = "o3"\n[mcp_servers.fs]\ncommand = = "npx"\n';
    const file = configFile(ws, broken);
    const mtime = statSync(file).mtimeMs;
    for (const attempt of [() => writeClientConfig('codex', ws, 8079, DIRS), () => removeClientEntry('codex', ws), async () => checkClientConfig('codex', ws)]) {
      const err = await attempt().catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'CONFIG_UNPARSABLE' });
      expect((err as Error).message).toContain(`${file}:3:11`);
      expect((err as Error).message).toMatch(/untouched/);
    }
    expect(readFileSync(file, 'utf8')).toBe(broken);
    expect(statSync(file).mtimeMs).toBe(mtime);
    expect(readClientEntryPort('codex', ws)).toBe('unparsable');
  });

  it('refuses a config whose exai member is not a table, and one that mixes line ends, leaving both untouched', async () => {
    const ws = t.workspace();
    const notTable = 'mcp_servers = { exai = "no" }\n';
    const file = configFile(ws, notTable);
    await expect(writeClientConfig('codex', ws, 8079, DIRS)).rejects.toMatchObject({ code: 'CONFIG_UNPARSABLE' });
    expect(readFileSync(file, 'utf8')).toBe(notTable);
    const mixed = 'a = 1\r\nb = 2\n';
    writeFileSync(file, mixed);
    await expect(writeClientConfig('codex', ws, 8079, DIRS)).rejects.toMatchObject({ code: 'CONFIG_UNPARSABLE', message: expect.stringMatching(/mixes CRLF and LF/) });
    expect(readFileSync(file, 'utf8')).toBe(mixed);
  });

  it('puts exai inside an inline mcp_servers table, where no section header may go', async () => {
    const ws = t.workspace();
    const text = 'mcp_servers = { fs = { command = "npx" } }\n';
    const file = configFile(ws, text);
    await writeClientConfig('codex', ws, 8079, DIRS);
    const value = parse(readFileSync(file, 'utf8')) as CodexConfig;
    expect(Object.keys(value.mcp_servers)).toEqual(['fs', 'exai']);
    expect(value.mcp_servers.exai?.env.EXAI_WS_PORT).toBe('8079');
    await removeClientEntry('codex', ws);
    expect(parse(readFileSync(file, 'utf8'))).toEqual(parse(text));
  });

  it('a config that only exai wrote is deleted with its folder after remove; a folder holding more stays', async () => {
    const ws = t.workspace();
    const { file } = await writeClientConfig('codex', ws, 8079, DIRS);
    await removeClientEntry('codex', ws);
    expect(existsSync(file)).toBe(false);
    expect(existsSync(join(ws, '.codex'))).toBe(false);
    const other = t.workspace();
    const again = await writeClientConfig('codex', other, 8079, DIRS);
    writeFileSync(join(other, '.codex', 'notes.md'), 'mine\n');
    await removeClientEntry('codex', other);
    expect(existsSync(again.file)).toBe(false);
    expect(readFileSync(join(other, '.codex', 'notes.md'), 'utf8')).toBe('mine\n');
  });
});
