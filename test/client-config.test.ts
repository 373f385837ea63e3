import { chmodSync, existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'jsonc-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  clientConfigPath,
  readClientEntryPort,
  removeClientEntry,
  writeClientConfig,
} from '../src/supervisor/client-config.js';
import { CLI_ENTRY, configFile, DEFAULT_DIRS as DIRS } from './helpers/client-configs.js';
import { makeTestEnv, type TestEnv } from './helpers/env.js';

let t: TestEnv;

beforeAll(() => {
  t = makeTestEnv();
});
afterAll(async () => {
  await t.cleanup();
});

/** A user's hand-written VS Code config: comments, trailing commas, tabs, another server, inputs. */
const HAND_WRITTEN = [
  '// Team MCP servers — keep this comment',
  '{',
  '\t/* block',
  '\t   comment */',
  '\t"servers": { // servers we share',
  '\t\t"fs": {',
  '\t\t\t"command": "npx", // inline note',
  '\t\t\t"args": ["-y", "@modelcontextprotocol/server-filesystem", "${workspaceFolder}"],',
  '\t\t},',
  '\t},',
  '\t"inputs": [',
  '\t\t{ "type": "promptString", "id": "api-key", "password": true },',
  '\t],',
  '}',
  '',
].join('\n');

/** `after` is `before` with exactly one contiguous chunk inserted: that chunk, or undefined. */
function insertedChunk(before: string, after: string): string | undefined {
  let p = 0;
  while (p < before.length && before[p] === after[p]) p++;
  let s = 0;
  while (s < before.length - p && before[before.length - 1 - s] === after[after.length - 1 - s]) s++;
  if (p + s !== before.length) return undefined;
  return after.slice(p, after.length - s);
}

describe('client configs', () => {
  it('creates .vscode/mcp.json with its folder, in the shape DESIGN.md gives', async () => {
    const ws = t.workspace();
    const result = await writeClientConfig('vscode', ws, 8079, DIRS);
    expect(result).toEqual({ file: join(ws, '.vscode', 'mcp.json'), changed: true });
    expect(JSON.parse(readFileSync(result.file, 'utf8'))).toEqual({
      servers: {
        exai: {
          type: 'stdio',
          command: process.execPath,
          args: [CLI_ENTRY, 'shim'],
          env: { EXAI_WS_PORT: '8079', EXAI_WORKSPACE: '${workspaceFolder}' },
        },
      },
    });
    expect(existsSync(CLI_ENTRY)).toBe(true);
    expect(readClientEntryPort('vscode', ws)).toBe(8079);
  });

  it('does not rewrite a file that already says the same', async () => {
    const ws = t.workspace();
    const { file } = await writeClientConfig('vscode', ws, 8079, DIRS);
    const mtime = statSync(file).mtimeMs;
    expect(await writeClientConfig('vscode', ws, 8079, DIRS)).toEqual({ file, changed: false });
    expect(statSync(file).mtimeMs).toBe(mtime);
  });

  it('keeps every byte of a hand-written mcp.json outside exai’s entry', async () => {
    const ws = t.workspace();
    const file = configFile(ws, '.vscode/mcp.json', HAND_WRITTEN);
    chmodSync(file, 0o640);
    expect((await writeClientConfig('vscode', ws, 8079, DIRS)).changed).toBe(true);
    const written = readFileSync(file, 'utf8');

    // The original is intact around one inserted chunk (the chunk is exai's entry alone: it is
    // as long as that entry, and taking the entry out restores the original below).
    const chunk = insertedChunk(HAND_WRITTEN, written);
    expect(chunk, written).toBeDefined();
    // Placed first in `servers`, in the file's own tab indentation.
    expect(written).toContain('\t"servers": { // servers we share\n\t\t"exai": {\n\t\t\t"type": "stdio",');
    // Taking the entry out again gives back the original, byte for byte.
    expect(await removeClientEntry('vscode', ws)).toEqual({ file, changed: true });
    expect(readFileSync(file, 'utf8')).toBe(HAND_WRITTEN);
    if (process.platform !== 'win32') expect(statSync(file).mode & 0o777).toBe(0o640);
  });

  it('keeps a Windows file’s CRLF line ends and byte-order mark', async () => {
    const ws = t.workspace();
    const text = '\uFEFF{\r\n  "servers": {\r\n    "a": { "command": "x" } // note\r\n  }\r\n}\r\n';
    const file = configFile(ws, '.vscode/mcp.json', text);
    await writeClientConfig('vscode', ws, 8079, DIRS);
    const written = readFileSync(file, 'utf8');
    expect(written.startsWith('\uFEFF{\r\n')).toBe(true);
    expect(written).not.toMatch(/[^\r]\n/);
    expect(readClientEntryPort('vscode', ws)).toBe(8079);
    await removeClientEntry('vscode', ws);
    expect(readFileSync(file, 'utf8')).toBe(text);
  });

  it('changes only the port value when the port changes', async () => {
    const ws = t.workspace();
    const file = configFile(ws, '.vscode/mcp.json', HAND_WRITTEN);
    await writeClientConfig('vscode', ws, 8079, DIRS);
    const before = readFileSync(file, 'utf8');
    expect((await writeClientConfig('vscode', ws, 8179, DIRS)).changed).toBe(true);
    const after = readFileSync(file, 'utf8');
    expect(after).toBe(before.replace('"EXAI_WS_PORT": "8079"', '"EXAI_WS_PORT": "8179"'));
    expect(readClientEntryPort('vscode', ws)).toBe(8179);
  });

  it('restores only what exai owns in an entry the user edited, keeping the user’s additions', async () => {
    const ws = t.workspace();
    const text = '{\n  "servers": {\n    "exai": {\n      "command": "node", // old\n      "env": { "EXTRA": "1" }\n    }\n  }\n}\n';
    const file = configFile(ws, '.vscode/mcp.json', text);
    await writeClientConfig('vscode', ws, 8079, DIRS);
    const value = JSON.parse(readFileSync(file, 'utf8').replace(' // old', '')) as { servers: { exai: Record<string, unknown> } };
    expect(value.servers.exai).toMatchObject({
      type: 'stdio',
      command: process.execPath,
      args: [CLI_ENTRY, 'shim'],
      env: { EXTRA: '1', EXAI_WS_PORT: '8079', EXAI_WORKSPACE: '${workspaceFolder}' },
    });
    expect(readFileSync(file, 'utf8')).toContain('// old');
  });

  it('leaves an unparsable file untouched and says where it fails (line:column)', async () => {
    const ws = t.workspace();
    const broken = '{\n  "servers": {\n    "fs": { "command": "npx" },,\n  }\n}\n';
    const file = configFile(ws, '.vscode/mcp.json', broken);
    const mtime = statSync(file).mtimeMs;
    const err = await writeClientConfig('vscode', ws, 8079, DIRS).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'CONFIG_UNPARSABLE' });
    expect((err as Error).message).toContain(`${file}:3:32`);
    expect((err as Error).message).toMatch(/fix it|delete/);
    expect(readFileSync(file, 'utf8')).toBe(broken);
    expect(statSync(file).mtimeMs).toBe(mtime);
    await expect(removeClientEntry('vscode', ws)).rejects.toMatchObject({ code: 'CONFIG_UNPARSABLE' });
    expect(readFileSync(file, 'utf8')).toBe(broken);
    expect(readClientEntryPort('vscode', ws)).toBe('unparsable');
  });

  it.skipIf(process.platform === 'win32')('writes through a symlinked config, and refuses a dangling one, keeping the link', async () => {
    // A link into dotfiles is updated where it lives, and stays a link.
    const ws = t.workspace();
    const dotfile = join(t.dir, 'dotfiles', 'mcp.json');
    mkdirSync(join(t.dir, 'dotfiles'), { recursive: true });
    writeFileSync(dotfile, '{ "servers": {} }\n');
    mkdirSync(join(ws, '.vscode'));
    const link = join(ws, '.vscode', 'mcp.json');
    symlinkSync(dotfile, link);
    await writeClientConfig('vscode', ws, 8079, DIRS);
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(readClientEntryPort('vscode', ws)).toBe(8079);

    // A link to nothing (dotfiles not checked out yet) is the user's: not replaced by a file
    // that a later remove would delete with the link.
    const other = t.workspace();
    const missing = join(t.dir, 'not-mounted', 'mcp.json');
    mkdirSync(join(other, '.vscode'));
    const dangling = join(other, '.vscode', 'mcp.json');
    symlinkSync(missing, dangling);
    const err = await writeClientConfig('vscode', other, 8079, DIRS).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'CONFIG_WRITE_FAILED' });
    expect((err as Error).message).toContain(`${dangling} is a symlink to ${missing}, which does not exist`);
    expect(lstatSync(dangling).isSymbolicLink()).toBe(true);
    expect(readlinkSync(dangling)).toBe(missing);
    expect(existsSync(missing)).toBe(false);
  });

  it('refuses a file whose servers member is not an object, leaving it untouched', async () => {
    const ws = t.workspace();
    const text = '{ "servers": [] }\n';
    const file = configFile(ws, '.vscode/mcp.json', text);
    await expect(writeClientConfig('vscode', ws, 8079, DIRS)).rejects.toMatchObject({ code: 'CONFIG_UNPARSABLE' });
    expect(readFileSync(file, 'utf8')).toBe(text);
  });

  it('removes only exai’s entry, and nothing when there is none', async () => {
    const ws = t.workspace();
    expect(await removeClientEntry('vscode', ws)).toEqual({ file: join(ws, '.vscode', 'mcp.json'), changed: false });
    const text = '{\n  "servers": {\n    "other": { "command": "x" },\n    "exai": { "command": "y" }\n  }\n}\n';
    const file = configFile(ws, '.vscode/mcp.json', text);
    expect((await removeClientEntry('vscode', ws)).changed).toBe(true);
    expect(readFileSync(file, 'utf8')).toBe('{\n  "servers": {\n    "other": { "command": "x" }\n  }\n}\n');
    expect(await removeClientEntry('vscode', ws)).toEqual({ file, changed: false });
    expect(readClientEntryPort('vscode', ws)).toBeUndefined();
  });

  it('adds a servers member to a config that has only inputs', async () => {
    const ws = t.workspace();
    const text = '{\n    "inputs": []\n}\n';
    const file = configFile(ws, '.vscode/mcp.json', text);
    await writeClientConfig('vscode', ws, 8079, DIRS);
    const written = readFileSync(file, 'utf8');
    expect(insertedChunk(text, written)).toBeDefined();
    expect(written).toMatch(/^\{\n {4}"servers": \{\n {8}"exai": \{\n {12}"type"/);
    expect(JSON.parse(written).inputs).toEqual([]);
  });

  it('writes Claude Code’s .mcp.json and Cursor’s .cursor/mcp.json under mcpServers with the absolute workspace', async () => {
    const ws = t.workspace('with space $(touch pwned) é');
    expect(clientConfigPath('claude', ws)).toBe(join(ws, '.mcp.json'));
    expect(clientConfigPath('cursor', ws)).toBe(join(ws, '.cursor', 'mcp.json'));
    const other = '{\n  "mcpServers": {\n    "github": { "command": "gh-mcp" }\n  }\n}\n';
    configFile(ws, '.mcp.json', other);
    for (const kind of ['claude', 'cursor'] as const) {
      const { file, changed } = await writeClientConfig(kind, ws, 8279, DIRS);
      expect(changed).toBe(true);
      const value = JSON.parse(readFileSync(file, 'utf8')) as { mcpServers: Record<string, unknown>; servers?: unknown };
      expect(value.servers).toBeUndefined();
      expect(value.mcpServers.exai).toEqual({
        type: 'stdio',
        command: process.execPath,
        args: [CLI_ENTRY, 'shim'],
        env: { EXAI_WS_PORT: '8279', EXAI_WORKSPACE: ws },
      });
      expect(readClientEntryPort(kind, ws)).toBe(8279);
    }
    expect(JSON.parse(readFileSync(join(ws, '.mcp.json'), 'utf8')).mcpServers.github).toEqual({ command: 'gh-mcp' });
    expect(existsSync(join(ws, 'pwned'))).toBe(false);
    await removeClientEntry('claude', ws);
    expect(readFileSync(join(ws, '.mcp.json'), 'utf8')).toBe(other);
  });

  it('carries EXAI_HOME and PM2_HOME when they are not the defaults, and takes them out again when they are', async () => {
    const ws = t.workspace();
    const file = configFile(ws, '.vscode/mcp.json', HAND_WRITTEN);
    await writeClientConfig('vscode', ws, 8079, DIRS);
    const plain = readFileSync(file, 'utf8');
    await writeClientConfig('vscode', ws, 8079, { home: t.home, pm2Home: t.pm2Home });
    const custom = JSON.parse(JSON.stringify(readConfig(file))) as { servers: { exai: { env: Record<string, string> } } };
    expect(custom.servers.exai.env).toEqual({ EXAI_WS_PORT: '8079', EXAI_WORKSPACE: '${workspaceFolder}', EXAI_HOME: t.home, PM2_HOME: t.pm2Home });
    // Only exai's entry changed: the hand-written rest is still there byte for byte.
    expect(readFileSync(file, 'utf8')).toContain('// Team MCP servers — keep this comment');
    await writeClientConfig('vscode', ws, 8079, DIRS);
    expect(readFileSync(file, 'utf8')).toBe(plain);
    await removeClientEntry('vscode', ws);
    expect(readFileSync(file, 'utf8')).toBe(HAND_WRITTEN);
  });
});

/** JSONC (comments, trailing commas) read as a value. */
function readConfig(file: string): unknown {
  return parse(readFileSync(file, 'utf8'), [], { allowTrailingComma: true });
}
