/**
 * The task ids exai hands out. A task id is chosen by whoever runs the task, and servers (and
 * clients) number theirs alike (the Python SDK calls its first task `task-1`): two servers'
 * tasks must not meet under one id in a session, nor two sessions' tasks in a server. So each
 * task exai relays gets an id of exai's own, unique in this daemon, and exai maps it back to
 * the id its runner knows (and the runner, with the session, to the task).
 */
import { randomUUID } from 'node:crypto';
import { INVALID_PARAMS, errorResponse, type WireRequest, type WireResponse } from '../../transport/jsonrpc.js';

/** Unique per daemon (a counter) and, by its random tag, across daemons of the same workspace. */
const TAG = randomUUID().slice(0, 8);
let counter = 0;

export function newTaskId(): string {
  return `exai-task-${TAG}-${++counter}`;
}

/** Per runner (an upstream, or a session): the runner's own task id -> exai's. */
export class RunnerIds<R extends object> {
  private readonly byRunner = new Map<R, Map<string, string>>();

  set(runner: R, theirs: string, ours: string): void {
    let mine = this.byRunner.get(runner);
    if (!mine) this.byRunner.set(runner, (mine = new Map()));
    mine.set(theirs, ours);
  }

  ours(runner: R, theirs: string): string | undefined {
    return this.byRunner.get(runner)?.get(theirs);
  }

  delete(runner: R, theirs: string): void {
    const mine = this.byRunner.get(runner);
    mine?.delete(theirs);
    if (mine?.size === 0) this.byRunner.delete(runner);
  }
}

/**
 * `obj` (a result or params) with the task id `from` replaced by `to` where a task id goes: its
 * own `taskId` (a task), `task.taskId` (a created task) and the related-task `_meta` entry.
 * Only fields that hold `from` are touched; the rest is passed on as it is.
 */
export function retag<T extends Record<string, unknown> | undefined>(obj: T, from: string, to: string, relatedKey: string): T {
  if (!obj) return obj;
  const out: Record<string, unknown> = { ...obj };
  if (out.taskId === from) out.taskId = to;
  const task = out.task as Record<string, unknown> | undefined;
  if (typeof task === 'object' && task !== null && task.taskId === from) out.task = { ...task, taskId: to };
  const meta = out._meta as Record<string, unknown> | undefined;
  const related = typeof meta === 'object' && meta !== null ? (meta[relatedKey] as Record<string, unknown> | undefined) : undefined;
  if (typeof related === 'object' && related !== null && related.taskId === from) out._meta = { ...meta, [relatedKey]: { ...related, taskId: to } };
  return out as T;
}

/** The task id in a CreateTaskResult (2025-11-25), if the response is one. */
export function createdTaskId(response: WireResponse): string | undefined {
  const task = response.result?.task;
  return typeof task === 'object' && task !== null && typeof (task as { taskId?: unknown }).taskId === 'string'
    ? (task as { taskId: string }).taskId
    : undefined;
}

/** The answer for a task id the asking session does not own. */
export function unknownTask(request: WireRequest, taskId: string): WireResponse {
  return errorResponse(
    request.id,
    INVALID_PARAMS,
    `unknown task ${JSON.stringify(taskId.slice(0, 100))}: this session did not create it, or it ended with its server or session`,
  );
}
