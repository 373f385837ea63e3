/**
 * servers.json as people really write it, through real `exai spawn`/`list`/`doctor` runs, a real
 * daemon under pm2 and a real upstream (server-everything, whose `get-env` shows what it got):
 * placeholders copied from VS Code and Claude Code, variables the daemon was not given, an
 * mcp.json pasted whole, misspelt keys, and a failed server taken out of the file.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ListRow } from '../src/fleet/list.js';
import { connectClient } from './helpers/mcp-client.js';
import { makeTestEnv, runCli, spawnJson, waitFor, type TestEnv } from './helpers/env.js';
import { upstreamEnv } from './helpers/strict-client.js';
import { everythingEntry, writeServers, type ServerEntry } from './upstreams-helpers.js';

let t: TestEnv;
beforeAll(() => {
  t = makeTestEnv();
});
afterAll(async () => {
  await t?.cleanup();
});

async function listJson(): Promise<{ rows: ListRow[] }> {
  const res = await runCli(['list', '--json'], t.env);
  expect(res.code, res.stderr).toBe(0);
  return { rows: JSON.parse(res.stdout) as ListRow[] };
}

/** `exai list`'s warnings (stderr) once they satisfy `check`: the daemon applies a saved file after a short debounce. */
async function listWarnings(check: (stderr: string) => boolean, what: string): Promise<string> {
  return waitFor(async () => {
    const res = await runCli(['list'], t.env);
    return check(res.stderr) ? res.stderr : undefined;
  }, { what, timeoutMs: 30_000, intervalMs: 250 });
}

describe('placeholders in servers.json reach the server expanded', () => {
  it('${userHome}, ${workspaceFolderBasename}, a bare ${NAME} passed with --pass-env and ${NAME:-default}; ${input:…} is refused by spawn and list', async () => {
    const ws = t.workspace('placeholders');
    const userHome = join(t.dir, 'someone');
    mkdirSync(userHome);
    const entry: ServerEntry = {
      ...everythingEntry(),
      env: {
        HOME_DIR: '${userHome}/data',
        BARE: '${EXAI_T_KEY}',
        VSCODE_STYLE: '${env:EXAI_T_KEY}',
        DEFAULTED: '${EXAI_T_NEVER_SET:-fallback}',
        BASE: '${workspaceFolderBasename}',
      },
    };
    writeServers(ws, { ev: entry });
    const env = { ...t.env, HOME: userHome, EXAI_T_KEY: 'k-123' };
    const spawned = await runCli(['spawn', '--workspace', ws, '--no-config', '--pass-env', 'EXAI_T_KEY'], env);
    expect(spawned.code, spawned.stderr).toBe(0);
    expect(spawned.stderr).not.toMatch(/warning/);

    const { rows } = await listJson();
    const row = rows.find((r) => r.workspace === ws)!;
    const token = readFileSync(join(t.home, 'tokens', `${row.id}.token`), 'utf8').trim();
    const client = await connectClient(row.port, token);
    try {
      const got = await waitFor(() => upstreamEnv(client, 'ev'), { what: 'ev__get-env' });
      expect(got).toMatchObject({ HOME_DIR: `${userHome}/data`, BARE: 'k-123', VSCODE_STYLE: 'k-123', DEFAULTED: 'fallback', BASE: 'placeholders' });
    } finally {
      await client.close();
    }

    // A VS Code input has no one to ask here: one line naming it, from spawn and from list.
    writeServers(ws, { ev: { ...entry, args: [...(entry.args ?? []), '${input:apiKey}'] } });
    const listed = await listWarnings((e) => e.includes('${input:apiKey}'), 'list to name ${input:apiKey}');
    const line = listed.split('\n').find((l) => l.includes('${input:apiKey}'))!;
    expect(line).toMatch(/servers\.json: at servers\.ev\.args\.2: \$\{input:apiKey\} is a VS Code input.*write \$\{env:NAME\} \(passed with exai spawn --pass-env NAME\)/);
    const again = await runCli(['spawn', '--workspace', ws, '--no-config'], env);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/^exai: warning: .*\$\{input:apiKey\} is a VS Code input/m);
  });
});

describe('servers.json mistakes in plain words', () => {
  it('a variable the daemon was not given is a warning from spawn and list, naming it and the --pass-env that fixes it', async () => {
    const ws = t.workspace('unset-var');
    writeServers(ws, { ev: { ...everythingEntry(), env: { A: '${EXAI_T_UNPASSED}', B: '${env:EXAI_T_UNPASSED_TOO}', C: '${EXAI_T_UNPASSED_D:-ok}' } } });
    const spawned = await runCli(['spawn', '--workspace', ws, '--no-config', '--json'], { ...t.env, EXAI_T_UNPASSED: 'in my shell only' });
    expect(spawned.code, spawned.stderr).toBe(0);
    const warning = spawned.stderr.split('\n').find((l) => l.includes('EXAI_T_UNPASSED'));
    expect(warning).toBe(
      `exai: warning: ${join(ws, '.exai', 'servers.json')} reads EXAI_T_UNPASSED, EXAI_T_UNPASSED_TOO, which the daemon's environment does not have: the server gets an empty string; from a shell where they are set: exai spawn --workspace ${ws} --pass-env EXAI_T_UNPASSED --pass-env EXAI_T_UNPASSED_TOO`,
    );
    expect((JSON.parse(spawned.stdout) as { unsetVariables?: string[] }).unsetVariables).toEqual(['EXAI_T_UNPASSED', 'EXAI_T_UNPASSED_TOO']);

    const { rows } = await listJson();
    expect(rows.find((r) => r.workspace === ws)?.unsetVariables).toEqual(['EXAI_T_UNPASSED', 'EXAI_T_UNPASSED_TOO']);
    expect((await runCli(['list'], t.env)).stderr).toContain(`reads EXAI_T_UNPASSED, EXAI_T_UNPASSED_TOO, which the daemon's environment does not have`);

    // Passing them ends the warnings.
    const passed = await runCli(['spawn', '--workspace', ws, '--no-config', '--pass-env', 'EXAI_T_UNPASSED,EXAI_T_UNPASSED_TOO'], { ...t.env, EXAI_T_UNPASSED: 'a', EXAI_T_UNPASSED_TOO: 'b' });
    expect(passed.code, passed.stderr).toBe(0);
    expect(passed.stderr).not.toContain('EXAI_T_UNPASSED');
    expect((await listJson()).rows.find((r) => r.workspace === ws)?.unsetVariables).toBeUndefined();
  });

  it('an mcp.json pasted whole and a misspelt key are named with the fix; a failed server taken out of the file is no longer reported', async () => {
    const ws = t.workspace('mistakes');
    const missing: ServerEntry = { command: 'exai-t-no-such-command' };
    writeServers(ws, { ev: everythingEntry(), gone: missing });
    await spawnJson(t.env, ws, '--no-config');
    await listWarnings((e) => /upstream gone (failed|did not start)/.test(e), 'the failing server to be reported');

    // Taken out of a file that is then broken: the broken file is named, the failure is not.
    writeServers(ws, JSON.stringify({ mcpServers: { ev: everythingEntry() } }));
    const pasted = await listWarnings((e) => e.includes('use "servers" (this file is not an mcp.json)'), 'list to name "mcpServers"');
    expect(pasted).toMatch(/servers\.json: found "mcpServers": use "servers" \(this file is not an mcp\.json\)/);
    expect(pasted).not.toMatch(/upstream gone/);
    const doctor = await runCli(['doctor'], t.env);
    expect(doctor.stdout).toContain('use "servers" (this file is not an mcp.json)');
    expect(doctor.stdout).not.toMatch(/upstream gone/);

    // The server that stayed in the file keeps serving meanwhile.
    const { rows } = await listJson();
    expect(rows.find((r) => r.workspace === ws)?.upstreams?.map((u) => u.name)).toEqual(['ev']);

    writeServers(ws, JSON.stringify({ servers: { ev: { ...everythingEntry(), comand: 'node' } } }));
    const misspelt = await listWarnings((e) => e.includes('unknown key'), 'list to name the misspelt key');
    expect(misspelt).toMatch(/servers\.json: at servers\.ev: unknown key "comand" \(did you mean "command"\?\)/);
    const spawned = await runCli(['spawn', '--workspace', ws, '--no-config'], t.env);
    expect(spawned.stderr).toMatch(/^exai: warning: .*unknown key "comand" \(did you mean "command"\?\)/m);

    // And from a valid file, the same: gone from the file, gone from every report.
    writeServers(ws, { ev: everythingEntry(), gone: missing });
    await listWarnings((e) => /upstream gone (failed|did not start)/.test(e), 'the failing server to be reported again');
    writeServers(ws, { ev: everythingEntry() });
    await listWarnings((e) => !/upstream gone/.test(e) && !e.includes('unknown key'), 'the report of the removed server to end');
  });

  it('an HTTP entry, an entry with no "command" and "servers" as a list are said in plain words by spawn, never in the validator\'s', async () => {
    const ws = t.workspace('shapes');
    const cases: [string, string][] = [
      [JSON.stringify({ servers: { e: { url: 'http://127.0.0.1:9/mcp' } } }), 'server "e" is an HTTP server ("url"), but exai runs stdio servers only: run an HTTP server as the workspace\'s own daemon (.exai/daemon.json), or give a stdio bridge as its "command"'],
      [JSON.stringify({ servers: { e: { args: [] } } }), 'at servers.e: server "e" has no "command"; add one'],
      [JSON.stringify({ servers: [everythingEntry()] }), '"servers" must be an object of named entries'],
    ];
    for (const [text, words] of cases) {
      writeServers(ws, text);
      const spawned = await runCli(['spawn', '--workspace', ws, '--no-config', '--restart'], t.env);
      expect(spawned.code, spawned.stderr).toBe(0);
      const warning = spawned.stderr.split('\n').filter((l) => l.includes('servers.json'));
      expect(warning, text).toHaveLength(1);
      expect(warning[0], text).toContain(words);
      expect(warning[0], text).not.toMatch(/Invalid input|expected record|received/);
    }
  });
});
