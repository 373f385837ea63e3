/**
 * A failed command changes nothing (issue 15 items 1-3 and 5; DESIGN.md "bad input loses
 * nothing"): a re-pin that cannot work leaves the running daemon, its registry entry and its
 * configs exactly as they were; a failed first spawn leaves no entry, token, app or config;
 * port errors name the real cause in one line; a server that cannot start is not silent.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAllowedHost } from '../src/daemon/guard.js';
import type { SpawnResult } from '../src/start/spawn.js';
import { getHealth } from './helpers/daemon.js';
import { makeTestEnv, pm2Apps, runCli, spawnJson, type CliResult, type TestEnv } from './helpers/env.js';
import { squat } from './helpers/squatter.js';
import { asNobody, CAN_DROP_TO_NOBODY, NOBODY, rootForNobody } from './helpers/nobody.js';

let t: TestEnv;
beforeAll(() => {
  t = makeTestEnv();
});
afterAll(async () => {
  await t.cleanup();
});


function oneLine(res: CliResult): string {
  const lines = res.stderr.trim().split('\n');
  expect(lines, res.stderr).toHaveLength(1);
  expect(lines[0]!.length).toBeLessThan(400);
  return lines[0]!;
}

function entryOf(home: string, id: string): string | undefined {
  const data = JSON.parse(readFileSync(join(home, 'registry.json'), 'utf8')) as { workspaces: Record<string, unknown> };
  return data.workspaces[id] === undefined ? undefined : JSON.stringify(data.workspaces[id]);
}

describe('a re-pin that fails', () => {
  it('to a port another process holds: one line naming it; daemon, registry entry and mcp.json untouched', async () => {
    const ws = t.workspace('repin');
    const before = await spawnJson(t.env, ws);
    const entry = entryOf(t.home, before.id);
    const config = readFileSync(join(ws, '.vscode', 'mcp.json'), 'utf8');
    const squatter = await squat(t.portBase + 7);
    try {
      const res = await runCli(['spawn', '--workspace', ws, '--port', String(t.portBase + 7)], t.env);
      expect(res.code).toBe(1);
      expect(oneLine(res)).toMatch(new RegExp(`PORT_TAKEN: port ${t.portBase + 7} on 127.0.0.1 is in use by pid ${squatter.pid} .*choose another --port`));
    } finally {
      await squatter.close();
    }
    expect((await getHealth(before.port)).pid).toBe(before.pid);
    expect(entryOf(t.home, before.id)).toBe(entry);
    expect(readFileSync(join(ws, '.vscode', 'mcp.json'), 'utf8')).toBe(config);
  });

  it('to a free port: a move the user asked for, said as such', async () => {
    const ws = t.workspace('move-asked');
    const before = await spawnJson(t.env, ws);
    const res = await runCli(['spawn', '--workspace', ws, '--port', String(t.portBase + 8), '--json'], t.env);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stderr).not.toMatch(/taken|another process/);
    const after = JSON.parse(res.stdout) as SpawnResult;
    expect(after.port).toBe(t.portBase + 8);
    expect(after.movedFrom).toBe(before.port);
    expect(readFileSync(join(ws, '.vscode', 'mcp.json'), 'utf8')).toContain(`"EXAI_WS_PORT": "${t.portBase + 8}"`);
    await expect(getHealth(before.port, 1_000)).rejects.toThrow();
  });

  // Ports below 1024 need privileges: run the whole scenario as an unprivileged user, from a
  // checkout that user can read (the clone may sit under a 0700 directory: helpers/nobody.ts).
  it.runIf(CAN_DROP_TO_NOBODY)('as a normal user, to a privileged port or with a config folder it cannot write: named at once; nothing touched', async () => {
    const dir = join(t.dir, 'as-nobody');
    mkdirSync(join(dir, 'ws'), { recursive: true });
    mkdirSync(join(dir, 'fresh'), { recursive: true });
    for (const p of [dir, join(dir, 'ws'), join(dir, 'fresh')]) {
      chownSync(p, NOBODY, NOBODY);
      chmodSync(p, 0o755);
    }
    chmodSync(t.dir, 0o755);
    const env = { ...t.env, HOME: dir, EXAI_HOME: join(dir, 'home'), PM2_HOME: join(dir, 'pm2') };
    const checkout = rootForNobody();
    const run = (script: string, args: string[]) => {
      const [cmd, argv] = asNobody(process.execPath, [join(checkout.root, script), ...args]);
      return spawnSync(cmd, argv, { env, encoding: 'utf8', timeout: 120_000 });
    };
    const cli = (...args: string[]) => run(join('dist', 'cli', 'main.js'), args);
    try {
      // A workspace whose folder this user cannot write: said before anything starts (no pm2,
      // no registry entry, no log files), naming the folder.
      const locked = join(dir, 'locked');
      mkdirSync(locked);
      chmodSync(locked, 0o755); // root's: not writable for nobody
      const refused = cli('spawn', '--workspace', locked);
      expect(refused.status).toBe(1);
      expect(refused.stderr.trim().split('\n')).toHaveLength(1);
      expect(refused.stderr).toMatch(new RegExp(`^exai: CONFIG_WRITE_FAILED: cannot write ${locked}/\\.vscode/mcp\\.json: ${locked} is not writable \\(EACCES\\); make it writable, or run with --no-config`));
      expect(existsSync(join(env.PM2_HOME, 'pm2.pid')), 'a pm2 daemon was started').toBe(false);
      expect(existsSync(join(env.EXAI_HOME, 'logs')) ? readdirSync(join(env.EXAI_HOME, 'logs')) : []).toEqual([]);
      expect(existsSync(join(env.EXAI_HOME, 'registry.json')) ? readFileSync(join(env.EXAI_HOME, 'registry.json'), 'utf8') : '').not.toContain(locked);
      expect(readdirSync(locked)).toEqual([]);
      // A first spawn that cannot have its port starts no pm2 for it.
      const fresh = cli('spawn', '--workspace', join(dir, 'fresh'), '--port', '80');
      expect(fresh.status).toBe(1);
      expect(fresh.stderr).toMatch(/^exai: PORT_FORBIDDEN: port 80 needs privileges/);
      expect(existsSync(join(env.PM2_HOME, 'pm2.pid')), 'a pm2 daemon was started').toBe(false);
      expect(readdirSync(join(dir, 'fresh'))).toEqual([]);
      const first = cli('spawn', '--workspace', join(dir, 'ws'), '--json');
      expect(first.status, first.stderr).toBe(0);
      const before = JSON.parse(first.stdout) as SpawnResult;
      const entry = entryOf(env.EXAI_HOME, before.id);
      const res = cli('spawn', '--workspace', join(dir, 'ws'), '--port', '80');
      expect(res.status).toBe(1);
      expect(res.stderr.trim().split('\n')).toHaveLength(1);
      expect(res.stderr).toMatch(/PORT_FORBIDDEN: port 80 needs privileges: ports below 1024 need root .*choose --port 1024 or above/);
      expect((await getHealth(before.port)).pid).toBe(before.pid);
      expect(entryOf(env.EXAI_HOME, before.id)).toBe(entry);
      // Its config folder no longer writable for this user: remove refuses before it removes
      // anything (the daemon runs on, its entry and config stay), naming the folder.
      const vscode = join(dir, 'ws', '.vscode');
      const config = readFileSync(join(vscode, 'mcp.json'), 'utf8');
      chownSync(vscode, 0, 0);
      const removal = cli('remove', '--workspace', join(dir, 'ws'));
      expect(removal.status).toBe(1);
      expect(removal.stderr.trim().split('\n')).toHaveLength(1);
      expect(removal.stderr).toMatch(new RegExp(`CONFIG_WRITE_FAILED: cannot write ${vscode}/mcp\\.json: ${vscode} is not writable \\(EACCES\\); make it writable and run the command again`));
      expect((await getHealth(before.port)).pid).toBe(before.pid);
      expect(entryOf(env.EXAI_HOME, before.id)).toBe(entry);
      expect(readFileSync(join(vscode, 'mcp.json'), 'utf8')).toBe(config);
    } finally {
      run(join('node_modules', 'pm2', 'bin', 'pm2'), ['kill']);
      checkout.release();
    }
  });

  it('port 80 is a valid Host without its port (the default is omitted), for the daemon that runs there as root', () => {
    expect(isAllowedHost('127.0.0.1', 80)).toBe(true);
    expect(isAllowedHost('localhost', 80)).toBe(true);
    expect(isAllowedHost('127.0.0.1', 8079)).toBe(false);
    expect(isAllowedHost('evil.example', 80)).toBe(false);
  });
});

describe('a first spawn that fails', () => {
  it('on a parsable mcp.json of the wrong shape: nothing registered, no token, no app, the file as it was', async () => {
    const ws = t.workspace('bad-shape');
    mkdirSync(join(ws, '.vscode'));
    writeFileSync(join(ws, '.vscode', 'mcp.json'), '{"servers": []}');
    const res = await runCli(['spawn', '--workspace', ws], t.env);
    expect(res.code).toBe(1);
    expect(oneLine(res)).toMatch(/CONFIG_UNPARSABLE: .*mcp\.json: "servers" is an array, not an object/);
    expect(readFileSync(join(ws, '.vscode', 'mcp.json'), 'utf8')).toBe('{"servers": []}');
    const registry = existsSync(join(t.home, 'registry.json')) ? readFileSync(join(t.home, 'registry.json'), 'utf8') : '';
    expect(registry).not.toContain(ws);
    const tokens = existsSync(join(t.home, 'tokens')) ? readdirSync(join(t.home, 'tokens')) : [];
    const { resolveWorkspace } = await import('../src/workspace/identity.js');
    expect(tokens.filter((f) => f.startsWith(resolveWorkspace(ws).id))).toEqual([]);
    expect((await pm2Apps(t.env)).some((a) => a.name.includes(resolveWorkspace(ws).id))).toBe(false);
  });
});

describe('a servers.json whose command does not exist', () => {
  it('spawn says which server and why on stderr, and still starts the daemon', async () => {
    const ws = t.workspace('no-such-cmd');
    mkdirSync(join(ws, '.exai'));
    writeFileSync(join(ws, '.exai', 'servers.json'), JSON.stringify({ servers: { ghost: { command: 'exai-no-such-command-xyz' } } }));
    const res = await runCli(['spawn', '--workspace', ws], t.env);
    expect(res.code, res.stderr).toBe(0);
    const warning = res.stderr.split('\n').find((l) => l.includes('upstream ghost'));
    expect(warning, res.stderr).toMatch(/exai: warning: upstream ghost (failed|did not start): .*exai-no-such-command-xyz.*not found/);
    expect(warning).not.toContain('setpriv');
  });
});

describe('an upstream whose command does not exist, after spawn', () => {
  it('is one readable problem line in doctor and a marked cell in list', async () => {
    const ws = t.workspace('ghost-later');
    mkdirSync(join(ws, '.exai'));
    writeFileSync(join(ws, '.exai', 'servers.json'), JSON.stringify({ servers: { ghost: { command: 'exai-no-such-command-xyz' } } }));
    expect((await runCli(['spawn', '--workspace', ws], t.env)).code).toBe(0);
    const doctor = await runCli(['doctor'], t.env);
    const line = doctor.stdout.split('\n').find((l) => l.includes('upstream ghost'));
    expect(line, doctor.stdout).toMatch(/^PROBLEM .*upstream ghost (did not start|failed after \d+ restart\(s\)): .*"exai-no-such-command-xyz" not found.* — fix: fix its command in .*servers\.json/);
    expect(line).not.toMatch(/setpriv|ENOENT|at \w+ \(/);
    const list = await runCli(['list'], { ...t.env, COLUMNS: '200' });
    expect(list.stdout.split('\n').find((l) => l.includes('ghost-later'))).toMatch(/0\/1 !/);
  });
});

describe('a servers.json that does not parse', () => {
  it('is one doctor line naming the file and the place, with the fix said once', async () => {
    const ws = t.workspace('bad-servers-json');
    mkdirSync(join(ws, '.exai'));
    writeFileSync(join(ws, '.exai', 'servers.json'), '{ "servers": { "a": { "command": 7 } } }');
    expect((await runCli(['spawn', '--workspace', ws], t.env)).code).toBe(0);
    const doctor = await runCli(['doctor'], t.env);
    expect(doctor.code).toBe(1);
    const lines = doctor.stdout.split('\n').filter((l) => l.includes('bad-servers-json') && l.includes('servers.json'));
    expect(lines, doctor.stdout).toHaveLength(1);
    expect(lines[0]).toMatch(/^PROBLEM .*servers\.json: .*command.* — fix: correct .*servers\.json; the daemon reloads it on save$/);
    expect(lines[0]!.match(/fix/g)).toHaveLength(1);
  });
});
