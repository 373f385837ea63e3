/**
 * Tasks between a 2025-11-25 session and a 2026-07-28 server (issue 20, DESIGN.md "Protocol
 * eras"; src/daemon/upstreams/modern-tasks.ts): the session's 2025 tasks (task-augmented
 * tools/call, tasks/get, tasks/result, tasks/list, tasks/cancel) over the server's tasks
 * extension (tasks/get, tasks/cancel; no tasks/result, no tasks/list). The server is an SDK v2
 * fixture with the extension's methods registered on the low-level Server
 * (test/fixtures/tasks-server.mjs), run as a process; the session is the v1 SDK client (2025).
 */
import { join } from 'node:path';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { Server } from '@modelcontextprotocol/server';
import { CallToolResultSchema, CreateTaskResultSchema, GetTaskResultSchema, ListTasksResultSchema, ListToolsResultSchema, McpError } from '@modelcontextprotocol/sdk/types.js';
import { describe, expect, it } from 'vitest';
import { EraTransport } from '../src/daemon/era-session.js';
import { GATEWAY_SERVER_CAPABILITIES, type Gateway } from '../src/daemon/upstreams/gateway.js';
import { ROOT, waitFor } from './helpers/env.js';
import { echoBuiltin, gatewayTestFile, openSession, textOf, writeServers } from './upstreams-helpers.js';

const { h, cleanups, env } = gatewayTestFile();
const TASKS_SERVER = join(ROOT, 'test', 'fixtures', 'tasks-server.mjs');
const TASKS = { list: {}, cancel: {}, requests: { tools: { call: {} } } };

function stderrOf(gateway: Gateway): string[] {
  return gateway.status().upstreams.find((u) => u.name === 'fx')?.stderrTail ?? [];
}

async function setUp(name: string) {
  const ws = env().workspace(name);
  writeServers(ws, { fx: { command: process.execPath, args: [TASKS_SERVER] } });
  const gateway = h.startGateway(ws);
  await waitFor(() => (gateway.status().upstreams.find((u) => u.name === 'fx')?.state === 'up' ? true : undefined), {
    what: `fx up: ${JSON.stringify(gateway.status().upstreams)}`,
    timeoutMs: 30_000,
  });
  const session = await openSession(gateway, { capabilities: { tasks: TASKS } });
  cleanups.push(() => session.close());
  const call = (args: Record<string, unknown>) =>
    session.client.request({ method: 'tools/call', params: { name: 'fx__research', arguments: args, task: { ttl: 60_000 } } }, CreateTaskResultSchema);
  return { gateway, session, call };
}

type Answer = { id: number; result?: Record<string, unknown>; error?: { code: number; message: string } };

/** A raw 2026-07-28 client on one session whose requests declare the tasks extension. */
async function modernSession(gateway: Gateway) {
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  const server = new Server({ name: 'exai', version: 'test' }, { capabilities: GATEWAY_SERVER_CAPABILITIES });
  server.onclose = await gateway.connect(server, new EraTransport(serverSide), [echoBuiltin]);
  const answers = new Map<number, Answer>();
  clientSide.onmessage = (message) => {
    const m = message as unknown as Answer & { method?: string };
    if (m.method === undefined) answers.set(m.id, m);
  };
  await clientSide.start();
  cleanups.push(() => clientSide.close());
  let id = 0;
  const _meta = {
    'io.modelcontextprotocol/protocolVersion': '2026-07-28',
    'io.modelcontextprotocol/clientCapabilities': { extensions: { 'io.modelcontextprotocol/tasks': {} } },
    'io.modelcontextprotocol/clientInfo': { name: 'raw', version: '1' },
  };
  return async (method: string, params: Record<string, unknown> = {}): Promise<Answer> => {
    const mine = ++id;
    await clientSide.send({ jsonrpc: '2.0', id: mine, method, params: { ...params, _meta } });
    return waitFor(() => answers.get(mine), { what: `the answer to ${method}`, timeoutMs: 30_000 });
  };
}

describe('2025-11-25 tasks on a 2026-07-28 server (the tasks extension)', () => {
  it('runs a task-augmented call as an extension task: tasks/get polls it, tasks/result waits for its inlined result, tasks/list lists it', async () => {
    const { gateway, session, call } = await setUp('tasks-run');
    const { tools } = await session.client.request({ method: 'tools/list' }, ListToolsResultSchema);
    expect(tools.find((t) => t.name === 'fx__research')?.execution).toEqual({ taskSupport: 'optional' });

    const { task } = await call({ topic: 'owls', ms: 300 });
    // exai's own id, a 2025 Task (ttl, pollInterval), not the server's fx-task-N.
    expect(task.taskId).toMatch(/^exai-task-/);
    expect(task).toMatchObject({ status: 'working', ttl: 60_000, pollInterval: 50, statusMessage: 'researching owls' });
    expect(task).not.toHaveProperty('ttlMs');

    const got = await session.client.request({ method: 'tasks/get', params: { taskId: task.taskId } }, GetTaskResultSchema);
    expect(got.taskId).toBe(task.taskId);
    expect(['working', 'completed']).toContain(got.status);

    // tasks/result blocks until the task ends (exai polls the extension's tasks/get).
    const result = await session.client.request({ method: 'tasks/result', params: { taskId: task.taskId } }, CallToolResultSchema);
    expect(textOf(result)).toBe('research on owls: done');
    expect(result._meta?.['io.modelcontextprotocol/related-task']).toEqual({ taskId: task.taskId });

    expect((await session.client.request({ method: 'tasks/get', params: { taskId: task.taskId } }, GetTaskResultSchema)).status).toBe('completed');
    const { tasks } = await session.client.request({ method: 'tasks/list' }, ListTasksResultSchema);
    expect(tasks.map((t) => [t.taskId, t.status])).toEqual([[task.taskId, 'completed']]);

    // Only the extension's methods reached the server; the plain call declared nothing and got no task.
    const plain = await session.client.request({ method: 'tools/call', params: { name: 'fx__research', arguments: { topic: 'bats' } } }, CallToolResultSchema);
    expect(textOf(plain)).toBe('research on bats: done (no task)');
    const methods = new Set(stderrOf(gateway).filter((l) => l.startsWith('got ')));
    expect(methods).toContain('got tasks/get');
    expect(methods).not.toContain('got tasks/result');
    expect(methods).not.toContain('got tasks/list');

    // Another session does not see the task.
    const stranger = await openSession(gateway, { capabilities: { tasks: TASKS } });
    cleanups.push(() => stranger.close());
    const refused = await stranger.client.request({ method: 'tasks/get', params: { taskId: task.taskId } }, GetTaskResultSchema).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(McpError);
    expect((refused as McpError).code).toBe(-32602);
  });

  it('cancels through the extension, keeps a result given at once as a completed task, and a failed task answers tasks/result with its error', async () => {
    const { gateway, session, call } = await setUp('tasks-cancel');
    const { task: long } = await call({ topic: 'stars', ms: 60_000 });
    const cancelled = await session.client.request({ method: 'tasks/cancel', params: { taskId: long.taskId } }, GetTaskResultSchema);
    expect(cancelled).toMatchObject({ taskId: long.taskId, status: 'cancelled' });
    await waitFor(() => (stderrOf(gateway).some((l) => l.includes('cancelled')) ? true : undefined), { what: 'the server to see the cancel' });
    const afterCancel = await session.client.request({ method: 'tasks/result', params: { taskId: long.taskId } }, CallToolResultSchema).catch((err: unknown) => err);
    expect(afterCancel).toBeInstanceOf(McpError);
    expect((afterCancel as McpError).message).toContain('was cancelled');

    // A server may answer a call at once even with the extension: exai's own task, completed, holds the result.
    const { task: inline } = await call({ topic: 'bees', inline: true });
    expect(inline).toMatchObject({ status: 'completed', ttl: 60_000 });
    const inlined = await session.client.request({ method: 'tasks/result', params: { taskId: inline.taskId } }, CallToolResultSchema);
    expect(textOf(inlined)).toBe('research on bees: done (no task)');
    const { tasks } = await session.client.request({ method: 'tasks/list' }, ListTasksResultSchema);
    expect(tasks.map((t) => [t.taskId, t.status]).sort()).toEqual([[inline.taskId, 'completed'], [long.taskId, 'cancelled']].sort());

    const { task: failing } = await call({ topic: 'lead into gold', ms: 100, fail: true });
    const failed = await session.client.request({ method: 'tasks/result', params: { taskId: failing.taskId } }, CallToolResultSchema).catch((err: unknown) => err);
    expect(failed).toBeInstanceOf(McpError);
    expect((failed as McpError).message).toContain('research on lead into gold failed');
    expect((await session.client.request({ method: 'tasks/get', params: { taskId: failing.taskId } }, GetTaskResultSchema)).status).toBe('failed');
  });

  it("asks the session for a task's input_required inputRequests as a 2025 task would, and answers the server with tasks/update", async () => {
    const { gateway } = await setUp('tasks-input');
    const session = await openSession(gateway, {
      capabilities: { tasks: TASKS },
      onElicit: () => ({ action: 'accept', content: { name: 'Grace' } }),
    });
    cleanups.push(() => session.close());
    const { task } = await session.client.request(
      { method: 'tools/call', params: { name: 'fx__research', arguments: { topic: 'owls', ms: 50, ask: true }, task: { ttl: 60_000 } } },
      CreateTaskResultSchema,
    );
    expect(task.status).toBe('input_required');
    const result = await session.client.request({ method: 'tasks/result', params: { taskId: task.taskId } }, CallToolResultSchema);
    expect(textOf(result)).toBe('research on owls by Grace: done');
    const elicitation = session.received.find((m) => 'method' in m && m.method === 'elicitation/create') as { params?: { _meta?: Record<string, unknown> } } | undefined;
    expect(elicitation?.params?._meta?.['io.modelcontextprotocol/related-task']).toEqual({ taskId: task.taskId });
    expect(stderrOf(gateway)).toContain('got tasks/update');
  });

  it("gives a 2026-07-28 session with the extension the server's task handle, and the result once it ended", async () => {
    const { gateway } = await setUp('tasks-modern');
    const ask = await modernSession(gateway);
    await ask('server/discover');
    const handle = (await ask('tools/call', { name: 'fx__research', arguments: { topic: 'moths', ms: 200 } })).result!;
    expect(handle).toMatchObject({ resultType: 'task', status: 'working', ttlMs: 60_000, pollIntervalMs: 50 });
    const taskId = handle.taskId as string;
    expect(taskId).toMatch(/^exai-task-/);
    const done = await waitFor(
      async () => {
        const got = (await ask('tasks/get', { taskId })).result!;
        return got.status === 'completed' ? got : undefined;
      },
      { what: 'the task to complete', timeoutMs: 30_000 },
    );
    expect(done).toMatchObject({ taskId, status: 'completed', result: { content: [{ type: 'text', text: 'research on moths: done' }] } });
  });
});
