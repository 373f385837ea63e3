import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getHealth } from './helpers/daemon.js';
import { makeTestEnv, pm2Apps, pm2Kill, ROOT, runCli, runPm2, waitFor, type TestEnv } from './helpers/env.js';
import type { ListRow as Row } from '../src/fleet/list.js';

let t: TestEnv;
beforeAll(() => {
  t = makeTestEnv();
});
afterAll(async () => {
  await t.cleanup();
});

async function ok(args: string[]) {
  const res = await runCli(args, t.env);
  if (res.code !== 0) throw new Error(`exai ${args.join(' ')} failed (${res.code}): ${res.stderr}${res.stdout}`);
  return res;
}
async function spawnWs(dir: string) {
  return JSON.parse((await ok(['spawn', '--workspace', dir, '--json'])).stdout) as { id: string; port: number; pid: number; name: string };
}
async function list(): Promise<Row[]> {
  return JSON.parse((await ok(['list', '--json'])).stdout) as Row[];
}

describe('fleet commands', () => {
  it('list works with no workspaces', async () => {
    const res = await ok(['list']);
    expect(res.stdout).toMatch(/no workspaces/);
    expect(JSON.parse((await ok(['ls', '--json'])).stdout)).toEqual([]);
  });

  it('list shows running daemons healthy, and stopped ones stopped and unhealthy', async () => {
    const a = await spawnWs(t.workspace('la'));
    const b = await spawnWs(t.workspace('lb'));
    let rows = await list();
    expect(rows.map((r) => r.port).sort()).toEqual([a.port, b.port].sort());
    for (const r of rows) expect(r).toMatchObject({ status: 'online', healthy: true });
    expect(rows.find((r) => r.id === a.id)?.pid).toBe(a.pid);
    expect(rows.find((r) => r.id === a.id)?.memory).toBeGreaterThan(0);

    await ok(['stop', '--workspace', t.workspace('la')]);
    rows = await list();
    expect(rows.find((r) => r.id === a.id)).toMatchObject({ status: 'stopped', healthy: false, pid: null });
    expect(rows.find((r) => r.id === b.id)).toMatchObject({ status: 'online', healthy: true });

    const human = await ok(['list']);
    expect(human.stdout).toMatch(/WORKSPACE\s+PM2 NAME\s+PORT\s+STATUS/);
    expect(human.stdout).toMatch(new RegExp(`${a.port}\\s+stopped`));
  });

  it('restart changes the pid, not the port', async () => {
    const dir = t.workspace('lb');
    const before = await spawnWs(dir);
    const res = await ok(['restart', '--workspace', dir, '--json']);
    const [after] = JSON.parse(res.stdout) as { port: number; pid: number }[];
    expect(after!.port).toBe(before.port);
    expect(after!.pid).not.toBe(before.pid);
    expect((await getHealth(before.port)).pid).toBe(after!.pid);
  });

  it('logs shows the daemon lines', async () => {
    const dir = t.workspace('lb');
    const res = await ok(['logs', '--workspace', dir, '--lines', '20']);
    expect(res.stdout).toMatch(/listening/i);
    expect((await runCli(['logs', '--workspace', dir, '--lines', 'x'], t.env)).code).toBe(2);
    expect((await runCli(['logs', '--workspace', t.workspace('never-spawned')], t.env)).stderr).toMatch(/WORKSPACE_NOT_REGISTERED/);
  });

  it('remove takes out only exai from mcp.json, frees the port and deletes the token', async () => {
    const dir = t.workspace('rm');
    mkdirSync(join(dir, '.vscode'));
    writeFileSync(join(dir, '.vscode', 'mcp.json'), '{\n  // mine\n  "servers": {\n    "other": { "command": "x" }\n  }\n}\n');
    const r = await spawnWs(dir);
    const tokenFile = join(t.home, 'tokens', `${r.id}.token`);
    expect(existsSync(tokenFile)).toBe(true);
    await ok(['remove', '--workspace', dir]);
    const text = readFileSync(join(dir, '.vscode', 'mcp.json'), 'utf8');
    expect(text).toContain('// mine');
    expect(text).toContain('"other": { "command": "x" }');
    expect(text).not.toContain('exai');
    expect(existsSync(tokenFile)).toBe(false);
    expect((await list()).some((row) => row.id === r.id)).toBe(false);
    await expect(getHealth(r.port)).rejects.toThrow();
    const apps = await pm2Apps(t.env);
    expect(apps.some((p) => p.name === r.name)).toBe(false);
  });

  it('usage errors exit 2', async () => {
    expect((await runCli(['stop'], t.env)).code).toBe(2);
    expect((await runCli(['stop', '--all', '--workspace', '.'], t.env)).code).toBe(2);
    expect((await runCli(['frobnicate'], t.env)).code).toBe(2);
  });
});

describe('pm2 integration', () => {
  it('pm2 show lists the custom metrics and pm2 trigger answers status', async () => {
    const r = await spawnWs(t.workspace('metrics'));
    const shown = await waitFor(
      async () => {
        const out = (await runPm2(['show', r.name], t.env)).stdout;
        return /open sessions/.test(out) ? out : undefined;
      },
      { what: 'custom metrics in pm2 show' },
    );
    for (const metric of ['port', 'workspace', 'open sessions', 'requests served', 'upstreams up/total']) expect(shown).toContain(metric);
    expect(shown).toContain(String(r.port));
    const trig = await runPm2(['trigger', r.name, 'status'], t.env);
    expect(trig.stdout).toContain(r.id);
  });

  it('pm2 kill, then pm2 start ecosystem.config.js restores every workspace on its port', async () => {
    const a = await spawnWs(t.workspace('eco-a'));
    const b = await spawnWs(t.workspace('eco-b'));
    await pm2Kill(t.pm2Home);
    await expect(getHealth(a.port)).rejects.toThrow();
    const res = await runPm2(['start', join(ROOT, 'ecosystem.config.js')], t.env);
    expect(res.code).toBe(0);
    for (const w of [a, b]) {
      const h = await waitFor(() => getHealth(w.port).catch(() => undefined), { what: `${w.name} back on ${w.port}` });
      expect(h.id).toBe(w.id);
    }
    const rows = await list();
    expect(rows.find((row) => row.id === a.id)).toMatchObject({ status: 'online', healthy: true, port: a.port });
    expect(rows.find((row) => row.id === b.id)).toMatchObject({ status: 'online', healthy: true, port: b.port });
  });
});

describe('exai doctor', () => {
  it('finds a drifted config, a deleted workspace, a foreign process on a port and a corrupt registry; --fix repairs them', async () => {
    const env = makeTestEnv();
    const run = (args: string[]) => runCli(args, env.env);
    try {
      const drift = env.workspace('drift');
      const gone = env.workspace('gone');
      const squat = env.workspace('squat');
      for (const d of [drift, gone, squat]) expect((await run(['spawn', '--workspace', d])).code).toBe(0);
      const healthy = await run(['doctor']);
      expect(healthy.code).toBe(0);

      // drifted config
      const mcp = join(drift, '.vscode', 'mcp.json');
      writeFileSync(mcp, readFileSync(mcp, 'utf8').replace(/"EXAI_WS_PORT": "\d+"/, '"EXAI_WS_PORT": "1"'));
      // deleted workspace
      rmSync(gone, { recursive: true, force: true });
      // foreign process on a registered port
      const squatRow = (JSON.parse((await run(['list', '--json'])).stdout) as Row[]).find((r) => r.workspace === squat)!;
      // The daemon went away without the user asking (not `exai stop`, which doctor respects).
      expect((await runPm2(['stop', squatRow.name], env.env)).code).toBe(0);
      await waitFor(async () => ((await getHealth(squatRow.port).catch(() => undefined)) ? undefined : true), { what: 'port free' });
      const squatter = createServer((s) => s.destroy());
      await new Promise<void>((r) => squatter.listen(squatRow.port, '127.0.0.1', r));
      try {
        const found = await run(['doctor']);
        expect(found.code).toBe(1);
        expect(found.stdout).toMatch(/drift.*points at port 1/);
        expect(found.stdout).toMatch(/gone.*folder is gone/);
        expect(found.stdout).toMatch(new RegExp(`squat.*port ${squatRow.port}`));

        const fixed = await run(['doctor', '--fix', '--yes']);
        expect(fixed.stdout).toMatch(/fixed/);
        expect(fixed.code).toBe(0);
        const after = await run(['doctor']);
        expect(after.code).toBe(0);
        const rows = JSON.parse((await run(['list', '--json'])).stdout) as Row[];
        expect(rows.map((r) => r.workspace).sort()).toEqual([drift, squat].sort());
        expect(rows.every((r) => r.healthy)).toBe(true);
        expect(rows.find((r) => r.workspace === squat)!.port).not.toBe(squatRow.port);
        expect(readFileSync(mcp, 'utf8')).toContain(`"EXAI_WS_PORT": "${rows.find((r) => r.workspace === drift)!.port}"`);
      } finally {
        squatter.close();
      }

      // a workspace stopped on purpose is no fault, and --fix leaves it stopped
      expect((await run(['stop', '--workspace', drift])).code).toBe(0);
      const stoppedReport = await run(['doctor', '--fix']);
      expect(stoppedReport.code).toBe(0);
      expect(stoppedReport.stdout).toMatch(/drift: stopped with `exai stop`/);
      const afterStop = JSON.parse((await run(['list', '--json'])).stdout) as Row[];
      expect(afterStop.find((r) => r.workspace === drift)).toMatchObject({ status: 'stopped', healthy: false });
      expect((await run(['spawn', '--workspace', drift])).code).toBe(0);

      // corrupt registry: named, never reset; --fix restores it from the backup and pm2
      const before = JSON.parse((await run(['list', '--json'])).stdout) as Row[];
      writeFileSync(join(env.home, 'registry.json'), '{ garbage');
      const listed = await run(['list']);
      expect(listed.code).toBe(1);
      expect(listed.stderr).toContain(join(env.home, 'registry.json'));
      expect(readFileSync(join(env.home, 'registry.json'), 'utf8')).toBe('{ garbage');
      expect((await run(['doctor'])).stdout).toMatch(/registry/);
      const repaired = await run(['doctor', '--fix']);
      expect(repaired.code).toBe(0);
      const restored = JSON.parse((await run(['list', '--json'])).stdout) as Row[];
      expect(restored.map((r) => [r.id, r.port]).sort()).toEqual(before.map((r) => [r.id, r.port]).sort());
    } finally {
      await env.cleanup();
    }
    // Seven doctor runs, three of them repairing: ~23 s on a calm 2-core machine.
  }, 150_000);
});

describe('upgrades', () => {
  it('spawn restarts a healthy daemon that runs another exai version', async () => {
    const env = makeTestEnv();
    try {
      // An "old" install: the same build with another version in package.json.
      const old = join(env.dir, 'old-exai');
      mkdirSync(old);
      cpSync(join(ROOT, 'dist'), join(old, 'dist'), { recursive: true });
      cpSync(join(ROOT, 'ecosystem.config.js'), join(old, 'ecosystem.config.js'));
      const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
      writeFileSync(join(old, 'package.json'), JSON.stringify({ ...pkg, version: '0.0.0-old' }));
      symlinkSync(join(ROOT, 'node_modules'), join(old, 'node_modules'));

      const dir = env.workspace('upgraded');
      const first = JSON.parse((await runCli(['spawn', '--workspace', dir, '--json'], env.env)).stdout) as { name: string; port: number };
      expect((await runPm2(['delete', first.name], env.env)).code).toBe(0);
      expect((await runPm2(['start', join(old, 'ecosystem.config.js')], env.env)).code).toBe(0);
      const oldHealth = await waitFor(() => getHealth(first.port).catch(() => undefined), { what: 'the old daemon' });
      expect(oldHealth.version).toBe('0.0.0-old');

      const res = await runCli(['spawn', '--workspace', dir, '--json'], env.env);
      expect(res.code).toBe(0);
      const again = JSON.parse(res.stdout) as { reused: boolean; port: number; pid: number };
      expect(again.reused).toBe(false);
      expect(again.port).toBe(first.port);
      const health = await getHealth(first.port);
      expect(health.version).toBe(pkg.version);
      expect(health.pid).toBe(again.pid);
    } finally {
      await env.cleanup();
    }
  });
});

describe('upstream problems are visible from the CLI', () => {
  it('spawn, list and doctor show a broken servers.json and an upstream that keeps crashing', async () => {
    const broken = t.workspace('broken-servers');
    mkdirSync(join(broken, '.exai'));
    writeFileSync(join(broken, '.exai', 'servers.json'), '{ "servers": { "x": { "args": 5 } } }');
    const spawned = await runCli(['spawn', '--workspace', broken, '--json'], t.env);
    expect(spawned.code).toBe(0);
    expect((JSON.parse(spawned.stdout) as { upstreamsConfigError?: string }).upstreamsConfigError).toMatch(/servers\.json/);
    expect(spawned.stderr).toMatch(/warning: .*servers\.json/);

    const crashing = t.workspace('crashing-upstream');
    mkdirSync(join(crashing, '.exai'));
    writeFileSync(join(crashing, '.exai', 'servers.json'), JSON.stringify({ servers: { dies: { command: process.execPath, args: ['-e', 'process.exit(3)'] } } }));
    await spawnWs(crashing);
    const row = await waitFor(
      async () => {
        const r = (await list()).find((x) => x.workspace === crashing);
        return r?.upstreams?.[0]?.state === 'failed' ? r : undefined;
      },
      { what: 'the crashing upstream to be marked failed', timeoutMs: 60_000 },
    );
    expect(row.upstreams?.[0]?.name).toBe('dies');
    const brokenRow = (await list()).find((x) => x.workspace === broken)!;
    expect(brokenRow.upstreamsConfigError).toMatch(/servers\.json/);
    expect(brokenRow.healthy).toBe(true);

    const doctor = await runCli(['doctor'], t.env);
    expect(doctor.code).toBe(1);
    expect(doctor.stdout).toMatch(/upstream dies failed/);
    expect(doctor.stdout).toMatch(/broken-servers.*servers\.json/);
    await ok(['remove', '--workspace', broken]);
    await ok(['remove', '--workspace', crashing]);
  });
});
