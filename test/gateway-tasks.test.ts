/**
 * Issue 13 input 4: tasks (MCP 2025-11-25) through the gateway, with server-everything's own
 * task tools (simulate-research-query: a task-only tool that may ask for input while it runs;
 * trigger-sampling-request-async and trigger-elicitation-request-async: the server asks the
 * client for a task). Sessions are real SDK clients on an in-process Gateway; server-everything
 * runs as a real child process.
 */
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTaskStore } from '@modelcontextprotocol/sdk/experimental/tasks';
// The daemon's sessions run on the v2 SDK's Server; the clients stay v1 (the 2025 client).
import { Server } from '@modelcontextprotocol/server';
import {
  CallToolResultSchema,
  CreateMessageRequestSchema,
  CreateTaskResultSchema,
  ElicitRequestSchema,
  ErrorCode,
  GetTaskResultSchema,
  ListTasksResultSchema,
  McpError,
  type ClientCapabilities,
  type CreateMessageResult,
  type ElicitResult,
} from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTestEnv, type TestEnv } from './helpers/env.js';
import { GATEWAY_SERVER_CAPABILITIES, Gateway } from '../src/daemon/upstreams/gateway.js';
import { echoBuiltin, everythingEntry, textOf, writeServers } from './upstreams-helpers.js';

let t: TestEnv;
let gateway: Gateway;
const clients: Client[] = [];

const TASKS: ClientCapabilities['tasks'] = { list: {}, cancel: {}, requests: { sampling: { createMessage: {} }, elicitation: { create: {} } } };

interface Options {
  tasks?: boolean;
  sampling?: boolean;
  elicitation?: boolean;
  /** Every sampling/elicitation request this client was asked, by method, with whether it asked for a task. */
  asked?: { method: string; task: boolean }[];
  interpretation?: string;
}

/** A session like the daemon's, with a real SDK client; `tasks`: it declares tasks and keeps its own in a store. */
async function session(options: Options = {}): Promise<Client> {
  const server = new Server({ name: 'exai', version: 'test' }, { capabilities: GATEWAY_SERVER_CAPABILITIES });
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  server.onclose = await gateway.connect(server, serverSide, [echoBuiltin]);
  const capabilities: ClientCapabilities = {
    ...(options.sampling ? { sampling: {} } : {}),
    ...(options.elicitation ? { elicitation: {} } : {}),
    ...(options.tasks ? { tasks: TASKS } : {}),
  };
  const client = new Client({ name: 'tasks-test', version: '1.0.0' }, { capabilities, ...(options.tasks ? { taskStore: new InMemoryTaskStore() } : {}) });
  const asked = options.asked ?? [];
  // As a task when asked for one: created at once, completed a little later (as a real client would after asking the user).
  const answer = <R extends CreateMessageResult | ElicitResult>(method: string, result: R) =>
    async (request: { params: { task?: unknown } }, extra: { taskStore?: { createTask(o: { ttl?: number }): Promise<{ taskId: string }>; storeTaskResult(id: string, s: 'completed', r: R): Promise<void> } }) => {
      asked.push({ method, task: request.params.task !== undefined });
      if (!request.params.task) return result;
      const store = extra.taskStore!;
      const task = await store.createTask({ ttl: 60_000 });
      setTimeout(() => void store.storeTaskResult(task.taskId, 'completed', result), 300);
      return { task } as unknown as R;
    };
  if (options.sampling) {
    client.setRequestHandler(
      CreateMessageRequestSchema,
      answer('sampling/createMessage', { role: 'assistant', model: 'task-model', content: { type: 'text', text: 'sampled in a task' } }) as never,
    );
  }
  if (options.elicitation) {
    client.setRequestHandler(
      ElicitRequestSchema,
      answer('elicitation/create', { action: 'accept', content: { name: 'Grace', interpretation: options.interpretation ?? 'historical' } }) as never,
    );
  }
  await client.connect(clientSide);
  clients.push(client);
  return client;
}

beforeAll(async () => {
  t = makeTestEnv();
  const workspace = t.workspace('tasks');
  writeServers(workspace, { everything: everythingEntry() });
  gateway = new Gateway({ workspace, debounceMs: 50 });
  gateway.start();
  await gateway.settled(60_000);
});

afterAll(async () => {
  for (const c of clients) await c.close().catch(() => undefined);
  await gateway?.close();
  await t?.cleanup();
});

const RESEARCH = 'everything__simulate-research-query';

describe('tasks through the gateway', () => {
  it("lists every one of server-everything's 19 tools, the task tools included", async () => {
    const client = await session({ tasks: true });
    const tools = (await client.listTools()).tools;
    const everything = tools.filter((x) => x.name.startsWith('everything__')).map((x) => x.name);
    expect(everything).toHaveLength(19);
    expect(everything).toEqual(
      expect.arrayContaining([RESEARCH, 'everything__trigger-sampling-request-async', 'everything__trigger-elicitation-request-async']),
    );
    // A client that declared tasks sees that the research tool must run as one.
    expect(tools.find((x) => x.name === RESEARCH)?.execution).toEqual({ taskSupport: 'required' });
  });

  it('runs a task-augmented tools/call: the task is created, polled with tasks/get, and its result fetched with tasks/result', async () => {
    const client = await session({ tasks: true });
    await client.listTools();
    const seen: string[] = [];
    let report = '';
    for await (const message of client.experimental.tasks.callToolStream({ name: RESEARCH, arguments: { topic: 'tidal energy' } }, CallToolResultSchema, { timeout: 30_000 })) {
      seen.push(message.type === 'taskStatus' ? `status:${message.task.status}` : message.type);
      if (message.type === 'result') report = textOf(message.result);
      if (message.type === 'error') throw message.error;
    }
    expect(seen[0]).toBe('taskCreated');
    expect(seen).toContain('status:working');
    expect(seen.at(-2)).toBe('status:completed');
    expect(seen.at(-1)).toBe('result');
    expect(report).toContain('# Research Report: tidal energy');
  });

  it('gives a client without tasks the task-only tool as a plain call, with its result', async () => {
    const client = await session();
    const tools = (await client.listTools()).tools;
    // Shown without its task requirement: the SDK client would otherwise refuse a plain call.
    expect(tools.find((x) => x.name === RESEARCH)?.execution).toBeUndefined();
    const result = await client.callTool({ name: RESEARCH, arguments: { topic: 'coral reefs' } }, CallToolResultSchema, { timeout: 30_000 });
    expect(textOf(result)).toContain('# Research Report: coral reefs');
  });

  it('sends the elicitation a running task asks for to the session that owns the task, not to the most recent one', async () => {
    const ownerAsked: Options['asked'] = [];
    const otherAsked: Options['asked'] = [];
    const owner = await session({ tasks: true, elicitation: true, asked: ownerAsked, interpretation: 'current' });
    const other = await session({ elicitation: true, asked: otherAsked });
    await owner.listTools();
    await other.listTools(); // now the most recently active session
    let report = '';
    for await (const message of owner.experimental.tasks.callToolStream({ name: RESEARCH, arguments: { topic: 'python', ambiguous: true } }, CallToolResultSchema, { timeout: 30_000 })) {
      if (message.type === 'result') report = textOf(message.result);
      if (message.type === 'error') throw message.error;
    }
    expect(ownerAsked).toEqual([{ method: 'elicitation/create', task: false }]);
    expect(otherAsked).toEqual([]);
    expect(report).toContain('# Research Report: python (current)');
  });

  it("keeps a session's tasks its own: tasks/list shows them, another session gets -32602 for tasks/get, tasks/cancel cancels", async () => {
    const owner = await session({ tasks: true });
    const stranger = await session({ tasks: true });
    const created = await owner.request(
      { method: 'tools/call', params: { name: RESEARCH, arguments: { topic: 'owls' }, task: { ttl: 60_000 } } },
      CreateTaskResultSchema,
    );
    const { taskId } = created.task;
    expect((await owner.request({ method: 'tasks/get', params: { taskId } }, GetTaskResultSchema)).status).toBe('working');
    expect((await owner.request({ method: 'tasks/list', params: {} }, ListTasksResultSchema)).tasks.map((x) => x.taskId)).toEqual([taskId]);
    expect((await stranger.request({ method: 'tasks/list', params: {} }, ListTasksResultSchema)).tasks).toEqual([]);
    const refused = await stranger.request({ method: 'tasks/get', params: { taskId } }, GetTaskResultSchema).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(McpError);
    expect((refused as McpError).code).toBe(ErrorCode.InvalidParams);
    expect((refused as McpError).message).toContain('unknown task');
    const cancelled = await owner.request({ method: 'tasks/cancel', params: { taskId } }, GetTaskResultSchema);
    expect(cancelled.status).toBe('cancelled');
  });

  it('lets a session that declared task-augmented sampling run the sampling as its own task', async () => {
    const asked: Options['asked'] = [];
    const client = await session({ tasks: true, sampling: true, asked });
    const result = await client.callTool({ name: 'everything__trigger-sampling-request-async', arguments: { prompt: 'hi', maxTokens: 5 } }, CallToolResultSchema, { timeout: 30_000 });
    expect(asked).toEqual([{ method: 'sampling/createMessage', task: true }]);
    expect(textOf(result)).toContain('[COMPLETED] Async sampling completed!');
    expect(textOf(result)).toContain('sampled in a task');
  });

  it('runs the task itself for a session that can sample but not do tasks: the session gets a plain request', async () => {
    const asked: Options['asked'] = [];
    const client = await session({ sampling: true, asked });
    const result = await client.callTool({ name: 'everything__trigger-sampling-request-async', arguments: { prompt: 'hi', maxTokens: 5 } }, CallToolResultSchema, { timeout: 30_000 });
    expect(asked).toEqual([{ method: 'sampling/createMessage', task: false }]);
    expect(textOf(result)).toContain('[COMPLETED] Async sampling completed!');
    expect(textOf(result)).toContain('sampled in a task');
  });

  it('does the same for task-augmented elicitation, with and without task support in the session', async () => {
    for (const tasks of [true, false]) {
      const asked: Options['asked'] = [];
      const client = await session({ tasks, elicitation: true, asked });
      const result = await client.callTool({ name: 'everything__trigger-elicitation-request-async', arguments: {} }, CallToolResultSchema, { timeout: 30_000 });
      expect(asked).toEqual([{ method: 'elicitation/create', task: tasks }]);
      expect(textOf(result)).toContain('[COMPLETED] User provided the requested information!');
      expect(textOf(result)).toContain('Name: Grace');
    }
  });
});
