/**
 * Tasks for a 2026-07-28 session (DESIGN.md "Protocol eras"): the `io.modelcontextprotocol/tasks`
 * extension over exai's 2025-11-25 tasks (upstreams/tasks.ts, whose task ids are exai's own).
 *
 * - A `tools/call` whose request declares the extension is marked for the gateway, which runs
 *   a tool that requires a task (2025 `execution.taskSupport: "required"`) as one and answers
 *   with its handle: `resultType: "task"` and the task's fields (`ttl` → `ttlMs`,
 *   `pollInterval` → `pollIntervalMs`). Without the extension such a call waits for the result.
 * - `tasks/get` is the 2025 `tasks/get`; once the task is `completed` or `failed` exai fetches
 *   its 2025 `tasks/result` and inlines it (`result`, or `error`), as the extension has no
 *   `tasks/result`. `tasks/cancel` passes. `notifications/tasks/status` becomes `notifications/tasks`.
 * - `tasks/update` is refused: a 2025 task asks for input with requests of its own (answered
 *   by a 2025 session), not by `inputRequests` on its status.
 */
import type { JsonRpcId, WireMessage, WireRequest, WireResponse } from '../transport/jsonrpc.js';

export const TASKS_EXTENSION = 'io.modelcontextprotocol/tasks';
/** `_meta` key on a 2026-07-28 session's tools/call: its request declared the tasks extension. */
export const TASK_HANDLE_OK = 'exai/taskHandleOk';

const CLIENT_CAPABILITIES = 'io.modelcontextprotocol/clientCapabilities';
const OWN_PREFIX = 'exai-task-result-';

export interface SessionTasksIo {
  toClient(message: WireMessage): void;
  toServer(message: WireMessage): void;
}

/** Whether a request's envelope declares the tasks extension. */
function declaresTasks(request: WireRequest): boolean {
  const meta = request.params?._meta as Record<string, unknown> | undefined;
  const caps = meta?.[CLIENT_CAPABILITIES] as { extensions?: Record<string, unknown> } | undefined;
  return typeof caps?.extensions === 'object' && caps.extensions !== null && TASKS_EXTENSION in caps.extensions;
}

/** A 2025 Task in the extension's terms. */
function modernTask(task: Record<string, unknown>): Record<string, unknown> {
  const { ttl, pollInterval, task: _nested, ...rest } = task;
  return {
    ...rest,
    ttlMs: typeof ttl === 'number' ? ttl : null,
    ...(typeof pollInterval === 'number' ? { pollIntervalMs: pollInterval } : {}),
  };
}

export class SessionTasks {
  private counter = 0;
  /** tasks/get answers held until the task's tasks/result came, by the id of exai's own tasks/result. */
  private readonly held = new Map<string, { clientId: JsonRpcId; task: Record<string, unknown> }>();

  constructor(private readonly io: SessionTasksIo) {}

  /** A request of the client's; true when answered here. A tools/call may be marked (in place). */
  fromClient(request: WireRequest): boolean {
    if (request.method === 'tasks/update') {
      this.io.toClient({
        jsonrpc: '2.0',
        id: request.id,
        error: { code: -32602, message: "exai's tasks take no inputResponses: a 2025-11-25 server's task asks its questions as requests of its own" },
      });
      return true;
    }
    if (request.method === 'tools/call' && declaresTasks(request) && request.params) {
      request.params._meta = { ...(request.params._meta as Record<string, unknown>), [TASK_HANDLE_OK]: true };
    }
    return false;
  }

  /** True when `response` is exai's own tasks/result (the held tasks/get answer goes out now). */
  ownResponse(response: WireResponse): boolean {
    const held = typeof response.id === 'string' ? this.held.get(response.id) : undefined;
    if (!held) return false;
    this.held.delete(response.id as string);
    const ending = response.error
      ? { status: 'failed', error: response.error }
      : held.task.status === 'failed'
        ? { error: { code: -32603, message: 'the task failed', data: response.result } }
        : { result: response.result };
    this.io.toClient({ jsonrpc: '2.0', id: held.clientId, result: { ...held.task, ...ending, resultType: 'complete' } });
    return true;
  }

  /**
   * A result for the client in the extension's terms (undefined: held, sent later). `method`
   * is what the client asked.
   */
  result(result: Record<string, unknown>, method: string | undefined, clientId: JsonRpcId): Record<string, unknown> | undefined {
    if (method === 'tools/call' && typeof result.task === 'object' && result.task !== null) {
      return { ...modernTask(result.task as Record<string, unknown>), resultType: 'task' };
    }
    if (method !== 'tasks/get' && method !== 'tasks/cancel') return result;
    const task = modernTask(result);
    if (method === 'tasks/get' && (task.status === 'completed' || task.status === 'failed')) {
      const id = `${OWN_PREFIX}${++this.counter}`;
      this.held.set(id, { clientId, task });
      this.io.toServer({ jsonrpc: '2.0', id, method: 'tasks/result', params: { taskId: task.taskId } });
      return undefined;
    }
    return task;
  }

  /** A 2025 task status notification as the extension's `notifications/tasks`. */
  static notification(message: WireMessage): WireMessage {
    if (!('method' in message) || message.method !== 'notifications/tasks/status' || !message.params) return message;
    return { jsonrpc: '2.0', method: 'notifications/tasks', params: modernTask(message.params) };
  }
}
