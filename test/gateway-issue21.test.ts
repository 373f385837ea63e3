/**
 * Issue 21, in-process: a Gateway with real upstream processes (test/fixtures/scripted-server.mjs,
 * a plain JSON-RPC server scripted to misbehave the way real ones do) and sessions that are
 * real SDK clients. Items 1 (cancelled before forwarded), 2 (big catalogs), 4 (task ids of two
 * servers) and 5 (tool names outside [A-Za-z0-9_-]); items 3 and 6 need a daemon process of
 * their own (gateway-daemon-clock.test.ts).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  CallToolResultSchema,
  CreateTaskResultSchema,
  GetTaskResultSchema,
  ListTasksResultSchema,
  ListToolsResultSchema,
  type JSONRPCMessage,
  type Tool,
} from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, makeTestEnv, waitFor, type TestEnv } from './helpers/env.js';
import { Gateway } from '../src/daemon/upstreams/gateway.js';
import { LIST_PAGE_SIZE } from '../src/daemon/upstreams/pages.js';
import { openSession, textOf, writeServers, type ServerEntry, type TestSession } from './upstreams-helpers.js';

export const SCRIPTED = join(ROOT, 'test', 'fixtures', 'scripted-server.mjs');
export const scripted = (env: Record<string, string>, extra: Partial<ServerEntry> = {}): ServerEntry => ({
  command: process.execPath,
  args: [SCRIPTED],
  env,
  ...extra,
});

let t: TestEnv;
let gateway: Gateway;
const sessions: TestSession[] = [];
const logLines: string[] = [];

async function session(options: Parameters<typeof openSession>[1] = {}): Promise<TestSession & { sent: JSONRPCMessage[] }> {
  const s = await openSession(gateway, options);
  sessions.push(s);
  // What the client sends, below the SDK: the ids of its requests and its cancellations.
  const sent: JSONRPCMessage[] = [];
  const transport = s.client.transport!;
  const send = transport.send.bind(transport);
  transport.send = (message, options) => {
    sent.push(message);
    return send(message, options);
  };
  return { ...s, sent };
}

/** The tools/call lines a scripted server wrote to its calls file. */
function callsIn(file: string): { call?: string; arguments?: Record<string, unknown>; cancelled?: string }[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as { call?: string; arguments?: Record<string, unknown>; cancelled?: string });
}

const stateOf = (name: string) => gateway.status().upstreams.find((u) => u.name === name);
const responsesTo = (s: { received: JSONRPCMessage[] }, id: unknown) => s.received.filter((m) => 'id' in m && !('method' in m) && m.id === id);

let files: Record<string, string>;

beforeAll(async () => {
  t = makeTestEnv();
  const workspace = t.workspace('issue21');
  files = {
    slow: join(t.dir, 'slow-calls.jsonl'),
    slow2: join(t.dir, 'slow2-calls.jsonl'),
    quick: join(t.dir, 'quick-calls.jsonl'),
  };
  writeServers(workspace, {
    // Item 1: lazy servers that take 3 s to start, and one that is up.
    slow: scripted({ SCRIPTED_LABEL: 'slow', SCRIPTED_INIT_DELAY_MS: '3000', SCRIPTED_TOOL_NAMES: 'charge_card', SCRIPTED_CALLS: files.slow! }, { lifecycle: 'lazy' }),
    slow2: scripted({ SCRIPTED_LABEL: 'slow2', SCRIPTED_INIT_DELAY_MS: '3000', SCRIPTED_TOOL_NAMES: 'charge_card', SCRIPTED_CALLS: files.slow2! }, { lifecycle: 'lazy' }),
    quick: scripted({ SCRIPTED_LABEL: 'quick', SCRIPTED_TOOL_NAMES: 'charge_card', SCRIPTED_CALLS: files.quick! }),
    // Item 2: 1,500 tools, 10 a page; and one whose cursors loop after 3 pages.
    big: scripted({ SCRIPTED_LABEL: 'big', SCRIPTED_TOOLS: '1500', SCRIPTED_PAGE: '10' }),
    looping: scripted({ SCRIPTED_LABEL: 'looping', SCRIPTED_TOOLS: '100', SCRIPTED_PAGE: '10', SCRIPTED_LOOP_AFTER: '3' }),
    // Item 4: two servers that number their tasks alike (task-1, task-2, …).
    ta: scripted({ SCRIPTED_LABEL: 'ta', SCRIPTED_TASKS: '1', SCRIPTED_TOOL_NAMES: 'work' }),
    tb: scripted({ SCRIPTED_LABEL: 'tb', SCRIPTED_TASKS: '1', SCRIPTED_TOOL_NAMES: 'work' }),
    // Item 5: names Cursor and Claude Desktop reject.
    cal: scripted({ SCRIPTED_LABEL: 'cal', SCRIPTED_TOOL_NAMES: 'calendar.read,calendar_read,events/list,résumé,a very long name with spaces that goes on and on' }),
  });
  const capture = (level: string) => (m: string) => void logLines.push(`${level} ${m}`);
  gateway = new Gateway({ workspace, debounceMs: 50, log: { info: capture('info'), warn: capture('warn'), error: capture('error') } });
  gateway.start();
  await gateway.settled(60_000);
}, 90_000);

afterAll(async () => {
  await Promise.all(sessions.map((s) => s.close().catch(() => undefined)));
  await gateway?.close();
  await t?.cleanup();
});

async function allTools(s: TestSession): Promise<{ tools: Tool[]; pages: number }> {
  const tools: Tool[] = [];
  let cursor: string | undefined;
  let pages = 0;
  do {
    const page = await s.client.request({ method: 'tools/list', params: cursor ? { cursor } : {} }, ListToolsResultSchema);
    pages++;
    tools.push(...page.tools);
    cursor = page.nextCursor;
  } while (cursor);
  return { tools, pages };
}

describe('issue 21 item 1: a cancelled call', () => {
  it('is never forwarded, nor answered, when it is cancelled while its lazy server is still starting', async () => {
    const s = await session();
    const abort = new AbortController();
    const call = s.client.callTool({ name: 'slow__charge_card', arguments: { amount: 1 } }, CallToolResultSchema, { signal: abort.signal, timeout: 60_000 });
    await waitFor(() => stateOf('slow')?.state === 'starting', { what: 'slow to be starting' });
    setTimeout(() => abort.abort('the user pressed stop'), 700);
    await expect(call).rejects.toThrow();
    const cancelled = s.sent.find((m) => 'method' in m && m.method === 'notifications/cancelled') as { params: { requestId: unknown } } | undefined;
    expect(cancelled, 'the SDK client sent notifications/cancelled').toBeDefined();
    // Once it is up, a later call goes through; the cancelled one never reached it.
    const after = await s.client.callTool({ name: 'slow__charge_card', arguments: { amount: 2 } }, CallToolResultSchema, { timeout: 60_000 });
    expect(textOf(after)).toBe('slow:charge_card:{"amount":2}');
    expect(callsIn(files.slow!).map((c) => c.arguments?.amount)).toEqual([2]);
    expect(responsesTo(s, cancelled!.params.requestId)).toEqual([]);
  });

  it('is never forwarded when its session closes while its lazy server is still starting', async () => {
    const s = await session();
    const call = s.client.callTool({ name: 'slow2__charge_card', arguments: { amount: 1 } }, CallToolResultSchema, { timeout: 60_000 }).catch(() => 'closed');
    await waitFor(() => stateOf('slow2')?.state === 'starting', { what: 'slow2 to be starting' });
    await new Promise((resolve) => setTimeout(resolve, 700));
    await s.close();
    expect(await call).toBe('closed');
    await waitFor(() => stateOf('slow2')?.state === 'up', { what: 'slow2 to come up', timeoutMs: 30_000 });
    const other = await session();
    await other.client.callTool({ name: 'slow2__charge_card', arguments: { amount: 2 } }, CallToolResultSchema);
    expect(callsIn(files.slow2!).map((c) => c.arguments?.amount)).toEqual([2]);
  });

  it('once forwarded, has its cancellation forwarded, and its late answer is dropped', async () => {
    const s = await session();
    const abort = new AbortController();
    const call = s.client.callTool({ name: 'quick__charge_card', arguments: { amount: 3, ms: 1_500 } }, CallToolResultSchema, { signal: abort.signal });
    // A call that ends just after the cancelled one would have: when it is back, so would that answer be.
    const later = s.client.callTool({ name: 'quick__charge_card', arguments: { amount: 4, ms: 1_600 } }, CallToolResultSchema);
    await waitFor(() => callsIn(files.quick!).some((c) => c.arguments?.amount === 3), { what: 'the call to reach quick' });
    abort.abort('stop');
    await expect(call).rejects.toThrow();
    await waitFor(() => callsIn(files.quick!).some((c) => c.cancelled !== undefined), { what: 'quick to hear the cancellation' });
    await later;
    const cancelled = s.sent.find((m) => 'method' in m && m.method === 'notifications/cancelled') as unknown as { params: { requestId: unknown } };
    expect(responsesTo(s, cancelled.params.requestId)).toEqual([]);
  });
});

describe('issue 21 item 2: big catalogs', () => {
  it('follows every page of a server (1,500 tools at 10 a page) and serves the union in pages', async () => {
    const s = await session();
    const { tools, pages } = await allTools(s);
    const big = tools.filter((x) => x.name.startsWith('big__'));
    expect(big).toHaveLength(1_500);
    expect(new Set(tools.map((x) => x.name)).size).toBe(tools.length);
    expect(pages).toBe(Math.ceil(tools.length / LIST_PAGE_SIZE));
    expect(pages).toBeGreaterThan(1);
    expect(stateOf('big')?.tools).toBe(1_500);
    expect(stateOf('big')?.catalogProblem).toBeNull();
    const last = await s.client.callTool({ name: 'big__tool_1499', arguments: {} }, CallToolResultSchema);
    expect(textOf(last)).toBe('big:tool_1499:{}');
  });

  it('refuses a cursor it never gave with -32602', async () => {
    const s = await session();
    await expect(s.client.request({ method: 'tools/list', params: { cursor: 'not-a-cursor' } }, ListToolsResultSchema)).rejects.toThrow(/-32602.*invalid cursor/);
  });

  it('stops following a server whose cursors loop, and names the server and the cursor in the log and in exai_status', async () => {
    const looping = stateOf('looping')!;
    expect(looping.state).toBe('up');
    expect(looping.tools).toBe(30);
    expect(looping.catalogProblem).toContain('tools/list');
    expect(looping.catalogProblem).toContain('"page-1"');
    expect(logLines.some((l) => l.startsWith('warn upstream looping:') && l.includes('"page-1"'))).toBe(true);
  });
});

describe('issue 21 item 4: task ids of two servers', () => {
  const TASKS = { list: {}, cancel: {}, requests: {} };
  const create = (s: TestSession, server: string, args: Record<string, unknown>) =>
    s.client.request({ method: 'tools/call', params: { name: `${server}__work`, arguments: args, task: { ttl: 60_000 } } }, CreateTaskResultSchema);
  const get = (s: TestSession, taskId: string) => s.client.request({ method: 'tasks/get', params: { taskId } }, GetTaskResultSchema);

  it('are exai ids, unique in the daemon, each routed to the server and session that own it', async () => {
    const s = await session({ capabilities: { tasks: TASKS } });
    const a = (await create(s, 'ta', {})).task;
    const b = (await create(s, 'tb', {})).task;
    // Both servers called theirs task-1; the session sees two different ids, neither theirs.
    expect(a.taskId).not.toBe(b.taskId);
    expect([a.taskId, b.taskId]).not.toContain('task-1');
    expect((await get(s, a.taskId)).statusMessage).toBe('ta working');
    expect((await get(s, b.taskId)).statusMessage).toBe('tb working');
    // Cancelling one cancels that one only, and its status notification names it by exai's id.
    const cancelled = await s.client.request({ method: 'tasks/cancel', params: { taskId: a.taskId } }, GetTaskResultSchema);
    expect(cancelled).toMatchObject({ taskId: a.taskId, status: 'cancelled', statusMessage: 'ta cancelled' });
    expect((await get(s, b.taskId)).status).toBe('working');
    await waitFor(() => s.received.find((m) => 'method' in m && m.method === 'notifications/tasks/status'), { what: 'a task status notification' });
    const statuses = s.received.flatMap((m) => ('method' in m && m.method === 'notifications/tasks/status' ? [m.params as { taskId: string; status: string }] : []));
    expect(statuses).toEqual([expect.objectContaining({ taskId: a.taskId, status: 'cancelled' })]);
    const listed = await s.client.request({ method: 'tasks/list', params: {} }, ListTasksResultSchema);
    expect(listed.tasks.map((x) => `${x.taskId} ${x.status}`).sort()).toEqual([`${a.taskId} cancelled`, `${b.taskId} working`].sort());
    // Another session (whose servers' next task is task-2 on both) cannot reach them.
    const other = await session({ capabilities: { tasks: TASKS } });
    await expect(get(other, a.taskId)).rejects.toThrow(/unknown task/);
  });

  it('deliver the result of the right server with tasks/result, tagged with exai id', async () => {
    const s = await session({ capabilities: { tasks: TASKS } });
    const a = (await create(s, 'ta', { ms: 200, n: 'a' })).task;
    const b = (await create(s, 'tb', { ms: 200, n: 'b' })).task;
    const result = await s.client.request({ method: 'tasks/result', params: { taskId: b.taskId } }, CallToolResultSchema);
    expect(textOf(result)).toBe('tb:work:{"ms":200,"n":"b"}');
    expect(result._meta?.['io.modelcontextprotocol/related-task']).toEqual({ taskId: b.taskId });
    const first = await s.client.request({ method: 'tasks/result', params: { taskId: a.taskId } }, CallToolResultSchema);
    expect(textOf(first)).toBe('ta:work:{"ms":200,"n":"a"}');
  });
});

describe('issue 21 item 5: tool names outside [A-Za-z0-9_-]', () => {
  it('are exposed mapped into [A-Za-z0-9_-]{1,53}, distinct, stable, and route back to the name the server knows', async () => {
    const s = await session();
    const { tools } = await allTools(s);
    const names = tools.map((x) => x.name);
    expect(names.filter((n) => !/^[A-Za-z0-9_-]{1,53}$/.test(n))).toEqual([]);
    const cal = names.filter((n) => n.startsWith('cal__'));
    expect(cal).toHaveLength(5);
    expect(cal).toContain('cal__calendar_read'); // already fine: unchanged
    const dotted = cal.find((n) => n.startsWith('cal__calendar_read_'))!;
    expect(dotted).toMatch(/^cal__calendar_read_[0-9a-f]{8}$/);
    for (const [name, original] of [
      [dotted, 'calendar.read'],
      ['cal__calendar_read', 'calendar_read'],
      [cal.find((n) => n.startsWith('cal__events_list_'))!, 'events/list'],
      [cal.find((n) => n.startsWith('cal__r_sum_'))!, 'résumé'],
      [cal.find((n) => n.startsWith('cal__a_very_long_name'))!, 'a very long name with spaces that goes on and on'],
    ] as const) {
      expect(textOf(await s.client.callTool({ name, arguments: {} }, CallToolResultSchema))).toBe(`cal:${original}:{}`);
    }
    // The same in another session (a client may remember the names).
    const again = (await allTools(await session())).tools.map((x) => x.name).filter((n) => n.startsWith('cal__'));
    expect(again).toEqual(cal);
  });
});
