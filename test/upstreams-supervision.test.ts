/**
 * Upstream lifecycle: configuration edits applied live, crash loops, bad files, no upstream
 * process outliving the daemon that started it; a lazy upstream whose start fails, and an
 * eager one that stops when unused (in-process gateway, real server processes).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, childExit, makeTestEnv, waitFor, type TestEnv } from './helpers/env.js';
import { Gateway } from '../src/daemon/upstreams/gateway.js';
import type { UpstreamStatus } from '../src/daemon/upstreams/upstream.js';
import {
  everythingEntry,
  filesystemEntry,
  fixtureEntry,
  methods,
  harness,
  startReporter,
  textOf,
  writeFixtureServer,
  writeServers,
  type ServerEntry,
  type TestSession,
} from './upstreams-helpers.js';
import { isAlive } from './helpers/daemon.js';

let t: TestEnv;
let fixture: string;
const cleanups: (() => Promise<unknown>)[] = [];

beforeAll(() => {
  t = makeTestEnv();
  fixture = writeFixtureServer(t.dir);
});
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});
afterAll(async () => {
  await t?.cleanup();
});

const { startGateway, session } = harness(cleanups);

const upstream = (gateway: Gateway, name: string): UpstreamStatus | undefined =>
  gateway.status().upstreams.find((u) => u.name === name);

/**
 * A process hosting a Gateway (what the daemon is, minus the WebSocket): reports its upstream
 * pids once they are up, optionally after starting a call that keeps an upstream busy.
 */
async function startHost(name: string, servers: Record<string, ServerEntry>, busyCall?: { name: string; arguments: Record<string, unknown> }) {
  const ws = t.workspace(name);
  writeServers(ws, servers);
  const sdk = (p: string) => JSON.stringify(join(ROOT, 'node_modules', '@modelcontextprotocol', 'sdk', 'dist', 'esm', p));
  const { child, report: pids } = await startReporter<number[]>(t.dir, `${name}-host`, `import { Gateway, GATEWAY_SERVER_CAPABILITIES } from ${JSON.stringify(join(ROOT, 'dist', 'daemon', 'upstreams', 'gateway.js'))};
import { Server } from ${JSON.stringify(join(ROOT, 'node_modules', '@modelcontextprotocol', 'server', 'dist', 'index.mjs'))};
import { Client } from ${sdk('client/index.js')};
import { InMemoryTransport } from ${sdk('inMemory.js')};
const gateway = new Gateway({ workspace: ${JSON.stringify(ws)} });
gateway.start();
await gateway.settled(60_000);
const busy = ${JSON.stringify(busyCall ?? null)};
if (busy) {
  const server = new Server({ name: 'host', version: '1' }, { capabilities: GATEWAY_SERVER_CAPABILITIES });
  const [a, b] = InMemoryTransport.createLinkedPair();
  await gateway.connect(server, b);
  const client = new Client({ name: 'host', version: '1' });
  await client.connect(a);
  client.callTool(busy).catch(() => {});
  // Until the call reached the server (the fixture's stderr line), not a guessed delay.
  const reached = () => gateway.status().upstreams.some((u) => (u.stderrTail ?? []).includes('waiting ' + busy.arguments.ms + ' ms'));
  while (!reached()) await new Promise((r) => setTimeout(r, 20));
}
process.stdout.write(JSON.stringify(gateway.status().upstreams.map((u) => u.pid)) + '\\n');
setInterval(() => {}, 1000);
`, cleanups);
  return { child, pids };
}

const toolNames = async (s: TestSession) => (await s.client.listTools()).tools.map((x) => x.name);

describe('configuration applied live', () => {
  it('starts added servers, restarts changed ones, stops removed ones; sessions get list_changed', async () => {
    const ws = t.workspace('live');
    writeServers(ws, { everything: everythingEntry() });
    const gateway = startGateway(ws);
    const s = await session(gateway);
    expect(await toolNames(s)).toContain('everything__echo');

    let mark = s.received.length;
    writeServers(ws, { everything: everythingEntry(), fx: fixtureEntry(fixture) });
    await waitFor(() => (upstream(gateway, 'fx')?.state === 'up' ? true : undefined), { what: 'fx added' });
    await waitFor(() => (methods(s.received.slice(mark)).includes('notifications/tools/list_changed') ? true : undefined));
    expect(await toolNames(s)).toEqual(expect.arrayContaining(['exai_status', 'everything__echo', 'fx__wait']));

    const everythingPid = upstream(gateway, 'everything')!.pid!;
    const fxPid = upstream(gateway, 'fx')!.pid!;
    writeServers(ws, { everything: everythingEntry(), fx: { ...fixtureEntry(fixture), env: { CHANGED: '1' } } });
    await waitFor(() => {
      const fx = upstream(gateway, 'fx');
      return fx?.state === 'up' && fx.pid !== fxPid ? true : undefined;
    }, { what: 'fx restarted with its new entry' });
    expect(upstream(gateway, 'everything')!.pid).toBe(everythingPid);
    await waitFor(() => (isAlive(fxPid) ? undefined : true), { what: 'the old fx process to exit' });

    mark = s.received.length;
    writeServers(ws, { fx: { ...fixtureEntry(fixture), env: { CHANGED: '1' } } });
    await waitFor(() => (upstream(gateway, 'everything') ? undefined : true), { what: 'everything removed' });
    await waitFor(() => (isAlive(everythingPid) ? undefined : true), { what: 'the everything process to exit' });
    await waitFor(() => (methods(s.received.slice(mark)).includes('notifications/tools/list_changed') ? true : undefined));
    const names = await toolNames(s);
    expect(names.some((n) => n.startsWith('everything__'))).toBe(false);
    expect(names).toContain('fx__wait');
  });

  it('serves built-ins while servers.json is broken; upstream tools appear once it is fixed', async () => {
    const ws = t.workspace('broken');
    writeServers(ws, '{"servers": { "fx": { "command": ');
    const gateway = startGateway(ws);
    const s = await session(gateway);
    expect(await toolNames(s)).toEqual(['exai_status']);
    expect(textOf(await s.client.callTool({ name: 'exai_status', arguments: {} }))).toBe('built-in ok');
    const status = gateway.status();
    expect(status.configError).toContain(join(ws, '.exai', 'servers.json'));
    expect(status.configError).toContain('not valid JSON');
    expect(status.upstreams).toEqual([]);

    const mark = s.received.length;
    writeServers(ws, { fx: fixtureEntry(fixture) });
    await waitFor(() => (methods(s.received.slice(mark)).includes('notifications/tools/list_changed') ? true : undefined), {
      what: 'list_changed after the fix',
    });
    expect(await toolNames(s)).toEqual(expect.arrayContaining(['exai_status', 'fx__wait']));
    expect(gateway.status().configError).toBeNull();

    // Breaking it again keeps what runs: a half-saved file must not take tools away.
    const pid = upstream(gateway, 'fx')!.pid;
    writeServers(ws, '{"servers": {"fx": {"command": 42}}}');
    await waitFor(() => (gateway.status().configError ? true : undefined), { what: 'the new error' });
    expect(gateway.status().configError).toMatch(/servers\.fx\.command/);
    expect(upstream(gateway, 'fx')).toMatchObject({ state: 'up', pid });
    expect(await toolNames(s)).toContain('fx__wait');
  });
});

describe('crashes', () => {
  it('marks an upstream that keeps crashing failed, with its last stderr lines, and retries when the file is saved', async () => {
    const ws = t.workspace('crashy');
    const crashy = {
      command: process.execPath,
      args: ['-e', 'console.error("loading model..."); console.error("fatal: no API key"); process.exit(3)'],
    };
    writeServers(ws, { crashy, fx: fixtureEntry(fixture) });
    const gateway = startGateway(ws, { supervision: { initialBackoffMs: 20, maxCrashes: 3 } });
    const s = await session(gateway);
    const failed = await waitFor(() => (upstream(gateway, 'crashy')?.state === 'failed' ? upstream(gateway, 'crashy') : undefined), {
      what: 'crashy to be marked failed',
    });
    expect(failed.restarts).toBe(2);
    expect(failed.pid).toBeNull();
    expect(failed.lastError).toContain('fatal: no API key');
    expect(failed.stderrTail.slice(-2)).toEqual(['loading model...', 'fatal: no API key']);
    // The other upstream is unaffected.
    expect(upstream(gateway, 'fx')?.state).toBe('up');
    expect(await toolNames(s)).toContain('fx__wait');

    writeServers(ws, { crashy, fx: fixtureEntry(fixture) });
    await waitFor(() => (upstream(gateway, 'crashy')?.state !== 'failed' ? true : undefined), { what: 'a retry after saving' });
    await waitFor(() => (upstream(gateway, 'crashy')?.state === 'failed' ? true : undefined), { what: 'crashy to fail again' });
  });

  it('reports a command that does not exist, and a cwd that does not exist', async () => {
    const ws = t.workspace('nocmd');
    writeServers(ws, {
      ghost: { command: 'exai-no-such-command-anywhere' },
      lost: { ...fixtureEntry(fixture), cwd: 'no/such/dir' },
    });
    const gateway = startGateway(ws, { supervision: { initialBackoffMs: 20, maxCrashes: 2 } });
    const failed = (name: string) => waitFor(() => (upstream(gateway, name)?.state === 'failed' ? upstream(gateway, name) : undefined));
    expect((await failed('ghost')).lastError).toMatch(/command "exai-no-such-command-anywhere" not found/);
    expect((await failed('lost')).lastError).toContain(`cwd ${JSON.stringify(join(ws, 'no/such/dir'))} does not exist`);
  });
});

describe('no orphans', () => {
  it('stops every upstream process when the gateway closes', async () => {
    const ws = t.workspace('closing');
    writeFileSync(join(ws, 'f.txt'), 'x');
    writeServers(ws, { everything: everythingEntry(), fs: filesystemEntry(ws) });
    const gateway = new Gateway({ workspace: ws });
    gateway.start();
    await gateway.settled(60_000);
    const pids = gateway.status().upstreams.map((u) => u.pid);
    expect(pids.every((p) => typeof p === 'number' && isAlive(p))).toBe(true);
    await gateway.close();
    for (const pid of pids) expect(isAlive(pid!)).toBe(false);
    expect(gateway.status().upstreams).toEqual([]);
  });

  it('upstreams exit when the process hosting the gateway is killed with SIGKILL', async () => {
    const host = await startHost('kill9', { everything: everythingEntry(), fs: filesystemEntry(t.workspace('kill9-dir')) });
    expect(host.pids).toHaveLength(2);
    expect(host.pids.every((p) => isAlive(p))).toBe(true);
    host.child.kill('SIGKILL');
    await childExit(host.child);
    await waitFor(() => (host.pids.some((p) => isAlive(p)) ? undefined : true), { what: 'the upstreams to exit', timeoutMs: 15_000 });
  });

  // An upstream busy with a call (a timer pending) does not exit on stdin EOF alone; the reaper
  // beside it (a `sh` holding a pipe from the host) stops its process group when the host dies.
  it('a busy upstream exits too when its host is killed with SIGKILL', async () => {
    const host = await startHost('kill9-busy', { fx: fixtureEntry(fixture) }, { name: 'fx__wait', arguments: { ms: 120_000 } });
    const [pid] = host.pids;
    expect(pid && isAlive(pid)).toBe(true);
    host.child.kill('SIGKILL');
    await childExit(host.child);
    await waitFor(() => (isAlive(pid!) ? undefined : true), { what: 'the busy upstream to exit', timeoutMs: 10_000 });
  });
});

describe('lazy and idle upstreams', () => {
  it('a lazy upstream that cannot start fails the request it was held for, with the reason', async () => {
    const ws = t.workspace('lazy-broken');
    writeServers(ws, { gone: { command: join(ws, 'no-such-server'), lifecycle: 'lazy' } });
    const gateway = startGateway(ws, { catalogFile: join(t.dir, 'catalogs', 'broken.json'), supervision: { initialBackoffMs: 60_000 } });
    const s = await session(gateway);
    expect(upstream(gateway, 'gone')).toMatchObject({ state: 'idle', pid: null });
    // Nothing cached: the list tries to start it to learn its tools, and answers without them.
    expect((await s.client.listTools()).tools.map((x) => x.name)).toEqual(['exai_status']);
    expect(upstream(gateway, 'gone')!.state).toBe('restarting');
    await expect(s.client.callTool({ name: 'gone__anything', arguments: {} })).rejects.toThrow(/upstream server "gone" could not start \(command ".*no-such-server" not found \(check "command" and PATH\)\); it is retried/);
  });

  it('an eager upstream with an idleTimeout stops when unused, not as a crash, and the next call starts it', async () => {
    const ws = t.workspace('eager-idle');
    writeServers(ws, { ev: { ...everythingEntry(), idleTimeout: 800 } });
    const gateway = startGateway(ws);
    await gateway.settled(60_000);
    const s = await session(gateway);
    const first = upstream(gateway, 'ev')!;
    expect(first).toMatchObject({ state: 'up', lifecycle: 'eager', idleTimeoutMs: 800 });
    const listed = (await s.client.listTools()).tools.map((x) => x.name);
    await waitFor(() => (upstream(gateway, 'ev')?.state === 'idle' ? true : undefined), { what: 'ev to idle' });
    await waitFor(() => (isAlive(first.pid!) ? undefined : true), { what: 'its process to exit' });
    // Listed as before (its last catalog), then started by a call.
    expect((await s.client.listTools()).tools.map((x) => x.name)).toEqual(listed);
    expect(textOf(await s.client.callTool({ name: 'ev__echo', arguments: { message: 'hi' } }))).toContain('hi');
    expect(upstream(gateway, 'ev')).toMatchObject({ state: 'up', restarts: 0 });
    expect(upstream(gateway, 'ev')!.pid).not.toBe(first.pid);
  });
});
