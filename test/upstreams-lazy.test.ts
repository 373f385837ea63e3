/**
 * Lazy and idle upstreams under pm2 (DESIGN.md "Upstreams"; issue 14): a lazy server is not
 * started with the daemon; its catalog is cached in EXAI_HOME, so a fresh daemon lists its tools
 * without starting it and the first call starts it; with no cache the first list starts it; an
 * unused one stops after its idleTimeout (a requested stop: no restart counted, not failed)
 * and the next call starts it again; a changed spec does not serve the old catalog; a
 * subscription or a call in flight keeps it up. Real pm2, daemon, shim, client and servers.
 */
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { UpstreamStatus } from '../src/daemon/upstreams/upstream.js';
import type { SpawnResult } from '../src/start/spawn.js';
import { ROOT, makeTestEnv, runCli, waitFor, type TestEnv } from './helpers/env.js';
import { connectStrict, exaiStatus, writtenEntry } from './helpers/strict-client.js';
import { everythingEntry, textOf, writeServers, type ServerEntry } from './upstreams-helpers.js';
import { isAlive } from './helpers/daemon.js';

let t: TestEnv;
beforeAll(() => {
  t = makeTestEnv();
});
afterAll(async () => {
  await t.cleanup();
});

const CATALOG_SERVER = join(ROOT, 'test', 'fixtures', 'catalog-server.mjs');
/** Short enough for a test; the idle check looks every tenth of it. */
const IDLE = '1500ms';
const IDLE_MS = 1_500;

const catalogEntry = (env: Record<string, string>): ServerEntry => ({ command: process.execPath, args: [CATALOG_SERVER], env, lifecycle: 'lazy', idleTimeout: IDLE });

async function spawn(ws: string): Promise<SpawnResult> {
  const res = await runCli(['spawn', '--workspace', ws, '--json'], t.env);
  expect(res.code, res.stderr).toBe(0);
  return JSON.parse(res.stdout) as SpawnResult;
}

async function restart(ws: string): Promise<void> {
  const res = await runCli(['restart', '--workspace', ws, '--json'], t.env);
  expect(res.code, res.stderr).toBe(0);
}

type Session = Awaited<ReturnType<typeof connectStrict>>;
async function session(ws: string, body: (client: Client, s: Session) => Promise<void>): Promise<void> {
  const s = await connectStrict(writtenEntry(ws), join(t.dir, 'client-home'));
  try {
    await body(s.client, s);
  } finally {
    await s.close();
  }
}

async function upstream(client: Client, name: string): Promise<UpstreamStatus> {
  const status = await exaiStatus(client);
  const found = (status.upstreams as UpstreamStatus[]).find((u) => u.name === name);
  if (!found) throw new Error(`no upstream ${name} in ${JSON.stringify(status.upstreams)}`);
  return found;
}

const toolNames = async (client: Client) => (await client.listTools()).tools.map((x) => x.name).sort();

async function waitIdle(client: Client, name: string): Promise<UpstreamStatus> {
  return waitFor(async () => {
    const u = await upstream(client, name);
    return u.state === 'idle' ? u : undefined;
  }, { what: `${name} to stop as idle`, timeoutMs: 30_000, intervalMs: 100 });
}

const catalogFile = (id: string) => join(t.home, 'catalogs', `${id}.json`);

describe('a lazy upstream', () => {
  it('is listed from the cache by a fresh daemon without running, started by the first call, stopped when idle, started again', async () => {
    const ws = t.workspace('lazy-cache');
    writeServers(ws, { ev: { ...everythingEntry(), lifecycle: 'lazy', idleTimeout: IDLE } });
    const spawned = await spawn(ws);

    // First daemon: not started with it; the first list learns the catalog (no cache yet).
    await session(ws, async (client) => {
      expect(await upstream(client, 'ev')).toMatchObject({ state: 'idle', lifecycle: 'lazy', pid: null, tools: 0 });
      expect(await toolNames(client)).toContain('ev__echo');
      const first = await upstream(client, 'ev');
      expect(first).toMatchObject({ state: 'up', restarts: 0 });
      const idled = await waitIdle(client, 'ev');
      expect(idled).toMatchObject({ pid: null, restarts: 0 });
      await waitFor(() => (isAlive(first.pid!) ? undefined : true), { what: 'the idle upstream process to exit' });
    });
    const file = catalogFile(spawned.id);
    const cached = JSON.parse(readFileSync(file, 'utf8')) as { servers: Record<string, { catalog: { tools: { name: string }[] } }> };
    expect(cached.servers.ev?.catalog.tools.map((x) => x.name)).toContain('echo');
    if (process.platform !== 'win32') expect(statSync(file).mode & 0o777).toBe(0o600);

    // A fresh daemon: the cached tools are listed, nothing runs until a call.
    await restart(ws);
    await session(ws, async (client) => {
      const before = await upstream(client, 'ev');
      expect(before).toMatchObject({ state: 'idle', pid: null, restarts: 0 });
      expect(before.tools).toBe(cached.servers.ev!.catalog.tools.length);
      const names = await toolNames(client);
      expect(names).toContain('ev__echo');
      expect(await upstream(client, 'ev')).toMatchObject({ state: 'idle', pid: null });

      const echoed = await client.callTool({ name: 'ev__echo', arguments: { message: 'wake up' } });
      expect(textOf(echoed)).toContain('wake up');
      const running = await upstream(client, 'ev');
      expect(running).toMatchObject({ state: 'up', restarts: 0 });
      expect(isAlive(running.pid!)).toBe(true);

      // Unused for its idleTimeout: stopped as a requested stop, its process gone.
      const idle = await waitIdle(client, 'ev');
      expect(idle).toMatchObject({ state: 'idle', pid: null, restarts: 0 });
      await waitFor(() => (isAlive(running.pid!) ? undefined : true), { what: 'the idle upstream process to exit' });
      expect(idle.lastError).toBeNull();
      // Still listed while idle; the next call starts it again.
      expect(await toolNames(client)).toEqual(names);
      const again = await client.callTool({ name: 'ev__echo', arguments: { message: 'again' } });
      expect(textOf(again)).toContain('again');
      const second = await upstream(client, 'ev');
      expect(second).toMatchObject({ state: 'up', restarts: 0 });
      expect(second.pid).not.toBe(running.pid);
    });

    // exai list and doctor: an idle upstream is no failure.
    await waitFor(async () => {
      const rows = JSON.parse((await runCli(['list', '--json'], t.env)).stdout) as { id: string; upstreams?: UpstreamStatus[] }[];
      return rows.find((r) => r.id === spawned.id)?.upstreams?.[0]?.state === 'idle' ? true : undefined;
    }, { what: 'exai list to show ev idle', timeoutMs: 30_000 });
    const listed = await runCli(['list'], t.env);
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stderr).not.toMatch(/upstream ev/);
    expect(listed.stdout).toMatch(/ 0\/1, 1 idle /);
    const doctor = JSON.parse((await runCli(['doctor', '--json'], t.env)).stdout) as { findings: { scope: string; check: string; status: string }[] };
    expect(doctor.findings.filter((f) => f.scope === ws && f.status === 'problem')).toEqual([]);
  });

  it('whose spec changed is not listed with the old catalog: its new tools appear, the old ones are gone', async () => {
    const ws = t.workspace('lazy-spec');
    writeServers(ws, { cat: catalogEntry({ CATALOG_TOOLS: 'alpha,beta' }) });
    await spawn(ws);
    await session(ws, async (client) => {
      expect(await toolNames(client)).toEqual(expect.arrayContaining(['cat__alpha', 'cat__beta']));
      await waitIdle(client, 'cat');
    });
    writeServers(ws, { cat: catalogEntry({ CATALOG_TOOLS: 'gamma' }) });
    await restart(ws);
    await session(ws, async (client) => {
      // The cache is keyed by the spec: nothing cached for this one, so the list starts it.
      const names = await toolNames(client);
      expect(names).toContain('cat__gamma');
      expect(names.some((n) => n === 'cat__alpha' || n === 'cat__beta')).toBe(false);
      expect((await upstream(client, 'cat')).state).toBe('up');
    });
  });

  it('that comes up with another catalog than the cached one tells sessions (list_changed)', async () => {
    const ws = t.workspace('lazy-changed');
    const tools = join(ws, 'tools.txt');
    writeFileSync(tools, 'one,two');
    writeServers(ws, { cat: catalogEntry({ CATALOG_FILE: tools }) });
    await spawn(ws);
    await session(ws, async (client) => {
      expect(await toolNames(client)).toEqual(expect.arrayContaining(['cat__one', 'cat__two']));
      await waitIdle(client, 'cat');
    });
    // Same spec, but the server will offer something else when it next starts.
    writeFileSync(tools, 'one,three');
    await restart(ws);
    await session(ws, async (client) => {
      let changed = 0;
      client.setNotificationHandler(ToolListChangedNotificationSchema, () => void changed++);
      expect(await toolNames(client)).toEqual(expect.arrayContaining(['cat__one', 'cat__two']));
      expect(textOf(await client.callTool({ name: 'cat__one', arguments: {} }))).toMatch(/^one from \d+$/);
      await waitFor(() => (changed > 0 ? true : undefined), { what: 'tools/list_changed' });
      const names = await toolNames(client);
      expect(names).toContain('cat__three');
      expect(names).not.toContain('cat__two');
    });
  });

  it('stays up past its idleTimeout while a session is subscribed to it or a call runs, and idles after', async () => {
    const ws = t.workspace('lazy-busy');
    writeServers(ws, { cat: catalogEntry({ CATALOG_TOOLS: 'ping' }) });
    await spawn(ws);
    await session(ws, async (client) => {
      // A subscription starts it (routed to it) and keeps it up.
      await client.subscribeResource({ uri: 'catalog://state' });
      const subscribed = await upstream(client, 'cat');
      expect(subscribed.state).toBe('up');
      const since = Date.now();
      await waitFor(() => (Date.now() - since > 3 * IDLE_MS ? true : undefined), { what: 'three idle timeouts', intervalMs: 100 });
      expect(await upstream(client, 'cat')).toMatchObject({ state: 'up', pid: subscribed.pid });
      await client.unsubscribeResource({ uri: 'catalog://state' });
      await waitIdle(client, 'cat');

      // A call longer than the timeout: the same process answers it, then it idles.
      const result = await client.callTool({ name: 'cat__wait', arguments: { ms: 3 * IDLE_MS } }, undefined, { timeout: 60_000 });
      const pid = Number(/in (\d+)$/.exec(textOf(result))?.[1]);
      expect(result.isError).toBeFalsy();
      expect(isAlive(pid)).toBe(true);
      expect(await upstream(client, 'cat')).toMatchObject({ state: 'up', pid, restarts: 0 });
      await waitIdle(client, 'cat');
      await waitFor(() => (isAlive(pid) ? undefined : true), { what: 'the idle upstream process to exit' });
    });
  });
});
