/**
 * The upstream gateway in-process: real upstream servers (server-everything, server-filesystem
 * and a fixture server) as child processes, sessions as real SDK clients over in-memory pairs.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CallToolResultSchema,
  type JSONRPCMessage,
  type JSONRPCNotification,
} from '@modelcontextprotocol/sdk/types.js';
import { makeTestEnv, waitFor, type TestEnv } from './helpers/env.js';
import { Gateway } from '../src/daemon/upstreams/gateway.js';
import {
  everythingEntry,
  filesystemEntry,
  fixtureEntry,
  methods,
  openSession,
  textOf,
  writeFixtureServer,
  waitReached,
  writeServers,
  type TestSession,
} from './upstreams-helpers.js';
import { isAlive } from './helpers/daemon.js';

let t: TestEnv;
let workspace: string;
let gateway: Gateway;
const sessions: TestSession[] = [];

async function session(options: Parameters<typeof openSession>[1] = {}): Promise<TestSession> {
  const s = await openSession(gateway, options);
  sessions.push(s);
  return s;
}

beforeAll(async () => {
  t = makeTestEnv();
  workspace = t.workspace('gw');
  writeFileSync(join(workspace, 'hello.txt'), 'hello from the workspace\n');
  const fixture = writeFixtureServer(t.dir);
  writeServers(workspace, {
    everything: everythingEntry(),
    fs: filesystemEntry(workspace),
    fx: fixtureEntry(fixture),
  });
  // A restart delay long enough to observe the meantime.
  gateway = new Gateway({ workspace, debounceMs: 50, supervision: { initialBackoffMs: 1_000 } });
  gateway.start();
  await gateway.settled(60_000);
});

afterAll(async () => {
  await Promise.all(sessions.map((s) => s.close().catch(() => undefined)));
  await gateway?.close();
  await t?.cleanup();
});

describe('aggregation', () => {
  it('serves built-ins unprefixed and every upstream tool as <server>__<name>', async () => {
    const s = await session();
    const names = (await s.client.listTools()).tools.map((tool) => tool.name);
    expect(names).toContain('exai_status');
    expect(names).toContain('everything__echo');
    expect(names).toContain('everything__get-sum');
    expect(names).toContain('fs__read_text_file');
    expect(names).toContain('fx__wait');
    expect(names.filter((n) => !n.includes('__'))).toEqual(['exai_status']);
    expect(gateway.status().upstreams.map((u) => [u.name, u.state])).toEqual([
      ['everything', 'up'],
      ['fs', 'up'],
      ['fx', 'up'],
    ]);
  });

  it('routes calls to the right upstream and back', async () => {
    const s = await session();
    expect(textOf(await s.client.callTool({ name: 'exai_status', arguments: {} }))).toBe('built-in ok');
    expect(textOf(await s.client.callTool({ name: 'everything__echo', arguments: { message: 'hi there' } }))).toBe('Echo: hi there');
    expect(textOf(await s.client.callTool({ name: 'everything__get-sum', arguments: { a: 2, b: 40 } }))).toContain('is 42');
    const read = await s.client.callTool({ name: 'fs__read_text_file', arguments: { path: join(workspace, 'hello.txt') } });
    expect(textOf(read)).toContain('hello from the workspace');
  });

  it('answers an unknown tool with an error naming it', async () => {
    const s = await session();
    await expect(s.client.callTool({ name: 'nope__echo', arguments: {} })).rejects.toThrow(/unknown tool "nope__echo"/);
    await expect(s.client.callTool({ name: 'echo', arguments: {} })).rejects.toThrow(/unknown tool/);
  });

  it('aggregates prompts (prefixed) and completions', async () => {
    const s = await session();
    const prompts = (await s.client.listPrompts()).prompts.map((p) => p.name);
    expect(prompts).toContain('everything__simple-prompt');
    expect(prompts).toContain('fx__greet');
    const got = await s.client.getPrompt({ name: 'fx__greet', arguments: { who: 'Ada' } });
    expect(JSON.stringify(got.messages)).toContain('hello Ada');
    const completion = await s.client.complete({
      ref: { type: 'ref/prompt', name: 'everything__completable-prompt' },
      argument: { name: 'department', value: 'Eng' },
    });
    expect(completion.completion.values).toEqual(['Engineering']);
  });

  it('aggregates resources with their URIs, and routes reads and template reads', async () => {
    const s = await session();
    const resources = (await s.client.listResources()).resources;
    const doc = resources.find((r) => r.uri.startsWith('demo://resource/static/document/'));
    expect(doc).toBeDefined();
    const read = await s.client.readResource({ uri: doc!.uri });
    expect(read.contents[0]?.uri).toBe(doc!.uri);
    const templates = (await s.client.listResourceTemplates()).resourceTemplates.map((x) => x.uriTemplate);
    expect(templates).toContain('demo://resource/dynamic/text/{resourceId}');
    const dynamic = await s.client.readResource({ uri: 'demo://resource/dynamic/text/3' });
    expect(JSON.stringify(dynamic.contents)).toContain('demo://resource/dynamic/text/3');
  });
});

describe('per-session routing', () => {
  it('sends progress only to the session that asked, under its own token', async () => {
    const a = await session({ name: 'a' });
    const b = await session({ name: 'b' });
    const progress: number[] = [];
    const result = await a.client.callTool(
      { name: 'everything__trigger-long-running-operation', arguments: { duration: 1, steps: 3 } },
      CallToolResultSchema,
      { onprogress: (p) => progress.push(p.progress) },
    );
    expect(textOf(result)).toContain('completed');
    expect(progress).toEqual([1, 2, 3]);
    const aProgress = a.received.filter((m): m is JSONRPCNotification => 'method' in m && m.method === 'notifications/progress');
    expect(aProgress).toHaveLength(3);
    expect(methods(b.received)).not.toContain('notifications/progress');
  });

  it('gives two sessions calling at once their own results', async () => {
    const a = await session({ name: 'a' });
    const b = await session({ name: 'b' });
    const calls = (s: TestSession, tag: string) =>
      Array.from({ length: 15 }, (_, i) =>
        s.client.callTool({ name: 'everything__echo', arguments: { message: `${tag}-${i}` } }).then(textOf),
      );
    const [ra, rb] = await Promise.all([Promise.all(calls(a, 'A')), Promise.all(calls(b, 'B'))]);
    expect(ra).toEqual(Array.from({ length: 15 }, (_, i) => `Echo: A-${i}`));
    expect(rb).toEqual(Array.from({ length: 15 }, (_, i) => `Echo: B-${i}`));
  });

  it('sends sampling to the calling session that declared it, and returns its answer', async () => {
    const a = await session({
      name: 'sampler',
      onSampling: (req) => ({
        role: 'assistant',
        model: 'test-model',
        content: { type: 'text', text: `sampled for: ${JSON.stringify(req.params.messages[0]?.content)}` },
      }),
    });
    const result = await a.client.callTool({ name: 'everything__trigger-sampling-request', arguments: { prompt: 'say hi', maxTokens: 5 } });
    expect(textOf(result)).toContain('sampled for:');
    expect(textOf(result)).toContain('say hi');
    expect(textOf(result)).toContain('test-model');
  });

  it('sends sampling from a caller that cannot sample to the most recently active session that can', async () => {
    const older = await session({ name: 'older', onSampling: () => ({ role: 'assistant', model: 'm', content: { type: 'text', text: 'from older' } }) });
    const newer = await session({ name: 'newer', onSampling: () => ({ role: 'assistant', model: 'm', content: { type: 'text', text: 'from newer' } }) });
    await older.client.listTools();
    await newer.client.listTools();
    const plain = await session({ name: 'plain' });
    const result = await plain.client.callTool({ name: 'fx__sample', arguments: {} });
    expect(textOf(result)).toContain('from newer');
  });

  it('routes roots/list and elicitation to the calling session', async () => {
    const a = await session({ name: 'roots', roots: [{ uri: 'file:///tmp/project-a', name: 'a' }] });
    expect(textOf(await a.client.callTool({ name: 'fx__roots', arguments: {} }))).toContain('file:///tmp/project-a');
    const e = await session({ name: 'elicit', onElicit: () => ({ action: 'accept', content: { name: 'Grace' } }) });
    const elicited = textOf(await e.client.callTool({ name: 'fx__elicit', arguments: {} }));
    expect(JSON.parse(elicited)).toEqual({ action: 'accept', content: { name: 'Grace' } });
  });

  it('answers the upstream with an error when no session can handle its request', async () => {
    // Only sessions without elicitation are open: the upstream's request fails, the call reports it.
    for (const s of sessions.splice(0)) await s.close();
    const plain = await session({ name: 'plain' });
    const result = await plain.client.callTool({ name: 'fx__elicit', arguments: {} }).then(
      (r) => textOf(r),
      (err: Error) => err.message,
    );
    expect(result).toMatch(/no client connected .* supports elicitation/);
  });

  it('forwards a cancellation to the upstream', async () => {
    const s = await session();
    const controller = new AbortController();
    const call = s.client.callTool({ name: 'fx__wait', arguments: { ms: 60_001 } }, CallToolResultSchema, { signal: controller.signal });
    // The request reached the upstream: then cancel it.
    await waitFor(() => waitReached(fx(), 60_001), { what: 'the call to reach the fixture' });
    controller.abort('user pressed stop');
    await expect(call).rejects.toThrow();
    await waitFor(() => (fx().stderrTail.some((l) => l.startsWith('cancelled request')) ? true : undefined), {
      what: 'the fixture to report the cancellation on stderr',
    });
  });

  it('forwards upstream log messages to sessions, naming the upstream and honouring each level', async () => {
    const a = await session({ name: 'a' });
    const b = await session({ name: 'b' });
    const quiet = await session({ name: 'quiet' });
    await quiet.client.setLoggingLevel('error');
    await a.client.callTool({ name: 'fx__log', arguments: { message: 'note this' } });
    const isLog = (m: JSONRPCMessage) => 'method' in m && m.method === 'notifications/message';
    for (const s of [a, b]) {
      await waitFor(() => s.received.find(isLog), { what: 'a log message' });
      expect((s.received.find(isLog) as JSONRPCNotification).params).toMatchObject({ level: 'info', logger: 'fx/fx', data: 'note this' });
    }
    expect(quiet.received.some(isLog)).toBe(false);
  });

  it('passes an upstream tools/list_changed on, with the new tool in the aggregate', async () => {
    const a = await session({ name: 'a' });
    const b = await session({ name: 'b' });
    const before = b.received.length;
    await a.client.callTool({ name: 'fx__add_tool', arguments: {} });
    await waitFor(() => (methods(b.received.slice(before)).includes('notifications/tools/list_changed') ? true : undefined), {
      what: 'tools/list_changed on the other session',
    });
    const names = (await b.client.listTools()).tools.map((x) => x.name);
    expect(names).toContain('fx__added');
    expect(textOf(await b.client.callTool({ name: 'fx__added', arguments: {} }))).toBe('I was added');
  });

  it('delivers resource updates to subscribers only', async () => {
    const subscriber = await session({ name: 'subscriber' });
    const other = await session({ name: 'other' });
    const uri = (await subscriber.client.listResources()).resources.find((r) => r.uri.startsWith('demo://resource/static/document/'))!.uri;
    await subscriber.client.subscribeResource({ uri });
    // server-everything sends updates for subscribed resources once this is toggled on.
    await other.client.callTool({ name: 'everything__toggle-subscriber-updates', arguments: {} });
    const updated = (m: JSONRPCMessage) => 'method' in m && m.method === 'notifications/resources/updated';
    await waitFor(() => subscriber.received.find(updated), { what: 'notifications/resources/updated', timeoutMs: 15_000 });
    expect((subscriber.received.find(updated) as JSONRPCNotification).params).toEqual({ uri });
    expect(other.received.some(updated)).toBe(false);
    await subscriber.client.unsubscribeResource({ uri });
    await other.client.callTool({ name: 'everything__toggle-subscriber-updates', arguments: {} });
  });
});

describe('supervision', () => {
  it('restarts a killed upstream: meanwhile errors, not hangs; then calls work again', async () => {
    const s = await session({ name: 'victim' });
    const before = fx();
    expect(before.pid).toBeTypeOf('number');
    const inFlight = s.client.callTool({ name: 'fx__wait', arguments: { ms: 60_002 } });
    await waitFor(() => waitReached(fx(), 60_002), { what: 'the call to reach the fixture' });
    const listBefore = s.received.length;
    process.kill(before.pid!, 'SIGKILL');
    await expect(inFlight).rejects.toThrow(/upstream server "fx" exited during the call \(killed by SIGKILL\)/);
    await waitFor(() => (methods(s.received.slice(listBefore)).includes('notifications/tools/list_changed') ? true : undefined), {
      what: 'tools/list_changed after the crash',
    });
    await waitFor(() => (fx().state === 'up' && fx().pid !== before.pid ? true : undefined), { what: 'fx to come back', timeoutMs: 30_000 });
    expect(isAlive(before.pid!)).toBe(false);
    expect(fx().restarts).toBe(before.restarts + 1);
    expect(fx().lastError).toContain('killed by SIGKILL');
    expect(textOf(await s.client.callTool({ name: 'fx__wait', arguments: { ms: 1 } }))).toBe('waited 1');
  });

  it('errors at once for calls while an upstream is down', async () => {
    const s = await session();
    const pid = fx().pid!;
    await s.client.callTool({ name: 'fx__crash', arguments: {} }).catch(() => undefined);
    await waitFor(() => (fx().state === 'restarting' ? true : undefined), { what: 'fx to go down' });
    await expect(s.client.callTool({ name: 'fx__wait', arguments: { ms: 1 } })).rejects.toThrow(/upstream server "fx" is restarting/);
    const names = (await s.client.listTools()).tools.map((x) => x.name);
    expect(names.some((x) => x.startsWith('fx__'))).toBe(false);
    expect(names).toContain('everything__echo');
    await waitFor(() => (fx().state === 'up' ? true : undefined), { what: 'fx back', timeoutMs: 30_000 });
    expect(fx().pid).not.toBe(pid);
    expect(fx().lastError).toContain('exit code 7');
    expect(fx().stderrTail).toContain('fixture: crashing on purpose');
  });
});

function fx() {
  const status = gateway.status().upstreams.find((u) => u.name === 'fx');
  if (!status) throw new Error('no fx upstream');
  return status;
}
