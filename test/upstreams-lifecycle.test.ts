/**
 * Upstream lifecycle in a gateway (in-process, real server processes): a lazy upstream whose
 * start fails gives the held request one clear error; an eager upstream with an idleTimeout
 * stops when unused and is started again by the next call.
 */
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Gateway } from '../src/daemon/upstreams/gateway.js';
import { makeTestEnv, waitFor, type TestEnv } from './helpers/env.js';
import { everythingEntry, harness, isAlive, textOf, writeServers } from './upstreams-helpers.js';

let t: TestEnv;
const cleanups: (() => Promise<unknown>)[] = [];
beforeAll(() => {
  t = makeTestEnv();
});
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});
afterAll(async () => {
  await t?.cleanup();
});

const { startGateway, session } = harness(cleanups);
const status = (gateway: Gateway, name: string) => gateway.status().upstreams.find((u) => u.name === name)!;

describe('upstream lifecycle', () => {
  it('a lazy upstream that cannot start fails the request it was held for, with the reason', async () => {
    const ws = t.workspace('lazy-broken');
    writeServers(ws, { gone: { command: join(ws, 'no-such-server'), lifecycle: 'lazy' } });
    const gateway = startGateway(ws, { catalogFile: join(t.dir, 'catalogs', 'broken.json'), supervision: { initialBackoffMs: 60_000 } });
    const s = await session(gateway);
    expect(status(gateway, 'gone')).toMatchObject({ state: 'idle', pid: null });
    // Nothing cached: the list tries to start it to learn its tools, and answers without them.
    expect((await s.client.listTools()).tools.map((x) => x.name)).toEqual(['exai_status']);
    expect(status(gateway, 'gone').state).toBe('restarting');
    await expect(s.client.callTool({ name: 'gone__anything', arguments: {} })).rejects.toThrow(/upstream server "gone" could not start \(command ".*no-such-server" not found \(check "command" and PATH\)\); it is retried/);
  });

  it('an eager upstream with an idleTimeout stops when unused, not as a crash, and the next call starts it', async () => {
    const ws = t.workspace('eager-idle');
    writeServers(ws, { ev: { ...everythingEntry(), idleTimeout: 800 } });
    const gateway = startGateway(ws);
    await gateway.settled(60_000);
    const s = await session(gateway);
    const first = status(gateway, 'ev');
    expect(first).toMatchObject({ state: 'up', lifecycle: 'eager', idleTimeoutMs: 800 });
    const listed = (await s.client.listTools()).tools.map((x) => x.name);
    await waitFor(() => (status(gateway, 'ev').state === 'idle' ? true : undefined), { what: 'ev to idle' });
    await waitFor(() => (isAlive(first.pid!) ? undefined : true), { what: 'its process to exit' });
    // Listed as before (its last catalog), then started by a call.
    expect((await s.client.listTools()).tools.map((x) => x.name)).toEqual(listed);
    expect(textOf(await s.client.callTool({ name: 'ev__echo', arguments: { message: 'hi' } }))).toContain('hi');
    expect(status(gateway, 'ev')).toMatchObject({ state: 'up', restarts: 0 });
    expect(status(gateway, 'ev').pid).not.toBe(first.pid);
  });
});
