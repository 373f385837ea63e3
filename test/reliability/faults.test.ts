/**
 * Faults a user's machine produces: a daemon killed mid-call, the pm2 daemon killed, a
 * corrupted registry, a workspace folder deleted under a running daemon, and locks left by
 * killed exai processes. Everything real: pm2, daemons, CLI processes, the shim.
 * (EXAI_HOME not writable / disk full: home-faults.test.ts.)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { afterAll, beforeAll, describe, expect, it, type TestContext } from 'vitest';
import { countPm2Daemons, getHealth, isAlive } from '../helpers/daemon.js';
import { CLI, makeTestEnv, pm2Apps, ROOT, runCli, runPm2, shimTransport, spawnJson, waitFor, type TestEnv } from '../helpers/env.js';
import { connectClient, exaiStatus as statusOf } from '../helpers/mcp-client.js';
import { LINUX } from '../helpers/platform.js';
import { resolveWorkspace } from '../../src/workspace/identity.js';
import {
  expectOneLineFailure,
  listJson,
  note,
  pm2DaemonPids,
  tcpSockets,
  tokenOf,
  type SpawnJson,
} from './support.js';

let t: TestEnv;
const children: ChildProcess[] = [];
const clients: Client[] = [];

beforeAll(() => {
  t = makeTestEnv();
});
afterAll(async () => {
  for (const c of clients) await c.close().catch(() => undefined);
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await t.cleanup();
});

/** Exited, or a zombie its parent has not reaped yet (kill(pid, 0) still succeeds on those). */
function isGone(pid: number): boolean {
  if (!LINUX) return !isAlive(pid); // no zombies to tell apart without /proc
  try {
    return /^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return true;
  }
}

/** True once bytes sit unread in the receive queue of a connection accepted on `port`: a request in flight. */
function requestQueuedAt(port: number): true | undefined {
  return tcpSockets().some((s) => s.state === '01' && s.port === port && s.rxQueue > 0) ? true : undefined;
}

/**
 * Freezes the daemon (SIGSTOP), starts a call, waits until its bytes sit in the daemon's
 * socket, then kill -9. Returns how the call ended and how long after the kill.
 */
async function killMidCall(r: SpawnJson, call: () => Promise<unknown>): Promise<{ outcome: unknown; settledMs: number }> {
  process.kill(r.pid, 'SIGSTOP');
  let killedAt = 0;
  try {
    const pending = call().then(
      (value) => ({ resolved: value }),
      (err: unknown) => ({ rejected: err }),
    );
    await waitFor(() => requestQueuedAt(r.port), { what: 'the call to reach the frozen daemon' });
    process.kill(r.pid, 'SIGKILL');
    killedAt = Date.now();
    const outcome = await pending;
    return { outcome, settledMs: Date.now() - killedAt };
  } finally {
    if (!killedAt) process.kill(r.pid, 'SIGCONT');
  }
}

async function backAfterRestart(r: SpawnJson) {
  return waitFor(
    async () => {
      const h = await getHealth(r.port).catch(() => undefined);
      return h && h.pid !== r.pid ? h : undefined;
    },
    { timeoutMs: 30_000, what: 'pm2 to restart the daemon on its port' },
  );
}

describe('faults', () => {
  // SIGSTOP and /proc/net/tcp: Linux only (WINDOWS.md #31).
  it.runIf(LINUX)('[F1] daemon kill -9 in the middle of a call (SDK client on the WebSocket): the call fails cleanly, the next one succeeds after pm2 restarts it', async (ctx) => {
    const dir = t.workspace('f1-ws');
    const r = await spawnJson(t.env, dir);
    const client = await connectClient(r.port, tokenOf(t, r.id));
    clients.push(client);
    expect((await statusOf(client)).pid).toBe(r.pid);

    const { outcome, settledMs } = await killMidCall(r, () => statusOf(client));
    expect(outcome).toHaveProperty('rejected');
    const err = (outcome as { rejected: unknown }).rejected;
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/connection closed/i);
    await waitFor(() => (isGone(r.pid) ? true : undefined), { what: 'the killed daemon to be gone' });

    const health = await backAfterRestart(r);
    const again = await connectClient(r.port, tokenOf(t, r.id));
    clients.push(again);
    const status = await statusOf(again);
    expect(status).toMatchObject({ pid: health.pid, port: r.port, id: r.id });
    const row = (await listJson(t)).find((x) => x.id === r.id)!;
    expect(row).toMatchObject({ status: 'online', healthy: true, port: r.port });
    expect(row.restarts).toBeGreaterThanOrEqual(1);
    note(ctx, `call in flight (bytes queued in the frozen daemon's socket, read from /proc/net/tcp), kill -9: the call rejected with "${(err as Error).message}" ${settledMs} ms after the kill`);
    note(ctx, `pm2 restarted the daemon on the same port ${r.port} (pid ${r.pid} -> ${health.pid}, restarts ${row.restarts}); a new session's call succeeded`);
  });

  it.runIf(LINUX)('[F1] daemon kill -9 in the middle of a call made through `exai shim`: the call fails cleanly, the same session’s next call succeeds after pm2 restarts it', async (ctx) => {
    const dir = t.workspace('f1-shim');
    const r = await spawnJson(t.env, dir);
    const transport = shimTransport(t.env, r.port, dir);
    let shimStderr = '';
    transport.stderr?.on('data', (d: Buffer) => (shimStderr += d.toString()));
    const client = new Client({ name: 'f1-shim', version: '0.0.0' });
    clients.push(client);
    await client.connect(transport);
    expect((await statusOf(client)).pid).toBe(r.pid);

    const { outcome, settledMs } = await killMidCall(r, () => statusOf(client));
    // The shim must answer the lost call (an error), never leave it hanging.
    expect(outcome, shimStderr).toHaveProperty('rejected');
    const err = (outcome as { rejected: Error }).rejected;
    expect(err).toBeInstanceOf(Error);

    const health = await backAfterRestart(r);
    // Same client, same shim, no re-initialize by the client: the shim reconnected by itself.
    const status = await waitFor(() => statusOf(client).catch(() => undefined), { timeoutMs: 30_000, what: 'a call through the shim to succeed again' });
    expect(status).toMatchObject({ pid: health.pid, port: r.port, id: r.id });
    expect(transport.pid !== null && isAlive(transport.pid)).toBe(true);
    note(ctx, `through the shim: the in-flight call was answered with an error ${settledMs} ms after kill -9 ("${err.message.slice(0, 120)}")`);
    note(ctx, `the same shim session then reached the restarted daemon (pid ${r.pid} -> ${health.pid}) on port ${r.port} without the client re-initializing`);
  });

  // The registry tests corrupt the home they run in: each gets its own (home, pm2, ports), so a
  // timeout halfway cannot leave a corrupt registry.json for the tests after it.
  it('[F3] registry truncated, emptied or garbage: every command stops with one line naming the file and the fix; the file is left as it was; running daemons keep running', async (ctx) => {
    await withOwnHome((t) => registryGarbage(t, ctx));
  }, 120_000);

  it('[F3] `exai doctor --fix` restores a truncated registry from the backup, and from pm2 alone when the backup is gone too; nothing silently reset', async (ctx) => {
    await withOwnHome((t) => registryRestored(t, ctx));
  }, 120_000);

  it('[F5] workspace folder deleted while its daemon runs: `doctor` reports it with the command to run, and that `remove` cleans everything up', async (ctx) => {
    const dir = t.workspace('f5-doomed');
    const r = await spawnJson(t.env, dir);
    rmSync(dir, { recursive: true, force: true });
    expect((await getHealth(r.port)).pid).toBe(r.pid);

    const report = await runCli(['doctor', '--json'], t.env);
    expect(report.code).toBe(1);
    const findings = (JSON.parse(report.stdout) as { findings: { scope: string; status: string; message: string; fix?: string }[] }).findings;
    const finding = findings.find((f) => f.scope === dir && f.status === 'problem');
    expect(finding?.message).toMatch(/folder is gone/);
    expect(finding?.fix).toContain('exai remove --workspace');

    const removed = await runCli(['remove', '--workspace', dir, '--json'], t.env);
    expect(removed.code, removed.stderr).toBe(0);
    await waitFor(() => (isGone(r.pid) ? true : undefined), { what: 'the daemon to exit' });
    await expect(getHealth(r.port)).rejects.toThrow();
    expect(existsSync(join(t.home, 'tokens', `${r.id}.token`))).toBe(false);
    expect((await listJson(t)).some((x) => x.id === r.id)).toBe(false);
    expect((await pm2Apps(t.env)).some((x) => x.name === r.name)).toBe(false);
    expect(findingsFor(JSON.parse((await runCli(['doctor', '--json'], t.env)).stdout) as { findings: { scope: string }[] }, dir)).toHaveLength(0);
    note(ctx, `doctor: "${finding!.message}", fix: \`${finding!.fix!.replaceAll(t.dir, '<tmp>')}\``);
    note(ctx, 'after that remove: daemon process gone, port free, token deleted, registry entry and pm2 app gone, doctor silent about it');
  });

  it('[F6] locks left by kill -9 of exai processes (registry, spawn and pm2-connect locks) do not block the next command', async (ctx) => {
    const dir = t.workspace('f6-locks');
    const id = resolveWorkspace(dir).id;
    const pm2Lock = `pm2-${createHash('sha256').update(resolve(t.pm2Home)).digest('hex').slice(0, 8)}`;
    const names = ['registry', `spawn-${id}`, pm2Lock];
    for (const name of names) {
      const holder = spawn(process.execPath, [join(ROOT, 'test', 'fixtures', 'lock-hold.mjs'), t.home, name, join(t.dir, `${name}.done`)], {
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      children.push(holder);
      await new Promise<void>((res, rej) => {
        holder.stdout.setEncoding('utf8').on('data', (d: string) => d.includes('held') && res());
        holder.once('exit', (code) => rej(new Error(`lock holder exited ${code}`)));
      });
      holder.kill('SIGKILL');
      await new Promise((res) => holder.once('exit', res));
    }
    const left = readdirSync(join(t.home, 'locks')).filter((f) => f.endsWith('.lock'));
    expect(left.sort()).toEqual(names.map((n) => `${n}.lock`).sort());

    const started = Date.now();
    const r = await spawnJson(t.env, dir);
    const tookMs = Date.now() - started;
    expect(r.status).toBe('online');
    // Far below the 30 s lock timeout: a dead holder's lock is taken over at once.
    expect(tookMs).toBeLessThan(15_000);
    expect(readdirSync(join(t.home, 'locks')).filter((f) => f.endsWith('.lock'))).toEqual([]);
    note(ctx, `3 lock files left by kill -9 of their holders (${left.join(', ').replace(id, '<id>').replace(pm2Lock, 'pm2-<hash>')}); the next \`exai spawn\` took them over and finished in ${(tookMs / 1000).toFixed(1)} s (lock timeout: 30 s); no lock left afterwards`);
  });

  it('[F6] `exai spawn` killed with kill -9 halfway: the next spawn of that workspace succeeds at once and leaves one healthy daemon', async (ctx) => {
    const dir = t.workspace('f6-halfway');
    const locks = join(t.home, 'locks');
    const child = spawn(process.execPath, [CLI, 'spawn', '--workspace', dir], { env: t.env, stdio: 'ignore' });
    children.push(child);
    // Kill it while it holds a lock (it takes several in turn; any one will do).
    const held = await waitFor(
      () => {
        const files = existsSync(locks) ? readdirSync(locks).filter((f) => f.startsWith('spawn-') && f.endsWith('.lock')) : [];
        return files.length ? files : undefined;
      },
      { intervalMs: 2, what: 'the spawn to take its lock' },
    );
    child.kill('SIGKILL');
    await new Promise((res) => (child.exitCode === null && child.signalCode === null ? child.once('exit', res) : res(null)));

    const started = Date.now();
    const r = await spawnJson(t.env, dir);
    const tookMs = Date.now() - started;
    expect(tookMs).toBeLessThan(15_000);
    expect((await getHealth(r.port)).id).toBe(r.id);
    const apps = (await pm2Apps(t.env)).filter((a) => a.name === r.name);
    expect(apps).toHaveLength(1);
    expect(countPm2Daemons(t.pm2Home)).toBe(1);
    note(ctx, `killed while holding ${held.length} spawn lock(s); the next spawn finished in ${(tookMs / 1000).toFixed(1)} s with one app, one healthy daemon`);
  });
});

/** Runs `body` in a TestEnv of its own (home, pm2, ports), cleaned up however the body ends. */
async function withOwnHome(body: (t: TestEnv) => Promise<void>): Promise<void> {
  const own = makeTestEnv();
  try {
    await body(own);
  } finally {
    await own.cleanup();
  }
}

/** [F3] corrupt registries, in a home of its own. */
async function registryGarbage(t: TestEnv, ctx: TestContext): Promise<void> {
  const a = await spawnJson(t.env, t.workspace('f3-a'));
  const b = await spawnJson(t.env, t.workspace('f3-b'));
  const file = join(t.home, 'registry.json');
  const good = readFileSync(file);
  const appsBefore = (await pm2Apps(t.env)).map((x) => x.name).sort();
  const corruptions: [string, Buffer][] = [
    ['truncated mid-file', good.subarray(0, Math.floor(good.length / 2))],
    ['truncated to 0 bytes', Buffer.alloc(0)],
    ['binary garbage', Buffer.from(Array.from({ length: 512 }, (_, i) => (i * 7919 + 13) % 256))],
    ['valid JSON, wrong shape', Buffer.from('{"version":1,"workspaces":[]}')],
  ];
  const fresh = t.workspace('f3-new');
  for (const [what, bytes] of corruptions) {
    writeFileSync(file, bytes);
    for (const args of [['list'], ['spawn', '--workspace', fresh], ['stop', '--all'], ['remove', '--workspace', t.workspace('f3-a')]]) {
      const line = expectOneLineFailure(await runCli(args, t.env));
      expect(line, `${what}: exai ${args[0]}`).toContain('REGISTRY_CORRUPT');
      expect(line).toContain(file);
      expect(line).toContain('exai doctor --fix');
      expect(readFileSync(file).equals(bytes), `${what}: exai ${args[0]} changed the registry`).toBe(true);
    }
    note(ctx, `${what}: list, spawn, stop --all and remove each exit 1 with one REGISTRY_CORRUPT line naming ${file.replaceAll(t.dir, '<tmp>')} and \`exai doctor --fix\`; file bytes unchanged`);
  }
  expect((await pm2Apps(t.env)).map((x) => x.name).sort()).toEqual(appsBefore);
  expect(existsSync(join(fresh, '.vscode'))).toBe(false);
  for (const w of [a, b]) expect((await getHealth(w.port)).pid).toBe(w.pid);
  note(ctx, 'no pm2 app started, stopped or deleted meanwhile; both running daemons kept their pids');
}

/** [F3] doctor --fix, in a home of its own: two workspaces, then the registry truncated. */
async function registryRestored(t: TestEnv, ctx: TestContext): Promise<void> {
  const dirs = [t.workspace('f3-a'), t.workspace('f3-b')];
  for (const dir of dirs) await spawnJson(t.env, dir);
  const before = await listJson(t);
  const file = join(t.home, 'registry.json');
  const backup = join(t.home, 'registry.json.bak');
  const good = readFileSync(file);
  const pairs = (rows: { id: string; port: number; workspace: string }[]) => rows.map((r) => `${r.id}:${r.port}:${r.workspace}`).sort();

  // 1. truncated, backup present
  writeFileSync(file, good.subarray(0, 40));
  const diagnosed = await runCli(['doctor'], t.env);
  expect(diagnosed.code).toBe(1);
  expect(diagnosed.stdout).toContain(file);
  expect(readFileSync(file, 'utf8')).toBe(good.subarray(0, 40).toString());
  const fixed = await runCli(['doctor', '--fix'], t.env);
  expect(fixed.code, fixed.stdout + fixed.stderr).toBe(0);
  expect(pairs(await listJson(t))).toEqual(pairs(before));
  note(ctx, `truncated to 40 bytes: \`exai doctor\` exit 1 naming the file (left untouched); \`--fix\` exit 0; all ${before.length} workspaces back with the same id, port and path`);

  // 2. truncated and no backup: pm2's app list is the only source
  writeFileSync(file, good.subarray(0, 40));
  unlinkSync(backup);
  const rebuilt = await runCli(['doctor', '--fix'], t.env);
  expect(rebuilt.code, rebuilt.stdout + rebuilt.stderr).toBe(0);
  const after = await listJson(t);
  expect(pairs(after)).toEqual(pairs(before));
  expect(after.every((r) => r.healthy)).toBe(true);
  // The rebuilt registry still knows which client configs exai wrote (or `remove` would leave them behind).
  const entries = (JSON.parse(readFileSync(file, 'utf8')) as { workspaces: Record<string, { workspace: string; clients: string[] }> }).workspaces;
  for (const dir of dirs) {
    const entry = Object.values(entries).find((e) => e.workspace === dir);
    expect(entry?.clients, `${dir}: clients after a rebuild from pm2`).toEqual(['vscode']);
  }
  const again = await spawnJson(t.env, dirs[0]!);
  expect(again.reused).toBe(true);
  note(ctx, `truncated and backup deleted: \`doctor --fix\` rebuilt all ${after.length} entries from pm2 (same ids, ports, paths, recorded client configs); all healthy; spawn reuses the daemon`);
}

function findingsFor(report: { findings: { scope: string; status?: string }[] }, scope: string) {
  return report.findings.filter((f) => f.scope === scope && f.status === 'problem');
}

describe('the pm2 daemon itself killed', () => {
  let p: TestEnv;
  let a: SpawnJson;
  let b: SpawnJson;

  beforeAll(async () => {
    p = makeTestEnv();
    a = await spawnJson(p.env, p.workspace('pm2-a'));
    b = await spawnJson(p.env, p.workspace('pm2-b'));
  });
  afterAll(async () => {
    await p.cleanup();
  });

  /**
   * SIGKILL of the pm2 God daemon. Its daemons outlive it briefly: each shuts down when its
   * IPC channel to pm2 closes. Waiting for that keeps the next command's outcome
   * deterministic; the window itself is covered by the orphan test below.
   */
  async function killPm2(ctx: Parameters<typeof note>[0]): Promise<void> {
    const gods = pm2DaemonPids(p.pm2Home);
    expect(gods).toHaveLength(1);
    const killedAt = Date.now();
    process.kill(gods[0]!, 'SIGKILL');
    await waitFor(() => (pm2DaemonPids(p.pm2Home).length === 0 ? true : undefined), { what: 'the pm2 daemon to die' });
    const pids = [a.pid, b.pid].filter((pid) => !isGone(pid));
    await waitFor(() => (pids.every(isGone) ? true : undefined), { what: 'the orphaned daemons to exit' });
    note(ctx, `pm2 God daemon (pid ${gods[0]}) killed with SIGKILL; its ${pids.length} daemon(s) followed it within ${Date.now() - killedAt} ms`);
  }

  function registryPairs(env: TestEnv): string[] {
    const data = JSON.parse(readFileSync(join(env.home, 'registry.json'), 'utf8')) as { workspaces: Record<string, { id: string; port: number; workspace: string }> };
    return Object.values(data.workspaces).map((e) => `${e.id}:${e.port}:${e.workspace}`).sort();
  }

  it('[F2] after the pm2 daemon is SIGKILLed, the next `exai spawn` brings pm2 back and the workspace up on its own port; the registry intact', async (ctx) => {
    const before = registryPairs(p);
    await killPm2(ctx);
    const again = await spawnJson(p.env, a.workspace);
    expect(again).toMatchObject({ port: a.port, id: a.id, status: 'online' });
    expect(countPm2Daemons(p.pm2Home)).toBe(1);
    expect((await getHealth(a.port)).id).toBe(a.id);
    expect(registryPairs(p)).toEqual(before);
    a = again;
    note(ctx, `\`exai spawn\` of workspace A: one new pm2 daemon, A healthy on its port ${a.port}, registry entries (id, port, path) identical to before`);
  });

  it('[F2] after the pm2 daemon is SIGKILLed, the next `exai list` brings pm2 back with EVERY registered workspace on its port', async (ctx) => {
    b = await spawnJson(p.env, b.workspace);
    a = await spawnJson(p.env, a.workspace);
    await killPm2(ctx);
    const rows = await listJson(p);
    note(ctx, `\`exai list\` right after: ${rows.map((r) => `${r.name.replace(/-[0-9a-f]{8}$/, '')} ${r.status}${r.healthy ? ' healthy' : ''}`).join(', ')}`);
    expect(countPm2Daemons(p.pm2Home)).toBe(1);
    for (const w of [a, b]) expect(rows.find((r) => r.id === w.id)).toMatchObject({ status: 'online', healthy: true, port: w.port });
  });

  it('[F2] a workspace stopped on purpose stays stopped when the fleet is brought back', async (ctx) => {
    a = await spawnJson(p.env, a.workspace);
    b = await spawnJson(p.env, b.workspace);
    expect((await runCli(['stop', '--workspace', b.workspace], p.env)).code).toBe(0);
    await killPm2(ctx);
    const rows = await listJson(p);
    expect(rows.find((r) => r.id === a.id)).toMatchObject({ status: 'online', healthy: true, port: a.port });
    expect(rows.find((r) => r.id === b.id)).toMatchObject({ healthy: false });
    const again = await spawnJson(p.env, b.workspace);
    expect(again.port).toBe(b.port);
    b = again;
    note(ctx, '`exai stop`ped workspace B stayed down after pm2 came back with A; `exai spawn` of B brought it up on its port');
  });

  it('[F2] a daemon orphaned by the dead pm2 daemon still holds the port: the next `exai spawn` keeps the workspace on its port', async (ctx) => {
    a = await spawnJson(p.env, a.workspace);
    // Taken out of pm2 behind exai's back (not `exai stop`: a stopped workspace's daemon refuses to run).
    expect((await runPm2(['delete', a.name], p.env)).code).toBe(0);
    await waitFor(async () => ((await getHealth(a.port).catch(() => undefined)) ? undefined : true), { what: 'the port to free' });
    const orphan = spawn(process.execPath, [CLI, 'daemon'], {
      env: { ...p.env, EXAI_WS_PORT: String(a.port), EXAI_WORKSPACE: a.workspace },
      stdio: ['ignore', 'ignore', 'ignore', 'ipc'],
    });
    children.push(orphan);
    await new Promise<void>((res, rej) => {
      orphan.on('message', (m) => m === 'ready' && res());
      orphan.once('exit', (code) => rej(new Error(`orphan daemon exited ${code}`)));
    });
    expect((await getHealth(a.port)).pid).toBe(orphan.pid);
    const res = await runCli(['spawn', '--workspace', a.workspace, '--json'], p.env);
    const again = JSON.parse(res.stdout) as SpawnJson;
    note(ctx, `port ${a.port} held by the workspace's own daemon (pid ${orphan.pid}, /health reports the same id ${a.id}): spawn answered port ${again.port}${again.movedFrom ? ` (moved from ${again.movedFrom}); stderr: ${res.stderr.trim().replaceAll(p.dir, '<tmp>')}` : ''}`);
    orphan.kill('SIGTERM');
    expect(again.port).toBe(a.port);
    expect(again.movedFrom).toBeUndefined();
  });
});

