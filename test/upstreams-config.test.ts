/** servers.json: what a user writes, what the daemon makes of it, and how edits are noticed. */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTestEnv, waitFor, type TestEnv } from './helpers/env.js';
import { ServersConfigWatcher } from '../src/daemon/upstreams/config-watcher.js';
import {
  loadServersConfig,
  parseServersConfig,
  serversFile,
  type ServersConfig,
} from '../src/daemon/upstreams/config.js';

let t: TestEnv;
beforeAll(() => {
  t = makeTestEnv();
});
afterAll(async () => {
  await t?.cleanup();
});

const WS = '/work/space';
const parse = (text: string) => parseServersConfig(text, WS);
const errorOf = (config: ServersConfig) => (config.ok ? undefined : config.error);

describe('parsing servers.json', () => {
  it('reads mcp.json-style stdio entries, with the workspace as default cwd', () => {
    const config = parse(`{
      // JSONC, like .vscode/mcp.json
      "servers": {
        "fs": { "type": "stdio", "command": "npx", "args": ["-y", "server-filesystem", "\${workspaceFolder}"], },
        "py": { "command": "python", "args": ["-m", "srv"], "env": { "A": "1" }, "cwd": "tools/py" },
        "abs": { "command": "srv", "cwd": "/opt/srv" },
      },
    }`);
    expect(config.ok).toBe(true);
    if (!config.ok) return;
    expect(config.specs).toEqual([
      { name: 'fs', command: 'npx', args: ['-y', 'server-filesystem', WS], env: {}, cwd: WS, lifecycle: 'eager', idleTimeoutMs: 0, protocol: 'auto' },
      { name: 'py', command: 'python', args: ['-m', 'srv'], env: { A: '1' }, cwd: join(WS, 'tools/py'), lifecycle: 'eager', idleTimeoutMs: 0, protocol: 'auto' },
      { name: 'abs', command: 'srv', args: [], env: {}, cwd: '/opt/srv', lifecycle: 'eager', idleTimeoutMs: 0, protocol: 'auto' },
    ]);
  });

  it('reads lifecycle and idleTimeout: lazy idles after 10 min unless told, eager never; durations as the CLI writes them, numbers in ms', () => {
    const config = parse(`{ "servers": {
      "a": { "command": "x", "lifecycle": "lazy" },
      "b": { "command": "x", "lifecycle": "lazy", "idleTimeout": "90s" },
      "c": { "command": "x", "lifecycle": "lazy", "idleTimeout": "0" },
      "d": { "command": "x", "idleTimeout": "2h" },
      "e": { "command": "x", "lifecycle": "eager", "idleTimeout": 1500 },
      "f": { "command": "x", "lifecycle": "lazy", "idleTimeout": 0 },
    } }`);
    expect(config.ok, errorOf(config)).toBe(true);
    if (!config.ok) return;
    expect(config.specs.map((s) => [s.name, s.lifecycle, s.idleTimeoutMs])).toEqual([
      ['a', 'lazy', 600_000],
      ['b', 'lazy', 90_000],
      ['c', 'lazy', 0],
      ['d', 'eager', 7_200_000],
      ['e', 'eager', 1_500],
      ['f', 'lazy', 0],
    ]);
  });

  it('reads "protocol": auto unless pinned to an era', () => {
    const config = parse('{"servers": {"a": {"command": "x"}, "b": {"command": "x", "protocol": "2025-11-25"}, "c": {"command": "x", "protocol": "2026-07-28"}}}');
    expect(config.ok && config.specs.map((s) => s.protocol)).toEqual(['auto', '2025-11-25', '2026-07-28']);
  });

  it('substitutes ${env:NAME} so secrets can stay out of the file', () => {
    process.env.EXAI_TEST_SECRET = 's3cret';
    const config = parse('{"servers": {"a": {"command": "x", "env": {"KEY": "${env:EXAI_TEST_SECRET}", "NONE": "${env:EXAI_TEST_UNSET_VAR}"}}}}');
    expect(config.ok && config.specs[0]?.env).toEqual({ KEY: 's3cret', NONE: '' });
  });

  it('refuses bad files with one line naming the file and the problem', () => {
    const cases: [string, RegExp][] = [
      ['{"servers": {', /not valid JSON .*line 1/],
      ['[]', /servers/],
      ['{"servers": {"a": {"args": ["x"]}}}', /at servers\.a: server "a" has no "command"; add one/],
      ['{"servers": {"a": {"command": ""}}}', /non-empty/],
      ['{"servers": {"a": {"command": "x", "arg": ["y"]}}}', /arg/],
      ['{"servers": {"a": {"command": "x", "type": "websocket"}}}', /only "stdio"/],
      ['{"servers": {"a__b": {"command": "x"}}}', /"a__b" must not contain "__"/],
      ['{"servers": {"a_": {"command": "x"}}}', /must not end with "_"/],
      ['{"servers": {"a b": {"command": "x"}}}', /letters, digits/],
      ['{"servers": {"a": {"command": "x", "env": {"N": 1}}}}', /servers\.a\.env\.N/],
      ['{"servers": {"a": {"command": "x", "lifecycle": "sometimes"}}}', /servers\.a\.lifecycle: must be "eager" .* or "lazy"/],
      ['{"servers": {"a": {"command": "x", "idleTimeout": "ten minutes"}}}', /servers\.a\.idleTimeout: "ten minutes" is not a duration; write it like "90s"/],
      ['{"servers": {"a": {"command": "x", "idleTimeout": "600"}}}', /"600" is not a duration/],
      ['{"servers": {"a": {"command": "x", "idleTimeout": -5}}}', /-5 is not a duration/],
      ['{"servers": {"a": {"command": "x", "idleTimeout": true}}}', /servers\.a\.idleTimeout: true is not a duration; write it like "90s"/],
      ['{"servers": {"a": {"command": "x", "idleTimeout": null}}}', /servers\.a\.idleTimeout: null is not a duration; write it like "90s"/],
      ['{"servers": {"a": {"command": "x", "lifecycle": null}}}', /servers\.a\.lifecycle: must be "eager" .* or "lazy"/],
      ['{"servers": {"a": {"command": "x", "protocol": "2026"}}}', /servers\.a\.protocol: must be "auto" .*"2025-11-25" .*"2026-07-28"/],
    ];
    for (const [text, problem] of cases) {
      const error = errorOf(parse(text));
      expect(error, text).toBeDefined();
      expect(error, text).toMatch(problem);
      expect(error, text).toContain(serversFile(WS));
      expect(error, text).not.toContain('\n');
    }
  });

  it('names the mistakes people make in plain words: an mcp.json\'s "mcpServers", a misspelt key and the key it resembles', () => {
    const cases: [string, string][] = [
      ['{"mcpServers": {"a": {"command": "x"}}}', 'found "mcpServers": use "servers" (this file is not an mcp.json)'],
      ['{"servers": {}, "mcpServers": {"a": {"command": "x"}}}', 'use "servers" (this file is not an mcp.json)'],
      // Also when the missing "command" would be the first thing zod says.
      ['{"servers": {"a": {"comand": "x"}}}', 'at servers.a: unknown key "comand" (did you mean "command"?)'],
      ['{"servers": {"a": {"command": "x", "arg": ["y"]}}}', 'unknown key "arg" (did you mean "args"?)'],
      ['{"servers": {"a": {"command": "x", "idletimeout": "1m"}}}', 'unknown key "idletimeout" (did you mean "idleTimeout"?)'],
      ['{"servers": {"a": {"command": "x", "lifecyle": "lazy"}}}', 'unknown key "lifecyle" (did you mean "lifecycle"?)'],
      ['{"servers": {"a": {"command": "x", "timeout": 5}}}', 'unknown key "timeout" (an entry takes "type", "command", "args", "env", "cwd", "lifecycle", "protocol", "idleTimeout")'],
      // The validator's own words ("expected string, received undefined", "expected record") never reach the user.
      ['{"servers": {"e": {"args": []}}}', 'at servers.e: server "e" has no "command"; add one'],
      ['{"servers": [{"command": "x"}]}', '"servers" must be an object of named entries ({"<name>": {"command": "...", "args": [...]}}), not a list'],
      ['{"servers": {"e": {"url": "http://127.0.0.1:9/mcp"}}}', 'server "e" is an HTTP server ("url"), but exai runs stdio servers only: run an HTTP server as the workspace\'s own daemon (.exai/daemon.json), or give a stdio bridge as its "command"'],
      ['{"servers": {"e": {"type": "http", "command": "x"}}}', 'server "e" is an HTTP server ("type": "http"), but exai runs stdio servers only'],
    ];
    for (const [text, problem] of cases) {
      const error = errorOf(parse(text));
      expect(error, text).toContain(`${serversFile(WS)}: `);
      expect(error, text).toContain(problem);
      expect(error, text).not.toContain('\n');
      expect(error, text).not.toMatch(/Invalid input|expected record|received/);
    }
  });

  it('expands ${userHome}, the workspace\'s variables and Claude Code\'s bare ${NAME} and ${NAME:-default} as environment variables', () => {
    const env = { HOME: '/home/someone', MY_KEY: 'k1' };
    const config = parseServersConfig(
      JSON.stringify({
        servers: {
          a: {
            command: '${userHome}/bin/srv',
            args: ['${MY_KEY}', '${env:MY_KEY}', '${NOT_SET:-fallback}', '${workspaceFolderBasename}', 'a${/}b', '$MY_KEY', '${workspaceRoot}'],
            env: { KEY: '${MY_KEY}', NONE: '${NOT_SET}', EMPTY_DEFAULT: '${NOT_SET:-}' },
            cwd: '${userHome}',
          },
        },
      }),
      WS,
      serversFile(WS),
      { env, platform: 'linux' },
    );
    expect(config.ok, errorOf(config)).toBe(true);
    if (!config.ok) return;
    expect(config.specs[0]).toMatchObject({
      command: '/home/someone/bin/srv',
      args: ['k1', 'k1', 'fallback', 'space', 'a/b', '$MY_KEY', WS],
      env: { KEY: 'k1', NONE: '', EMPTY_DEFAULT: '' },
      cwd: '/home/someone',
    });
  });

  it('refuses placeholders that have no meaning outside VS Code, naming the placeholder, where it is and what to write instead', () => {
    const cases: [string, string, RegExp][] = [
      ['"args": ["--key", "${input:apiKey}"]', 'at servers.a.args.1: ${input:apiKey} is a VS Code input', /write \$\{env:NAME\} \(passed with exai spawn --pass-env NAME\)/],
      ['"env": {"T": "${command:pickFile}"}', 'at servers.a.env.T: ${command:pickFile} runs a VS Code command', /\$\{env:NAME\}/],
      ['"env": {"T": "${config:editor.fontSize}"}', 'at servers.a.env.T: ${config:editor.fontSize} reads a VS Code setting', /write the value/],
      ['"args": ["${file}"]', 'at servers.a.args.0: ${file} names something open in VS Code', /use \$\{workspaceFolder\} or a path/],
      ['"cwd": "${selectedText}"', 'at servers.a.cwd: ${selectedText} names something open', /exai's servers run without an editor/],
      ['"args": ["${not a name}"]', 'at servers.a.args.0: ${not a name} is not a placeholder exai knows', /\$\{workspaceFolder\}, \$\{userHome\}, \$\{env:NAME\} or \$\{NAME\}/],
      ['"args": ["${}"]', 'at servers.a.args.0: ${} is not a placeholder exai knows', /\$\{NAME:-default\}/],
    ];
    for (const [fields, problem, advice] of cases) {
      const text = `{"servers": {"ok": {"command": "y"}, "a": {"command": "x", ${fields}}}}`;
      const error = errorOf(parse(text));
      expect(error, text).toContain(`${serversFile(WS)}: ${problem}`);
      expect(error, text).toMatch(advice);
      expect(error, text).not.toContain('\n');
    }
  });

  it('says which servers a broken file still names (the daemon stops the others), and nothing when it cannot tell', () => {
    const namesOf = (text: string) => {
      const config = parse(text);
      return config.ok ? 'ok' : config.names;
    };
    expect(namesOf('{"servers": {"a": {"command": 42}, "b": {"command": "x"}}}')).toEqual(['a', 'b']);
    expect(namesOf('{"mcpServers": {"c": {"command": "x"}}}')).toEqual(['c']);
    // Half-saved, or no servers object at all: no verdict on what runs.
    expect(namesOf('{"servers": {"a": {"command": ')).toBeUndefined();
    expect(namesOf('')).toBeUndefined();
    expect(namesOf('{"srvers": {"a": {"command": "x"}}}')).toBeUndefined();
  });

  it('treats a missing file as no upstreams', () => {
    const ws = t.workspace('missing');
    expect(loadServersConfig(ws)).toEqual({ ok: true, file: serversFile(ws), exists: false, specs: [] });
  });
});

describe('watching servers.json', () => {
  it('notices the .exai folder appearing, edits, breakage, atomic replacement and removal', async () => {
    const ws = t.workspace('watched');
    const seen: ServersConfig[] = [];
    const watcher = new ServersConfigWatcher({ workspace: ws, debounceMs: 50, onReload: (c, changed) => changed && seen.push(c) });
    watcher.start();
    try {
      const names = () => {
        const last = seen[seen.length - 1];
        return last?.ok ? last.specs.map((s) => s.name).join(',') : last ? 'error' : 'none';
      };
      mkdirSync(join(ws, '.exai'));
      writeFileSync(serversFile(ws), '{"servers": {"one": {"command": "x"}}}');
      await waitFor(() => (names() === 'one' ? true : undefined), { what: 'the first server' });

      writeFileSync(serversFile(ws), '{"servers": {"one": {"command": "x"}, "two": {"command": "y"}}}');
      await waitFor(() => (names() === 'one,two' ? true : undefined), { what: 'an edit' });

      writeFileSync(serversFile(ws), '{"servers": {');
      await waitFor(() => (names() === 'error' ? true : undefined), { what: 'the breakage' });

      writeFileSync(`${serversFile(ws)}.tmp`, '{"servers": {"three": {"command": "z"}}}');
      const { renameSync } = await import('node:fs');
      renameSync(`${serversFile(ws)}.tmp`, serversFile(ws));
      await waitFor(() => (names() === 'three' ? true : undefined), { what: 'a rename-replacement' });

      rmSync(join(ws, '.exai'), { recursive: true });
      await waitFor(() => (names() === '' ? true : undefined), { what: 'the removal' });

      mkdirSync(join(ws, '.exai'));
      writeFileSync(serversFile(ws), '{"servers": {"four": {"command": "w"}}}');
      await waitFor(() => (names() === 'four' ? true : undefined), { what: 'the folder coming back' });
    } finally {
      watcher.close();
    }
  });

  it('flush() applies a change the debounce still holds back (exai_status right after a save reports the saved file)', async () => {
    const ws = t.workspace('flushed');
    mkdirSync(join(ws, '.exai'));
    writeFileSync(serversFile(ws), '{"servers": {');
    let reloads = 0;
    // A debounce no test waits out: only flush() can apply the change in time.
    const watcher = new ServersConfigWatcher({ workspace: ws, debounceMs: 600_000, onReload: () => void reloads++ });
    watcher.start();
    try {
      expect(watcher.current.ok).toBe(false);
      const { watch } = await import('node:fs');
      // Our own watch on the same folder: once it has seen the write, so has the watcher's.
      const seen = new Promise<void>((resolve) => {
        const w = watch(join(ws, '.exai'), () => {
          w.close();
          setImmediate(resolve);
        });
      });
      writeFileSync(serversFile(ws), '{"servers": {"one": {"command": "x"}}}');
      await seen;
      expect(watcher.current.ok).toBe(false);
      watcher.flush();
      expect(watcher.current.ok && watcher.current.specs.map((s) => s.name)).toEqual(['one']);
      const after = reloads;
      watcher.flush(); // nothing pending: no second reload
      expect(reloads).toBe(after);
    } finally {
      watcher.close();
    }
  });
});
