/**
 * What crosses between a 2026-07-28 session and 2025-11-25 servers beyond calls (issue 20,
 * DESIGN.md "Protocol eras"): the log level a session's requests name, a server's input request
 * answered inside the call it belongs to, and roots both ways. A real in-process gateway with
 * its SDK Server per session behind the EraTransport, the SDK v2 fixture servers as processes,
 * and a raw JSON-RPC client that sees exactly what a 2026-07-28 client gets.
 */
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
// The daemon's sessions run on the v2 SDK's Server; the clients stay v1 (the 2025 client).
import { Server } from '@modelcontextprotocol/server';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { describe, expect, it } from 'vitest';
import { EraTransport } from '../src/daemon/era-session.js';
import { GATEWAY_SERVER_CAPABILITIES, type Gateway } from '../src/daemon/upstreams/gateway.js';
import { waitFor } from './helpers/env.js';
import { dualEntry, modernEntry } from './helpers/eras.js';
import { echoBuiltin, everythingEntry, gatewayTestFile, openSession, textOf, writeServers } from './upstreams-helpers.js';

const { h, cleanups, env } = gatewayTestFile();

type Message = Record<string, unknown> & { id?: number; method?: string; params?: Record<string, unknown>; result?: Record<string, unknown> };

const envelope = (extra: Record<string, unknown> = {}) => ({
  'io.modelcontextprotocol/protocolVersion': '2026-07-28',
  'io.modelcontextprotocol/clientCapabilities': { elicitation: {}, roots: {} },
  'io.modelcontextprotocol/clientInfo': { name: 'raw', version: '1' },
  ...extra,
});

/** A raw 2026-07-28 client on one session: requests by id, and every notification it got. */
async function modernSession(gateway: Gateway, opening: Record<string, unknown> = {}) {
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  const server = new Server({ name: 'exai', version: 'test' }, { capabilities: GATEWAY_SERVER_CAPABILITIES });
  server.onclose = await gateway.connect(server, new EraTransport(serverSide), [echoBuiltin]);
  const answers = new Map<number, Message>();
  const notifications: Message[] = [];
  clientSide.onmessage = (message: JSONRPCMessage) => {
    const m = message as unknown as Message;
    if (m.method === undefined) answers.set(m.id!, m);
    else if (m.id === undefined) notifications.push(m);
  };
  await clientSide.start();
  cleanups.push(() => clientSide.close());
  let id = 0;
  const session = {
    notifications,
    send(method: string, params: Record<string, unknown> = {}, meta: Record<string, unknown> = {}): number {
      const mine = ++id;
      void clientSide.send({ jsonrpc: '2.0', id: mine, method, params: { ...params, _meta: envelope(meta) } } as JSONRPCMessage);
      return mine;
    },
    answer: (mine: number, what = `the answer to request ${mine}`) => waitFor(() => answers.get(mine), { what, timeoutMs: 30_000 }),
    async ask(method: string, params: Record<string, unknown> = {}, meta: Record<string, unknown> = {}): Promise<Message> {
      return session.answer(session.send(method, params, meta), `the answer to ${method}`);
    },
  };
  await session.ask('server/discover', {}, opening);
  return session;
}

async function upServers(gateway: Gateway, names: string[]): Promise<void> {
  await waitFor(() => names.every((n) => gateway.status().upstreams.find((u) => u.name === n)?.state === 'up') || undefined, {
    what: `${names.join(', ')} up`,
    timeoutMs: 30_000,
  });
}

const logged = (s: { notifications: Message[] }) =>
  s.notifications.filter((n) => n.method === 'notifications/message').map((n) => String((n.params as { data: unknown }).data));

describe('a 2026-07-28 session and 2025 servers', () => {
  it("gets a 2025 server's log messages at the level its latest request names, and none when it names none", async () => {
    const ws = env().workspace('bridge-log');
    writeServers(ws, { old: dualEntry({ protocol: '2025-11-25' }) });
    const gateway = h.startGateway(ws);
    await upServers(gateway, ['old']);
    const s = await modernSession(gateway);
    const level = (l: string) => ({ 'io.modelcontextprotocol/logLevel': l });
    // The fixture logs at info. A log message may trail its call's result: wait for it, then for the next call's.
    expect((await s.ask('tools/call', { name: 'old__log', arguments: { message: 'at-info' } }, level('info'))).result).toMatchObject({ resultType: 'complete' });
    await waitFor(() => (logged(s).includes('at-info') ? true : undefined), { what: 'the info message' });
    await s.ask('tools/call', { name: 'old__log', arguments: { message: 'at-error' } }, level('error'));
    await s.ask('tools/call', { name: 'old__log', arguments: { message: 'no-level' } });
    // Messages come in order: once the last is in, the two filtered ones would have been too.
    await s.ask('tools/call', { name: 'old__log', arguments: { message: 'last' } }, level('debug'));
    await waitFor(() => (logged(s).includes('last') ? true : undefined), { what: 'the debug-level message' });
    expect(logged(s)).toEqual(['at-info', 'last']);
  });

  it("asks a 2025 server's elicitation inside the call to that server, not inside the session's later call to another", async () => {
    const ws = env().workspace('bridge-related');
    writeServers(ws, { old: dualEntry({ protocol: '2025-11-25' }), other: dualEntry({ protocol: '2025-11-25' }) });
    const gateway = h.startGateway(ws);
    await upServers(gateway, ['old', 'other']);
    const s = await modernSession(gateway);
    const ask = s.send('tools/call', { name: 'old__ask', arguments: {} });
    const slow = s.send('tools/call', { name: 'other__slow', arguments: { steps: 0, ms: 2_000 } });
    const round = await s.answer(ask);
    expect(round.result).toMatchObject({ resultType: 'input_required' });
    const [inputKey, inputRequest] = Object.entries(round.result!.inputRequests as Record<string, { method: string; params: Record<string, unknown> }>)[0]!;
    expect(inputRequest.method).toBe('elicitation/create');
    // exai's routing mark is not the client's business.
    expect(JSON.stringify(inputRequest)).not.toContain('exai/');
    const retry = await s.ask(
      'tools/call',
      { name: 'old__ask', arguments: {}, inputResponses: { [inputKey]: { action: 'accept', content: { name: 'Ada' } } }, requestState: round.result!.requestState },
    );
    expect(textOf(retry.result!)).toBe('hello Ada');
    expect(textOf((await s.answer(slow)).result!)).toBe('slept 2000');
  });

  it("answers a 2025 server's roots/list inside the call that caused it (input_required for roots)", async () => {
    const ws = env().workspace('bridge-roots-old');
    writeServers(ws, { old: dualEntry({ protocol: '2025-11-25' }) });
    const gateway = h.startGateway(ws);
    await upServers(gateway, ['old']);
    const s = await modernSession(gateway);
    const round = await s.ask('tools/call', { name: 'old__roots', arguments: {} });
    expect(round.result).toMatchObject({ resultType: 'input_required' });
    const [inputKey, inputRequest] = Object.entries(round.result!.inputRequests as Record<string, { method: string }>)[0]!;
    expect(inputRequest.method).toBe('roots/list');
    const retry = await s.ask('tools/call', {
      name: 'old__roots',
      arguments: {},
      inputResponses: { [inputKey]: { roots: [{ uri: 'file:///work/a' }] } },
      requestState: round.result!.requestState,
    });
    expect(textOf(retry.result!)).toBe('roots: file:///work/a');
  });

  it("a 2026-07-28 server's roots input reaches a 2025 session as roots/list, and a 2026-07-28 session as it is", async () => {
    const ws = env().workspace('bridge-roots-new');
    writeServers(ws, { modern: modernEntry() });
    const gateway = h.startGateway(ws);
    await upServers(gateway, ['modern']);
    const legacy = await openSession(gateway, { roots: [{ uri: 'file:///work/b' }] });
    cleanups.push(() => legacy.close());
    expect(textOf(await legacy.client.callTool({ name: 'modern__roots', arguments: {} }))).toBe('roots: file:///work/b');
    const s = await modernSession(gateway);
    const round = await s.ask('tools/call', { name: 'modern__roots', arguments: {} });
    expect(round.result).toMatchObject({ resultType: 'input_required', inputRequests: { roots: { method: 'roots/list' } } });
  });
});

describe("a 2026-07-28 session and a 2025 server's tasks", () => {
  const RESEARCH = 'everything__simulate-research-query';
  const withTasks = { 'io.modelcontextprotocol/clientCapabilities': { extensions: { 'io.modelcontextprotocol/tasks': {} } } };

  it('gets a task handle for a task-only tool when it declares the tasks extension, polls it with tasks/get to its inlined result, and cancels another', async () => {
    const ws = env().workspace('bridge-tasks');
    writeServers(ws, { everything: everythingEntry() });
    const gateway = h.startGateway(ws);
    await upServers(gateway, ['everything']);
    const s = await modernSession(gateway, withTasks);
    const discover = await s.ask('server/discover');
    expect(discover.result).toMatchObject({ capabilities: { extensions: { 'io.modelcontextprotocol/tasks': {} } } });
    const created = await s.ask('tools/call', { name: RESEARCH, arguments: { topic: 'tides' } }, withTasks);
    expect(created.result).toMatchObject({ resultType: 'task', status: 'working' });
    expect(created.result).toHaveProperty('ttlMs');
    const taskId = created.result!.taskId as string;
    const done = await waitFor(
      async () => {
        const got = await s.ask('tasks/get', { taskId }, withTasks);
        return got.result?.status === 'working' ? undefined : got;
      },
      { what: 'the task to end', timeoutMs: 30_000 },
    );
    expect(done.result).toMatchObject({ resultType: 'complete', taskId, status: 'completed' });
    expect(textOf(done.result!.result as object)).toContain('# Research Report: tides');
    // The extension has no tasks/update for exai's tasks, and a cancel ends one.
    const other = await s.ask('tools/call', { name: RESEARCH, arguments: { topic: 'owls' } }, withTasks);
    const update = await s.ask('tasks/update', { taskId: other.result!.taskId, inputResponses: {} }, withTasks);
    expect(update.error).toMatchObject({ code: -32602 });
    const cancelled = await s.ask('tasks/cancel', { taskId: other.result!.taskId }, withTasks);
    expect(cancelled.result).toMatchObject({ resultType: 'complete', status: 'cancelled' });
  });

  it('without the extension the same call waits for the result, as a plain call', async () => {
    const ws = env().workspace('bridge-tasks-plain');
    writeServers(ws, { everything: everythingEntry() });
    const gateway = h.startGateway(ws);
    await upServers(gateway, ['everything']);
    // (No roots declared: server-everything asks for roots at its first call, inside that call.)
    const plain = { 'io.modelcontextprotocol/clientCapabilities': {} };
    const s = await modernSession(gateway, plain);
    const result = await s.ask('tools/call', { name: RESEARCH, arguments: { topic: 'moss' } }, plain);
    expect(result.result).toMatchObject({ resultType: 'complete' });
    expect(textOf(result.result!)).toContain('# Research Report: moss');
  });
});
