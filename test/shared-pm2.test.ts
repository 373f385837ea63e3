/**
 * Two EXAI_HOMEs, one pm2 (WINDOWS.md #2: on Windows every PM2_HOME shares one pm2 daemon, so
 * this is what every Windows user with a custom EXAI_HOME meets). Each home's apps are its own:
 * a spawn, restart, stop, remove or `doctor --fix` under one home never deletes, stops or
 * adopts the other's daemon of the same folder. And the pm2 daemon a shim had to start is
 * nobody's child and pins no workspace folder (WINDOWS.md #3, #5, #11).
 */
import { readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ListRow } from '../src/fleet/list.js';
import type { SpawnResult } from '../src/start/spawn.js';
import { getHealth } from './helpers/daemon.js';
import { makeTestEnv, pm2Apps, pm2Kill, runCli, waitFor, type TestEnv } from './helpers/env.js';
import { exaiStatus, strictTransport, writtenEntry } from './helpers/strict-client.js';

let t: TestEnv;
let envA: NodeJS.ProcessEnv;
let envB: NodeJS.ProcessEnv;
let ws: string;

beforeAll(() => {
  t = makeTestEnv();
  envA = { ...t.env, EXAI_HOME: join(t.dir, 'home-a') };
  // Home B shares pm2 with A; its ports come from another part of the test's block.
  envB = { ...t.env, EXAI_HOME: join(t.dir, 'home-b'), EXAI_PORT_BASE: String(t.portBase + 500) };
  ws = t.workspace('shared');
});
afterAll(async () => {
  await t.cleanup();
});

async function spawnIn(env: NodeJS.ProcessEnv, ...extra: string[]): Promise<SpawnResult> {
  const res = await runCli(['spawn', '--workspace', ws, '--json', ...extra], env);
  expect(res.code, res.stderr).toBe(0);
  return JSON.parse(res.stdout) as SpawnResult;
}

describe('two EXAI_HOMEs sharing one PM2_HOME', () => {
  let a: SpawnResult;
  let b: SpawnResult;

  it('give the same folder two apps, one per home, both healthy', async () => {
    a = await spawnIn(envA);
    b = await spawnIn(envB);
    expect(b.name).not.toBe(a.name);
    expect(b.id).toBe(a.id);
    expect((await getHealth(a.port)).pid).toBe(a.pid);
    expect((await getHealth(b.port)).pid).toBe(b.pid);
    expect((await getHealth(a.port)).home).toBe(envA.EXAI_HOME);
  });

  it("restart, stop and list under one home leave the other's daemon alone", async () => {
    const restarted = await spawnIn(envB, '--restart');
    expect(restarted.pid).not.toBe(b.pid);
    b = restarted;
    expect((await getHealth(a.port)).pid).toBe(a.pid);
    expect((await runCli(['stop', '--all'], envB)).code).toBe(0);
    expect((await getHealth(a.port)).pid).toBe(a.pid);
    const rowsA = JSON.parse((await runCli(['list', '--json'], envA)).stdout) as ListRow[];
    expect(rowsA.map((r) => r.name)).toEqual([a.name]);
    expect(rowsA[0]).toMatchObject({ status: 'online', healthy: true });
    b = await spawnIn(envB);
  });

  it("doctor --fix rebuilding a lost registry adopts only its own home's app", async () => {
    const file = join(envA.EXAI_HOME!, 'registry.json');
    writeFileSync(file, '{ truncated');
    rmSync(`${file}.bak`, { force: true });
    const fixed = await runCli(['doctor', '--fix'], envA);
    expect(fixed.code, fixed.stdout + fixed.stderr).toBe(0);
    // With the backup gone too, the rebuild says what pm2 cannot give back.
    expect(fixed.stdout).toMatch(/rebuilt .* from pm2 alone .*idle timeouts, --port pins and --pass-env names are not kept by pm2/);
    const rebuilt = JSON.parse(readFileSync(file, 'utf8')) as { workspaces: Record<string, { name: string; port: number }> };
    expect(Object.values(rebuilt.workspaces).map((e) => [e.name, e.port])).toEqual([[a.name, a.port]]);
    expect((await getHealth(b.port)).pid).toBe(b.pid);
  });

  it("remove under one home deletes only its own app", async () => {
    expect((await runCli(['remove', '--all'], envA)).code).toBe(0);
    const apps = (await pm2Apps(t.env)).map((x) => x.name);
    expect(apps).toContain(b.name);
    expect(apps).not.toContain(a.name);
    expect((await getHealth(b.port)).pid).toBe(b.pid);
  });
});

/** Parent pid and working folder of a process (Linux /proc). */
function procInfo(pid: number): { ppid: number; cwd: string } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  return { ppid, cwd: readlinkSync(`/proc/${pid}/cwd`) };
}

describe.runIf(process.platform === 'linux')('the pm2 daemon a shim had to start', () => {
  it('is not in the shim\'s process tree, and neither pm2 nor the daemon keeps the workspace folder as cwd', async () => {
    const spawned = await spawnIn(envB);
    await pm2Kill(t.pm2Home);
    await waitFor(async () => ((await getHealth(spawned.port, 500).catch(() => undefined)) ? undefined : true), { what: 'the daemon to go with pm2' });
    const transport = strictTransport(writtenEntry(ws), join(t.dir, 'client-home'));
    const { Client } = await import('@modelcontextprotocol/sdk/client/index.js');
    const client = new Client({ name: 'tree', version: '0' });
    await client.connect(transport);
    try {
      const status = await exaiStatus(client);
      // exai_status names the app as pm2 knows it (tagged under a non-default EXAI_HOME).
      expect(status.name).toBe(spawned.name);
      const shimPid = transport.pid!;
      const godPid = Number(readFileSync(join(t.pm2Home, 'pm2.pid'), 'utf8'));
      // Walk up from the pm2 daemon: the shim is not among its ancestors while the shim runs.
      const ancestors: number[] = [];
      for (let pid = godPid; pid > 1 && ancestors.length < 64; pid = procInfo(pid).ppid) ancestors.push(pid);
      expect(ancestors).not.toContain(shimPid);
      expect(procInfo(godPid).cwd).toBe(envB.EXAI_HOME);
      expect(procInfo(status.pid).cwd).toBe(envB.EXAI_HOME);
    } finally {
      await client.close();
    }
  });
});
