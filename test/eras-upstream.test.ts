/**
 * Upstreams of both MCP eras (issue 20, DESIGN.md "Protocol eras"): servers written with SDK v2
 * (2026-07-28 only, and dual-era), server-everything (2025) and a 2025 server that exits on the
 * probe, declared with `"protocol"` auto or pinned. In-process gateway with real processes.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { Gateway } from '../src/daemon/upstreams/gateway.js';
import type { UpstreamStatus } from '../src/daemon/upstreams/upstream.js';
import { waitFor } from './helpers/env.js';
import { ERA_SERVER, INTOLERANT_SERVER, dualEntry, modernEntry } from './helpers/eras.js';
import { everythingEntry, gatewayTestFile, openSession, textOf, writeServers } from './upstreams-helpers.js';


const { h, cleanups, env } = gatewayTestFile();

function upstream(gateway: Gateway, name: string): UpstreamStatus {
  const found = gateway.status().upstreams.find((u) => u.name === name);
  if (!found) throw new Error(`no upstream ${name}`);
  return found;
}

async function settledUp(gateway: Gateway, names: string[]): Promise<void> {
  await waitFor(() => names.every((n) => upstream(gateway, n).state === 'up') || undefined, {
    what: `${names.join(', ')} up: ${JSON.stringify(gateway.status().upstreams.map((u) => [u.name, u.state, u.lastError]))}`,
    timeoutMs: 30_000,
  });
}

describe('upstreams of both eras', () => {
  it('serves a 2026-07-28-only server, a dual-era one and a 2025 one to a 2025 session, each in the era it answered', async () => {
    const ws = env().workspace('eras-mixed');
    writeServers(ws, { modern: modernEntry(), dual: dualEntry(), everything: everythingEntry(), pinned: modernEntry({ protocol: '2026-07-28' }), old: dualEntry({ protocol: '2025-11-25' }) });
    const gateway = h.startGateway(ws, { catalogFile: join(env().dir, 'catalogs', 'mixed.json') });
    await settledUp(gateway, ['modern', 'dual', 'everything', 'pinned', 'old']);
    expect(Object.fromEntries(gateway.status().upstreams.map((u) => [u.name, u.protocol]))).toEqual({
      modern: '2026-07-28',
      dual: '2026-07-28',
      everything: '2025-11-25',
      pinned: '2026-07-28',
      old: '2025-11-25',
    });
    const s = await h.session(gateway);
    const names = (await s.client.listTools()).tools.map((tool) => tool.name);
    expect(names).toEqual(expect.arrayContaining(['modern__echo', 'dual__echo', 'pinned__echo', 'old__echo', 'everything__echo']));
    expect(textOf(await s.client.callTool({ name: 'modern__echo', arguments: { text: 'a' } }))).toBe('modern-fixture (modern) echo: a');
    expect(textOf(await s.client.callTool({ name: 'dual__echo', arguments: { text: 'b' } }))).toBe('dual-fixture (modern) echo: b');
    expect(textOf(await s.client.callTool({ name: 'old__echo', arguments: { text: 'c' } }))).toBe('dual-fixture (legacy) echo: c');
    expect(textOf(await s.client.callTool({ name: 'everything__echo', arguments: { message: 'd' } }))).toContain('d');
    // The instructions a 2026 server gives in server/discover reach the 2025 session's initialize.
    expect(s.client.getInstructions()).toContain('modern-fixture instructions');
  });

  it('remembers the era with the cached catalog: a later start does not probe again', async () => {
    const ws = env().workspace('eras-cache');
    const catalogFile = join(env().dir, 'catalogs', 'cache.json');
    writeServers(ws, { dual: dualEntry(), everything: everythingEntry() });
    const first = h.startGateway(ws, { catalogFile });
    await settledUp(first, ['dual', 'everything']);
    expect(upstream(first, 'dual').stderrTail).toContain('got server/discover');
    await first.close();
    const second = h.startGateway(ws, { catalogFile });
    await settledUp(second, ['dual', 'everything']);
    expect(upstream(second, 'dual').protocol).toBe('2026-07-28');
    expect(upstream(second, 'everything').protocol).toBe('2025-11-25');
    // The fixture writes each request it gets to stderr: no server/discover and no initialize.
    const got = upstream(second, 'dual').stderrTail.filter((l) => l.startsWith('got '));
    expect(got).toContain('got tools/list');
    expect(got).not.toContain('got server/discover');
    expect(got).not.toContain('got initialize');
    const s = await h.session(second);
    expect(textOf(await s.client.callTool({ name: 'dual__echo', arguments: { text: 'x' } }))).toBe('dual-fixture (modern) echo: x');
  });

  it('a remembered era that no longer holds (the server was replaced in place) costs one failed start, then it probes again', async () => {
    const ws = env().workspace('eras-stale');
    const catalogFile = join(env().dir, 'catalogs', 'stale.json');
    const script = join(ws, 'server.mjs');
    // One script path (so one cache key) that runs one server, then another.
    const runs = (file: string) => writeFileSync(script, `await import(${JSON.stringify(pathToFileURL(file).href)});\n`);
    mkdirSync(ws, { recursive: true });
    runs(ERA_SERVER);
    writeServers(ws, { srv: { command: process.execPath, args: [script, '--modern-only'] } });
    const first = h.startGateway(ws, { catalogFile });
    await settledUp(first, ['srv']);
    expect(upstream(first, 'srv').protocol).toBe('2026-07-28');
    await first.close();
    // Same command, args, env and cwd (the same cache key), now a 2025 server that exits on
    // anything before initialize.
    runs(INTOLERANT_SERVER);
    const second = h.startGateway(ws, { catalogFile, supervision: { maxCrashes: 3, initialBackoffMs: 50 } });
    await settledUp(second, ['srv']);
    expect(upstream(second, 'srv')).toMatchObject({ protocol: '2025-11-25', restarts: 1 });
    const s = await h.session(second);
    expect(textOf(await s.client.callTool({ name: 'srv__hello', arguments: {} }))).toBe('hello from a 2025 server');
  });

  it('starts a 2025 server that exits on the server/discover probe again with initialize', async () => {
    const ws = env().workspace('eras-intolerant');
    writeServers(ws, { intolerant: { command: process.execPath, args: [INTOLERANT_SERVER] } });
    const gateway = h.startGateway(ws, { supervision: { maxCrashes: 1 } });
    await settledUp(gateway, ['intolerant']);
    expect(upstream(gateway, 'intolerant')).toMatchObject({ protocol: '2025-11-25', restarts: 0 });
    const s = await h.session(gateway);
    expect(textOf(await s.client.callTool({ name: 'intolerant__hello', arguments: {} }))).toBe('hello from a 2025 server');
  });

  it('fails a server that answers neither server/discover nor initialize with one line naming both', async () => {
    const ws = env().workspace('eras-silent');
    // `cat` with no input echoes nothing back: silent on every request.
    writeServers(ws, { silent: { command: process.execPath, args: ['-e', 'process.stdin.resume()'] } });
    const gateway = h.startGateway(ws, { supervision: { maxCrashes: 1, startTimeoutMs: 3_000 } });
    const failed = await waitFor(() => (upstream(gateway, 'silent').state === 'failed' ? upstream(gateway, 'silent') : undefined), {
      what: 'the silent upstream to fail',
      timeoutMs: 20_000,
    });
    expect(failed.lastError).toMatch(/answered neither server\/discover nor initialize/);
    expect(failed.lastError).not.toContain('\n');
  });

  const failedOne = (gateway: Gateway, name: string) =>
    waitFor(() => (upstream(gateway, name).state === 'failed' ? upstream(gateway, name) : undefined), { what: `${name} to fail`, timeoutMs: 20_000 });

  it('pinned to 2025-11-25, a 2026-07-28-only server fails at once naming the pin and the fix; the era it spoke before is not shown', async () => {
    const ws = env().workspace('eras-pin-mismatch');
    writeServers(ws, { modern: modernEntry() });
    const gateway = h.startGateway(ws);
    await settledUp(gateway, ['modern']);
    expect(upstream(gateway, 'modern').protocol).toBe('2026-07-28');
    // The user pins it to the revision it refuses (the gateway reloads servers.json on save).
    writeServers(ws, { modern: modernEntry({ protocol: '2025-11-25' }) });
    const failed = await failedOne(gateway, 'modern');
    expect(failed.lastError).toMatch(/^failed to start: it refuses MCP 2025-11-25, which its "protocol" pins \(it speaks 2026-07-28\) \(Unsupported protocol version: 2025-11-25\)/);
    expect(failed).toMatchObject({ restarts: 0, protocol: null, fix: 'set its "protocol" to "auto" or "2026-07-28"' });
    // A call to one of its tools says what to change, not "fix it".
    const s = await h.session(gateway);
    const answer = await s.client.callTool({ name: 'modern__echo', arguments: { text: 'x' } }).catch((err: Error) => err.message);
    expect(String(answer)).toMatch(/set its "protocol" to "auto" or "2026-07-28" and save \.exai\/servers\.json to retry/);
  });

  it('pinned to 2026-07-28, a 2025-only server fails at once naming server/discover and the fix', async () => {
    const ws = env().workspace('eras-pin-modern');
    writeServers(ws, { everything: { ...everythingEntry(), protocol: '2026-07-28' } });
    const gateway = h.startGateway(ws);
    const failed = await failedOne(gateway, 'everything');
    // server-everything answers the probe with -32601 and keeps running (the SDK then closes it).
    expect(failed.lastError).toMatch(/^failed to start: it did not offer MCP 2026-07-28, which its "protocol" pins, in answer to server\/discover \(it answered -32601 Method not found\)/);
    expect(failed).toMatchObject({ restarts: 0, protocol: null, fix: 'if it speaks 2025-11-25 only, set its "protocol" to "auto" or "2025-11-25"' });
  });

  it('a 2025 session gets progress from a 2026-07-28 server, cancels its call, and answers its input_required as an elicitation', async () => {
    const ws = env().workspace('eras-translate');
    writeServers(ws, { modern: modernEntry() });
    const gateway = h.startGateway(ws);
    await settledUp(gateway, ['modern']);
    const asked: unknown[] = [];
    const s = await openSession(gateway, {
      onElicit: () => {
        asked.push('name');
        return { action: 'accept', content: { name: 'Ada' } };
      },
    });
    cleanups.push(() => s.close());

    const progress: number[] = [];
    const done = await s.client.callTool({ name: 'modern__slow', arguments: { steps: 3, ms: 10 } }, undefined, { onprogress: (p) => progress.push(p.progress) });
    expect(textOf(done)).toBe('slept 10');
    expect(progress).toEqual([1, 2, 3]);

    const controller = new AbortController();
    let started!: () => void;
    const reached = new Promise<void>((resolve) => (started = resolve));
    const call = s.client.callTool({ name: 'modern__slow', arguments: { steps: 1, ms: 60_000 } }, undefined, { signal: controller.signal, onprogress: () => started() });
    await reached;
    controller.abort('user pressed stop');
    await expect(call).rejects.toThrow();
    await waitFor(() => (upstream(gateway, 'modern').stderrTail.includes('modern-fixture: slow was cancelled') ? true : undefined), { what: 'the server to see the cancel' });

    // The server answers input_required; exai asks the session (elicitation/create) and retries.
    expect(textOf(await s.client.callTool({ name: 'modern__ask', arguments: {} }))).toBe('hello Ada');
    expect(asked).toEqual(['name']);
  });

  it("a 2025 session answers a 2026-07-28 server's sampling input as sampling/createMessage", async () => {
    const ws = env().workspace('eras-sampling');
    writeServers(ws, { modern: modernEntry() });
    const gateway = h.startGateway(ws);
    await settledUp(gateway, ['modern']);
    const s = await openSession(gateway, { onSampling: () => ({ model: 'm', role: 'assistant', content: { type: 'text', text: 'banana' } }) });
    cleanups.push(() => s.close());
    expect(textOf(await s.client.callTool({ name: 'modern__sample', arguments: {} }))).toBe('the model said banana');
  });

  it('a declined elicitation reaches the 2026-07-28 server as the answer it retries with', async () => {
    const ws = env().workspace('eras-decline');
    writeServers(ws, { modern: modernEntry() });
    const gateway = h.startGateway(ws);
    await settledUp(gateway, ['modern']);
    const s = await openSession(gateway, { onElicit: () => ({ action: 'decline' }) });
    cleanups.push(() => s.close());
    expect(textOf(await s.client.callTool({ name: 'modern__ask', arguments: {} }))).toBe('no name (decline)');
  });

  it('a 2026-07-28 server logs to 2025 sessions, each at the level it set with logging/setLevel', async () => {
    const ws = env().workspace('eras-log');
    writeServers(ws, { modern: modernEntry() });
    const gateway = h.startGateway(ws);
    await settledUp(gateway, ['modern']);
    const chatty = await openSession(gateway, { name: 'chatty' });
    const quiet = await openSession(gateway, { name: 'quiet' });
    cleanups.push(() => chatty.close(), () => quiet.close());
    await quiet.client.setLoggingLevel('error');
    expect(textOf(await chatty.client.callTool({ name: 'modern__log', arguments: { message: 'note this' } }))).toBe('logged');
    const isLog = (m: object) => 'method' in m && m.method === 'notifications/message';
    const log = await waitFor(() => chatty.received.find(isLog), { what: 'the log message' });
    expect(log).toMatchObject({ params: { level: 'info', logger: 'modern/fx', data: 'note this' } });
    // The quiet one asked for errors only: by the time its own call returns, nothing came.
    await quiet.client.callTool({ name: 'modern__log', arguments: { message: 'again' } });
    expect(quiet.received.filter(isLog)).toEqual([]);
  });

  it("a 2025 session subscribes to a 2026-07-28 server's resource (a subscriptions/listen stream upstream) and hears its updates", async () => {
    const ws = env().workspace('eras-subscribe');
    writeServers(ws, { modern: modernEntry() });
    const gateway = h.startGateway(ws);
    await settledUp(gateway, ['modern']);
    const s = await openSession(gateway);
    cleanups.push(() => s.close());
    const isUpdate = (m: object) => 'method' in m && m.method === 'notifications/resources/updated';
    expect((await s.client.readResource({ uri: 'fx://counter' })).contents[0]).toMatchObject({ text: '0' });
    await s.client.subscribeResource({ uri: 'fx://counter' });
    await s.client.callTool({ name: 'modern__bump', arguments: {} });
    const update = await waitFor(() => s.received.find(isUpdate), { what: 'the resource update' });
    expect(update).toMatchObject({ params: { uri: 'fx://counter' } });
    await s.client.unsubscribeResource({ uri: 'fx://counter' });
    const before = s.received.filter(isUpdate).length;
    await s.client.callTool({ name: 'modern__bump', arguments: {} });
    expect((await s.client.readResource({ uri: 'fx://counter' })).contents[0]).toMatchObject({ text: '2' });
    expect(s.received.filter(isUpdate)).toHaveLength(before);
  });
});
