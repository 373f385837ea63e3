/**
 * An idle daemon exits and comes back on demand (DESIGN.md "Lifecycle"; issue 14): with no
 * client session for its idle timeout it exits with its idle code, pm2 leaves it stopped, and
 * `exai list`/`doctor` call it idle and healthy; an open session or a long call keeps it up;
 * the next client wakes it on the same port, and five clients at once wake one daemon.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT_IDLE } from '../src/common/exit-codes.js';
import { isIdleMarked } from '../src/workspace/idle-marker.js';
import type { ListRow } from '../src/fleet/list.js';
import type { SpawnResult } from '../src/start/spawn.js';
import { getHealth } from './helpers/daemon.js';
import { makeTestEnv, pm2Kill, runCli, runPm2, waitFor, type TestEnv } from './helpers/env.js';
import { squat } from './helpers/squatter.js';
import { connectStrict, exaiStatus, writtenEntry } from './helpers/strict-client.js';
import { everythingEntry, writeServers } from './upstreams-helpers.js';
import { connectV2 } from './helpers/eras.js';
import { join } from 'node:path';

let t: TestEnv;
beforeAll(async () => {
  t = makeTestEnv();
  await t.startPm2();
});
afterAll(async () => {
  await t.cleanup();
});

/** Short enough for a test, long enough that "not before" means something on a busy machine. */
const IDLE = '3s';
const IDLE_MS = 3_000;

// Every test runs in a home of its own (t.isolated), on the file's pm2 unless it kills pm2, so
// the tests run concurrently: most of their time is the daemon's idle clock, not CPU.
async function spawnIdle(e: TestEnv, name: string): Promise<SpawnResult & { at: number }> {
  const res = await runCli(['spawn', '--workspace', e.workspace(name), '--idle-timeout', IDLE, '--json'], e.env);
  expect(res.code, res.stderr).toBe(0);
  return { ...(JSON.parse(res.stdout) as SpawnResult), at: Date.now() };
}

type App = { name: string; pid: number; pm2_env: { status: string; exit_code?: number; restart_time?: number } };
async function app(e: TestEnv, name: string): Promise<App | undefined> {
  const res = await runPm2(['jlist'], e.env);
  const line = res.stdout.split('\n').find((l) => l.startsWith('['));
  return (JSON.parse(line ?? '[]') as App[]).find((a) => a.name === name);
}

async function waitIdle(e: TestEnv, spawned: SpawnResult, timeoutMs = 60_000): Promise<App> {
  // The daemon's own event first (its idle marker, a cheap file check), then pm2's view: each
  // `pm2 jlist` is a node process, and ten a second for every wait loaded the machine.
  await waitFor(() => (isIdleMarked(e.home, spawned.id) ? true : undefined), { what: `${spawned.name} to mark itself idle`, timeoutMs, intervalMs: 50 });
  return waitFor(async () => {
    const a = await app(e, spawned.name);
    return a?.pm2_env.status === 'stopped' ? a : undefined;
  }, { what: `${spawned.name} to exit idle`, timeoutMs, intervalMs: 250 });
}

async function listRow(e: TestEnv, id: string): Promise<ListRow> {
  const res = await runCli(['list', '--json'], e.env);
  expect(res.code, res.stderr).toBe(0);
  return (JSON.parse(res.stdout) as ListRow[]).find((r) => r.id === id)!;
}

/** Waits until `ms` have passed since `from` (a wall-clock span the test is about, not a readiness wait). */
async function passed(from: number, ms: number, what: string): Promise<void> {
  await waitFor(() => (Date.now() - from > ms ? true : undefined), { what, intervalMs: 100 });
}

describe.concurrent('a daemon with no client for its idle timeout', () => {
  it('exits with its idle code after the timeout, not before; pm2 leaves it stopped; list says idle, doctor ok', async () => {
    const e = t.isolated('idle-exit');
    const spawned = await spawnIdle(e, 'idle-exit');
    const stopped = await waitIdle(e, spawned);
    // Not before: by the daemon's own clock, from listening to deciding it is idle.
    const logs = (await runCli(['logs', '--workspace', spawned.workspace, '--json'], e.env)).stdout.trim().split('\n').map((l) => JSON.parse(l) as { time: string; line: string });
    const listening = logs.find((l) => l.line.includes('listening on'));
    const exiting = logs.find((l) => l.line.includes('with no client: exiting'));
    expect(listening && exiting, JSON.stringify(logs)).toBeTruthy();
    expect(Date.parse(exiting!.time) - Date.parse(listening!.time)).toBeGreaterThanOrEqual(IDLE_MS);
    expect(stopped.pm2_env.exit_code).toBe(EXIT_IDLE);
    expect(stopped.pid).toBe(0);
    // Not restarted: still stopped, same restart count, a while later.
    await passed(spawned.at, 3 * IDLE_MS, 'three timeouts to pass');
    const again = (await app(e, spawned.name))!;
    expect(again.pm2_env.status).toBe('stopped');
    expect(again.pm2_env.restart_time).toBe(stopped.pm2_env.restart_time);
    expect(await listRow(e, spawned.id)).toMatchObject({ status: 'idle', pid: null, healthy: false });
    const doctor = JSON.parse((await runCli(['doctor', '--json'], e.env)).stdout) as { findings: { scope: string; check: string; status: string; message: string }[] };
    const daemon = doctor.findings.find((f) => f.scope === spawned.workspace && f.check === 'daemon');
    expect(daemon).toMatchObject({ status: 'ok' });
    expect(daemon?.message).toMatch(/idle/);
  });

  it('stays up while a client session is open, and idles once it closes', async () => {
    const e = t.isolated('idle-session');
    const spawned = await spawnIdle(e, 'idle-session');
    const session = await connectStrict(writtenEntry(spawned.workspace), join(e.dir, 'client-home'));
    // Measured from the session's own daemon: on a busy machine the spawned one may have idled
    // before the client got there, and the shim woke another (that is the next describe's case).
    const first = (await exaiStatus(session.client)).pid;
    const opened = Date.now();
    try {
      // Three timeouts with a session open: still the same daemon.
      await passed(opened, 3 * IDLE_MS, 'three timeouts');
      expect((await exaiStatus(session.client)).pid).toBe(first);
      expect((await app(e, spawned.name))?.pm2_env.status).toBe('online');
    } finally {
      await session.close();
    }
    const closed = Date.now();
    await waitIdle(e, spawned);
    // The daemon looks every tenth of the timeout, so it may have seen the session last one tick before it closed.
    expect(Date.now() - closed).toBeGreaterThanOrEqual(IDLE_MS - IDLE_MS / 10 - 50);
  });

  it('stays up while a 2026-07-28 client (no initialize) is connected, from its first request', async () => {
    const e = t.isolated('idle-modern');
    const spawned = await spawnIdle(e, 'idle-modern');
    const session = await connectV2(spawned.workspace, join(e.dir, 'client-home'), { pin: '2026-07-28' });
    // The SDK probes server/discover from a short-lived sibling process: the client's own
    // connection says nothing until its first request (clients list their tools at once).
    await session.client.listTools();
    const pidOf = async () => ((await session.client.callTool({ name: 'exai_status', arguments: {} })).structuredContent as { pid: number }).pid;
    const first = await pidOf(); // the daemon this session reached (see above)
    const opened = Date.now();
    try {
      await passed(opened, 3 * IDLE_MS, 'three timeouts');
      expect(await pidOf()).toBe(first);
    } finally {
      await session.close();
    }
    await waitIdle(e, spawned);
  });

  it('stays up through a call that runs longer than the timeout', async () => {
    const e = t.isolated('idle-long-call');
    const ws = e.workspace('idle-long-call');
    writeServers(ws, { ev: everythingEntry() });
    const res = await runCli(['spawn', '--workspace', ws, '--idle-timeout', '2s', '--json'], e.env);
    expect(res.code, res.stderr).toBe(0);
    const session = await connectStrict(writtenEntry(ws), join(e.dir, 'client-home'));
    try {
      await waitFor(async () => ((await session.client.listTools()).tools.some((x) => x.name === 'ev__trigger-long-running-operation') ? true : undefined), { what: 'the ev tools' });
      // The daemon this session reached (the spawned one may have idled before the client came).
      const first = (await exaiStatus(session.client)).pid;
      const result = await session.client.callTool({ name: 'ev__trigger-long-running-operation', arguments: { duration: 5, steps: 5 } }, undefined, { timeout: 60_000 });
      expect(result.isError).toBeFalsy();
      expect((await exaiStatus(session.client)).pid).toBe(first);
    } finally {
      await session.close();
    }
  });
});

describe.concurrent('waking an idle workspace', () => {
  it('the first request of a client is answered by a daemon started on the same port', async () => {
    const e = t.isolated('wake-one');
    const spawned = await spawnIdle(e, 'wake-one');
    await waitIdle(e, spawned);
    await expect(getHealth(spawned.port, 500)).rejects.toThrow();
    const session = await connectStrict(writtenEntry(spawned.workspace), join(e.dir, 'client-home'));
    try {
      const status = await exaiStatus(session.client);
      expect(status.port).toBe(spawned.port);
      expect(status.pid).not.toBe(spawned.pid);
    } finally {
      await session.close();
    }
  });

  it('five clients at once start one daemon', async () => {
    const e = t.isolated('wake-five');
    const spawned = await spawnIdle(e, 'wake-five');
    await waitIdle(e, spawned);
    const before = (await app(e, spawned.name))!.pm2_env.restart_time ?? 0;
    const sessions = await Promise.all(Array.from({ length: 5 }, () => connectStrict(writtenEntry(spawned.workspace), join(e.dir, 'client-home'))));
    try {
      const pids = await Promise.all(sessions.map(async (s) => (await exaiStatus(s.client)).pid));
      expect(new Set(pids).size).toBe(1);
      const after = await app(e, spawned.name);
      expect(after?.pid).toBe(pids[0]);
      // One start, not five: the app was started once since it idled.
      expect((after?.pm2_env.restart_time ?? 0) - before).toBeLessThanOrEqual(1);
    } finally {
      await Promise.all(sessions.map((s) => s.close()));
    }
  });

  it('`exai spawn` wakes it too, on the same port', async () => {
    const e = t.isolated('wake-spawn');
    const spawned = await spawnIdle(e, 'wake-spawn');
    await waitIdle(e, spawned);
    const res = await runCli(['spawn', '--workspace', spawned.workspace, '--json'], e.env);
    expect(res.code, res.stderr).toBe(0);
    const woken = JSON.parse(res.stdout) as SpawnResult;
    expect(woken.port).toBe(spawned.port);
    expect(woken.reused).toBe(false);
    expect((await getHealth(spawned.port)).pid).toBe(woken.pid);
  });
});

describe.concurrent('an idle workspace when pm2 dies', () => {
  it('stays asleep when the fleet comes back and under `pm2 resurrect`, until a client wakes it', async () => {
    const e = t.isolated('asleep-through-reboot', { ownPm2: true });
    const spawned = await spawnIdle(e, 'asleep-through-reboot');
    await waitIdle(e, spawned);
    expect((await runPm2(['save'], e.env)).code).toBe(0);
    await pm2Kill(e.pm2Home);
    // The next exai command brings the fleet back, but not this one.
    expect(await listRow(e, spawned.id)).toMatchObject({ status: 'idle', pid: null });
    expect(await app(e, spawned.name)).toBeUndefined();
    // `pm2 resurrect` (what `pm2 startup` runs at boot) starts it; it goes straight back to sleep.
    expect((await runPm2(['resurrect'], e.env)).code).toBe(0);
    const back = await waitIdle(e, spawned);
    expect(back.pm2_env.exit_code).toBe(EXIT_IDLE);
    await expect(getHealth(spawned.port, 500)).rejects.toThrow();
    expect((await listRow(e, spawned.id)).status).toBe('idle');
    const session = await connectStrict(writtenEntry(spawned.workspace), join(e.dir, 'client-home'));
    try {
      expect((await exaiStatus(session.client)).port).toBe(spawned.port);
    } finally {
      await session.close();
    }
  });
});

describe.concurrent('an idle workspace whose port another program took', () => {
  it('is listed with who holds the port, and a client wakes it on a free port instead of waiting on the squatter', async () => {
    const e = t.isolated('idle-squatted');
    const spawned = await spawnIdle(e, 'idle-squatted');
    await waitIdle(e, spawned);
    const squatter = await squat(spawned.port);
    try {
      const row = await listRow(e, spawned.id);
      expect(row.status).toBe('idle');
      expect(row.portHolder).toContain(`pid ${squatter.pid}`);
      // Before, the shim retried the squatter until its 30 s bound and then failed every request.
      const session = await connectStrict(writtenEntry(spawned.workspace), join(e.dir, 'client-home'));
      try {
        const status = await exaiStatus(session.client);
        expect(status.port).not.toBe(spawned.port);
        // The move stays in the range `exai spawn` used: the config carries EXAI_PORT_BASE/STRIDE.
        expect((status.port - e.portBase) % e.portStride).toBe(0);
        expect(status.port).toBeGreaterThan(e.portBase);
        expect(session.stderr()).toMatch(/is held by something that is not .*daemon; starting it/);
      } finally {
        await session.close();
      }
    } finally {
      await squatter.close();
    }
  });

  it('`exai restart --all` leaves it asleep; `exai restart --workspace` wakes it', async () => {
    const e = t.isolated('idle-restart-all');
    const spawned = await spawnIdle(e, 'idle-restart-all');
    await waitIdle(e, spawned);
    const all = await runCli(['restart', '--all'], e.env);
    expect(all.code, all.stderr).toBe(0);
    expect(all.stdout).toContain(`skipped    ${spawned.name}  idle (it wakes with its next client)`);
    expect((await listRow(e, spawned.id)).status).toBe('idle');
    const one = await runCli(['restart', '--workspace', spawned.workspace], e.env);
    expect(one.code, one.stderr).toBe(0);
    // Not checked with list: with a 3 s idle timeout it may be asleep again by then.
    expect(one.stdout).toMatch(new RegExp(`^restarted  ${spawned.name}  port ${spawned.port}  pid \\d+`, 'm'));
  }, 120_000);

  it('stopped while idle, it is listed as stopped', async () => {
    const e = t.isolated('idle-then-stopped');
    const spawned = await spawnIdle(e, 'idle-then-stopped');
    await waitIdle(e, spawned);
    expect((await runCli(['stop', '--workspace', spawned.workspace], e.env)).code).toBe(0);
    expect((await listRow(e, spawned.id)).status).toBe('stopped');
  });
});
