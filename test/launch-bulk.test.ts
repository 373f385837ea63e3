/**
 * Issue 11's failing inputs on real pm2: a strict client with non-default state dirs, a
 * stopped workspace and the bulk start paths, a `--no-config` workspace that moves, a daemon
 * whose port was taken (exit 98), and `${env:NAME}` that nothing passes.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ListRow } from '../src/fleet/list.js';
import type { SpawnResult } from '../src/start/spawn.js';
import { countPm2Daemons, getHealth } from './helpers/daemon.js';
import { makeTestEnv, pm2Apps, pm2Kill, ROOT, runCli, spawnJson, runPm2, waitFor, type TestEnv } from './helpers/env.js';
import { squat } from './helpers/squatter.js';
import { connectStrict, exaiStatus, strictTransport, writtenEntry } from './helpers/strict-client.js';
import { writeServers, everythingEntry } from './upstreams-helpers.js';

let t: TestEnv;
/** A HOME of the strict client's own: whatever a wrong default would create lands here, not in the real one. */
let clientHome: string;

beforeAll(() => {
  t = makeTestEnv();
  clientHome = join(t.dir, 'client-home');
});
afterAll(async () => {
  await t.cleanup();
});


async function listJson(): Promise<ListRow[]> {
  const res = await runCli(['list', '--json'], t.env);
  expect(res.code, res.stderr).toBe(0);
  return JSON.parse(res.stdout) as ListRow[];
}

async function appStatus(name: string): Promise<{ status: string; pid: number } | undefined> {
  const app = (await pm2Apps(t.env)).find((a) => a.name === name);
  return app ? { status: app.pm2_env.status, pid: app.pid } : undefined;
}

describe('a strict client with non-default EXAI_HOME and PM2_HOME', () => {
  it('reaches the daemon spawn started, from the config exai wrote: no second daemon, no other pm2', async () => {
    const ws = t.workspace('strict');
    const spawned = await spawnJson(t.env, ws);
    const session = await connectStrict(writtenEntry(ws), clientHome);
    try {
      const status = await exaiStatus(session.client);
      expect(status.port).toBe(spawned.port);
      expect(status.pid).toBe(spawned.pid);
    } finally {
      await session.close();
    }
    expect(existsSync(join(clientHome, '.pm2')), 'a pm2 under the client HOME').toBe(false);
    expect(countPm2Daemons(join(clientHome, '.pm2'))).toBe(0);
    expect((await pm2Apps(t.env)).filter((a) => a.name.includes(spawned.id))).toHaveLength(1);
  });

  it('with an entry that lacks the state dirs (written by an older exai): one line naming both, nothing started', async () => {
    const ws = t.workspace('old-entry');
    const spawned = await spawnJson(t.env, ws);
    const entry = writtenEntry(ws);
    const { EXAI_HOME: _h, PM2_HOME: _p, ...oldEnv } = entry.env;
    const transport = strictTransport({ ...entry, env: oldEnv }, clientHome);
    let stderr = '';
    transport.stderr?.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    const { Client } = await import('@modelcontextprotocol/sdk/client/index.js');
    const client = new Client({ name: 'old-entry', version: '0' });
    await expect(client.connect(transport)).rejects.toThrow();
    await waitFor(() => (stderr.includes('STATE_DIR_MISMATCH') ? true : undefined), { what: 'the mismatch line' });
    const lines = stderr.trim().split('\n').filter((l) => l.startsWith('exai:'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(t.home);
    expect(lines[0]).toContain(join(clientHome, '.config', 'exai'));
    expect(existsSync(join(clientHome, '.pm2'))).toBe(false);
    expect((await getHealth(spawned.port)).pid).toBe(spawned.pid);
  });
});

describe('a workspace stopped with exai stop', () => {
  let a: SpawnResult;
  let b: SpawnResult;

  beforeAll(async () => {
    a = await spawnJson(t.env, t.workspace('keep-a'));
    b = await spawnJson(t.env, t.workspace('stop-b'));
  }, 120_000);

  it('stays down when pm2 died and `pm2 start ecosystem.config.js` brings the fleet back', async () => {
    expect((await runCli(['stop', '--workspace', b.workspace], t.env)).code).toBe(0);
    await pm2Kill(t.pm2Home);
    expect((await runPm2(['start', join(ROOT, 'ecosystem.config.js')], t.env)).code).toBe(0);
    await waitFor(async () => ((await getHealth(a.port, 1_000)).id === a.id ? true : undefined), { what: 'A back' });
    expect(await appStatus(b.name)).toBeUndefined();
    const rows = await listJson();
    expect(rows.find((r) => r.id === b.id)?.status).toBe('stopped');
    expect(rows.find((r) => r.id === a.id)).toMatchObject({ status: 'online', healthy: true });
  });

  it('stays down under `pm2 resurrect` of a dump saved while it ran: its daemon refuses, pm2 shows it stopped', async () => {
    b = await spawnJson(t.env, b.workspace); // an explicit spawn starts it again
    expect(b.status).toBe('online');
    expect((await runPm2(['save'], t.env)).code).toBe(0);
    expect((await runCli(['stop', '--workspace', b.workspace], t.env)).code).toBe(0);
    await pm2Kill(t.pm2Home);
    expect((await runPm2(['resurrect'], t.env)).code).toBe(0);
    await waitFor(async () => ((await getHealth(a.port, 1_000)).id === a.id ? true : undefined), { what: 'A back' });
    const stopped = await waitFor(async () => {
      const s = await appStatus(b.name);
      return s?.status === 'stopped' ? s : undefined;
    }, { what: 'B to refuse and stop' });
    expect(stopped.pid).toBe(0);
    await expect(getHealth(b.port, 1_000)).rejects.toThrow();
    expect((await listJson()).find((r) => r.id === b.id)?.status).toBe('stopped');
  });

  it('comes back when a client connects, and the shim says so', async () => {
    const session = await connectStrict(writtenEntry(b.workspace), clientHome);
    try {
      expect((await exaiStatus(session.client)).port).toBe(b.port);
      expect(session.stderr()).toMatch(/stopped with `exai stop`; a client connected/);
    } finally {
      await session.close();
    }
    const row = (await listJson()).find((r) => r.id === b.id);
    expect(row).toMatchObject({ status: 'online', healthy: true });
    const registry = JSON.parse(readFileSync(join(t.home, 'registry.json'), 'utf8')) as { workspaces: Record<string, { stopped?: boolean }> };
    expect(registry.workspaces[b.id]?.stopped).toBeUndefined();
  });
});

describe('a --no-config workspace', () => {
  it('never gets a client config, also when the fleet comes back and moves it', async () => {
    const ws = t.workspace('no-config');
    const spawned = await spawnJson(t.env, ws, '--no-config');
    expect(spawned.configFiles).toEqual([]);
    await pm2Kill(t.pm2Home);
    await waitFor(async () => ((await getHealth(spawned.port, 500).catch(() => undefined)) ? undefined : true), { what: 'its daemon to go with pm2' });
    const squatter = await squat(spawned.port);
    try {
      const res = await runCli(['list', '--json'], t.env);
      expect(res.code, res.stderr).toBe(0);
      expect(res.stderr).toMatch(new RegExp(`moved ${spawned.port} -> \\d+, no client config to rewrite`));
      const row = (JSON.parse(res.stdout) as ListRow[]).find((r) => r.id === spawned.id)!;
      expect(row.port).not.toBe(spawned.port);
      expect(row.healthy).toBe(true);
      expect(existsSync(join(ws, '.vscode'))).toBe(false);
      expect((await runCli(['restart', '--workspace', ws], t.env)).code).toBe(0);
      expect(existsSync(join(ws, '.vscode'))).toBe(false);
    } finally {
      await squatter.close();
    }
  });
});

describe('a daemon whose port was taken while it was down', () => {
  it('shows stopped in pm2 (not "waiting restart"), errored in exai list with who holds the port; the next spawn moves it', async () => {
    const ws = t.workspace('port-98');
    const spawned = await spawnJson(t.env, ws);
    expect((await runPm2(['stop', spawned.name], t.env)).code).toBe(0);
    const squatter = await squat(spawned.port);
    try {
      expect((await runPm2(['restart', spawned.name], t.env)).code).toBe(0);
      const app = await waitFor(async () => {
        const s = await appStatus(spawned.name);
        return s && s.status !== 'online' && s.status !== 'launching' ? s : undefined;
      }, { what: 'the daemon to give up its port' });
      expect(app).toEqual({ status: 'stopped', pid: 0 });
      const row = (await listJson()).find((r) => r.id === spawned.id)!;
      expect(row.status).toBe('errored');
      expect(row.portHolder).toContain(`pid ${squatter.pid}`);
      const again = await spawnJson(t.env, ws);
      expect(again.movedFrom).toBe(spawned.port);
      expect(again.port).not.toBe(spawned.port);
    } finally {
      await squatter.close();
    }
  });
});

describe('exai doctor and ${env:NAME}', () => {
  it('names a variable servers.json uses that the daemon was not given, with the command that passes it', async () => {
    const ws = t.workspace('env-doctor');
    writeServers(ws, { ev: { ...everythingEntry(), env: { TOKEN: '${env:EXAI_TEST_NOT_PASSED}' } } });
    await spawnJson(t.env, ws);
    const res = await runCli(['doctor', '--json'], t.env);
    type Finding = { scope: string; check: string; status: string; message: string; fix?: string };
    const { findings } = JSON.parse(res.stdout) as { findings: Finding[] };
    const finding = findings.find((f) => f.scope === ws && f.check === 'passed variables');
    expect(finding?.status).toBe('problem');
    expect(finding?.message).toContain('reads EXAI_TEST_NOT_PASSED');
    expect(finding?.fix).toContain('--pass-env EXAI_TEST_NOT_PASSED');
    // Passing it fixes it.
    const passed = await runCli(['spawn', '--workspace', ws, '--pass-env', 'EXAI_TEST_NOT_PASSED'], { ...t.env, EXAI_TEST_NOT_PASSED: 'now-set' });
    expect(passed.code, passed.stderr).toBe(0);
    const after = (JSON.parse((await runCli(['doctor', '--json'], t.env)).stdout) as { findings: Finding[] }).findings;
    expect(after.find((f) => f.scope === ws && f.check === 'passed variables')?.status).toBe('ok');
  });
});
