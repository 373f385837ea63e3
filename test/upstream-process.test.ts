/**
 * Issue 13 inputs 1 and 2 on real processes: an upstream behind a wrapper (`sh -c`) that
 * outlives its stdin, or ignores SIGTERM, must not outlive its stop, its gateway, or a SIGKILL
 * of the process hosting the gateway; a large result must pass (up to 32 MiB) or fail alone,
 * never counting as a crash. The servers are test/fixtures/stubborn-server.mjs.
 */
import { join } from 'node:path';
import { CallToolResultSchema } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, childExit, makeTestEnv, waitFor, type TestEnv } from './helpers/env.js';
import { Gateway } from '../src/daemon/upstreams/gateway.js';
import type { UpstreamStatus } from '../src/daemon/upstreams/upstream.js';
import { harness, startReporter, textOf, writeServers, type ServerEntry } from './upstreams-helpers.js';
import { isAlive } from './helpers/daemon.js';

const STUBBORN = join(ROOT, 'test', 'fixtures', 'stubborn-server.mjs');
const MiB = 1024 * 1024;

/** `sh -c "node stubborn.mjs; true"`: the shell waits for the server, so the server is a grandchild. */
const wrapped = (env: Record<string, string> = {}): ServerEntry => ({
  command: 'sh',
  args: ['-c', `${JSON.stringify(process.execPath)} ${JSON.stringify(STUBBORN)}; true`],
  env,
});

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

const upstream = (gateway: Gateway, name: string): UpstreamStatus | undefined => gateway.status().upstreams.find((u) => u.name === name);

/** The wrapper's pid (what exai started) and the server's (what the wrapper started), once it serves. */
async function pidsOf(gateway: Gateway, name: string): Promise<{ wrapper: number; server: number }> {
  return waitFor(
    () => {
      const u = upstream(gateway, name);
      const line = u?.stderrTail.find((l) => l.startsWith('stubborn: ready pid '));
      return u?.state === 'up' && u.pid && line ? { wrapper: u.pid, server: Number(line.split(' ').pop()) } : undefined;
    },
    { what: `${name} to be up`, timeoutMs: 30_000 },
  );
}

const gone = (pids: number[], what: string, timeoutMs = 10_000) =>
  waitFor(() => (pids.some(isAlive) ? undefined : true), { what, timeoutMs });

describe('an upstream process tree ends with its upstream', () => {
  it('stops a server behind `sh -c` that outlives its stdin: removed from servers.json, and when the gateway closes (also one that ignores SIGTERM)', async () => {
    const ws = t.workspace('wrapped');
    writeServers(ws, { plain: wrapped(), deaf: wrapped({ STUBBORN_IGNORE_SIGTERM: '1' }) });
    const gateway = new Gateway({ workspace: ws, debounceMs: 50 });
    gateway.start();
    cleanups.push(() => gateway.close());
    const plain = await pidsOf(gateway, 'plain');
    const deaf = await pidsOf(gateway, 'deaf');
    expect(plain.server).not.toBe(plain.wrapper);
    expect([plain.wrapper, plain.server, deaf.wrapper, deaf.server].every(isAlive)).toBe(true);

    writeServers(ws, { deaf: wrapped({ STUBBORN_IGNORE_SIGTERM: '1' }) });
    await gone([plain.wrapper, plain.server], 'the removed server and its wrapper to exit');
    expect(upstream(gateway, 'deaf')?.pid).toBe(deaf.wrapper);

    await gateway.close();
    await gone([deaf.wrapper, deaf.server], 'the server that ignores SIGTERM and its wrapper to be killed', 5_000);
  });

  it('leaves no process of the tree behind when the process hosting the gateway is killed with SIGKILL', async () => {
    const ws = t.workspace('host-kill');
    writeServers(ws, { deaf: wrapped({ STUBBORN_IGNORE_SIGTERM: '1' }) });
    const { child: host, report: pids } = await startReporter<number[]>(
      t.dir,
      'host',
      `import { Gateway } from ${JSON.stringify(join(ROOT, 'dist', 'daemon', 'upstreams', 'gateway.js'))};
const gateway = new Gateway({ workspace: ${JSON.stringify(ws)} });
gateway.start();
await gateway.settled(60_000);
const u = gateway.status().upstreams[0];
const line = u.stderrTail.find((l) => l.startsWith('stubborn: ready pid '));
process.stdout.write(JSON.stringify([u.pid, Number(line.split(' ').pop())]) + '\\n');
setInterval(() => {}, 1000);
`,
      cleanups,
    );
    expect(pids.every(isAlive)).toBe(true);
    host.kill('SIGKILL');
    await childExit(host);
    await gone(pids, 'the wrapper and the server that ignores SIGTERM to exit after their host died');
  });
});

describe('large messages', () => {
  it('passes a 10.5 MiB result; one over 32 MiB fails alone with an error naming the limit, and is no crash', async () => {
    const ws = t.workspace('big');
    writeServers(ws, { big: { command: process.execPath, args: [STUBBORN] } });
    const gateway = startGateway(ws);
    const s = await session(gateway);
    const before = await waitFor(() => (upstream(gateway, 'big')?.state === 'up' ? upstream(gateway, 'big') : undefined), { what: 'big up' });

    const large = await s.client.callTool({ name: 'big__big', arguments: { bytes: 10.5 * MiB } }, CallToolResultSchema, { timeout: 60_000 });
    expect(textOf(large)).toHaveLength(10.5 * MiB);

    for (let i = 0; i < 5; i++) {
      await expect(
        s.client.callTool({ name: 'big__big', arguments: { bytes: 33 * MiB } }, CallToolResultSchema, { timeout: 60_000 }),
      ).rejects.toThrow(/upstream server "big" sent a message of 33(\.0)? MiB, more than the 32 MiB limit of exai; only this request failed/);
    }
    expect(upstream(gateway, 'big')).toMatchObject({ state: 'up', pid: before!.pid, restarts: 0, lastError: null });
    expect(textOf(await s.client.callTool({ name: 'big__echo', arguments: { text: 'still here' } }))).toBe('echo: 10 chars');
  });

  it('passes a 10.5 MiB request to the upstream', async () => {
    const ws = t.workspace('big-request');
    writeServers(ws, { big: { command: process.execPath, args: [STUBBORN] } });
    const gateway = startGateway(ws);
    const s = await session(gateway);
    const text = 'y'.repeat(10.5 * MiB);
    const result = await s.client.callTool({ name: 'big__echo', arguments: { text } }, CallToolResultSchema, { timeout: 60_000 });
    expect(textOf(result)).toBe(`echo: ${text.length} chars`);
  });
});
