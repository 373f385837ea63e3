/**
 * A 2025-11-25 session's tasks on a 2026-07-28 server, which has them as the extension
 * `io.modelcontextprotocol/tasks` (DESIGN.md "Protocol eras"; tasks.ts keeps the ids and owners).
 *
 * - A task-augmented tools/call goes up without `task` (the extension has no such param) and
 *   with the extension declared in that request's envelope only (era.ts `withEnvelope`), so the
 *   server never hands a task to a call that did not ask for one. A `resultType: "task"` answer
 *   becomes the 2025 CreateTaskResult under exai's id; a server that answers at once gets a task
 *   of exai's, already completed, that holds the result. A 2026-07-28 session with the extension
 *   comes through here too: era-tasks.ts turns the 2025 task back into the extension's terms.
 * - tasks/get is the extension's tasks/get, the Task in 2025 terms (`ttlMs` → `ttl`,
 *   `pollIntervalMs` → `pollInterval`). tasks/result does not exist there: exai polls tasks/get
 *   at the task's poll interval until it ends, and answers with its inlined `result` (or
 *   `error`). tasks/cancel is the extension's, answered with the task as it then stands.
 *   tasks/list is answered from exai's own ids (tasks.ts).
 * - An `input_required` task's `inputRequests`, seen when exai asks for the task's state (the
 *   session's tasks/get, or exai's polling for its tasks/result), go to the session as the
 *   server's requests (`elicitation/create`, …) tied to the task (related-task `_meta`), as a
 *   2025 server's task asks; once all are answered, exai sends them up with tasks/update.
 * - What cannot cross: the extension's `notifications/tasks`, which come only on a
 *   subscriptions/listen stream: the session polls.
 */
import { randomUUID } from 'node:crypto';
import { INTERNAL_ERROR, errorResponse, type WireRequest, type WireResponse } from '../../transport/jsonrpc.js';
import { TASKS_EXTENSION } from '../era-tasks.js';
import type { Relay, RelaySession } from './relay.js';
import type { Upstream } from './upstream.js';

/** `_meta` key on a request to a 2026-07-28 server: its envelope declares the tasks extension (era.ts strips it). */
export const DECLARE_TASKS_META = 'exai/declareTasks';
const RELATED_TASK_META = 'io.modelcontextprotocol/related-task';
const SETTLED_TTL_MS = 5 * 60_000;
/** Bounds on how often exai polls a 2026-07-28 task for a waiting tasks/result (ms). */
const POLL_MIN_MS = 50;
const POLL_MAX_MS = 5_000;

/** Whether exai speaks 2026-07-28 to `upstream` (its tasks are the extension's). */
export function isModernUpstream(upstream: Upstream): boolean {
  return upstream.known?.era?.kind === 'modern';
}

/** Whether a 2026-07-28 upstream declared the tasks extension. */
export function offersTaskExtension(upstream: Upstream): boolean {
  const extensions = (upstream.serverCapabilities as { extensions?: Record<string, unknown> } | undefined)?.extensions;
  return isModernUpstream(upstream) && typeof extensions === 'object' && extensions !== null && TASKS_EXTENSION in extensions;
}

/** An extension Task (or task handle) as a 2025 Task under exai's id; the inlined outcome left out. */
export function legacyTask(task: Record<string, unknown>, taskId: string): Record<string, unknown> {
  const { ttlMs, pollIntervalMs, result: _r, error: _e, inputRequests: _i, resultType: _t, _meta: _m, content: _c, ...rest } = task;
  return { ...rest, taskId, ttl: typeof ttlMs === 'number' ? ttlMs : null, ...(typeof pollIntervalMs === 'number' ? { pollInterval: pollIntervalMs } : {}) };
}

const isTerminal = (status: unknown) => status === 'completed' || status === 'failed' || status === 'cancelled';

/** A task of a 2026-07-28 server as tasks.ts keeps it. */
export interface ModernJoined {
  readonly theirs: string;
  readonly upstream: Upstream;
  readonly createdBy?: string;
  ended?: boolean;
}

/** A task exai made for a server that answered a task-augmented call at once. */
interface Settled {
  readonly session: RelaySession;
  readonly task: Record<string, unknown>;
  readonly result: Record<string, unknown>;
}

export class ModernTasks {
  private readonly settled = new Map<string, Settled>();
  private readonly closed = new WeakSet<RelaySession>();
  /** By exai's task id: the input keys of the task's current round already sent to its session. */
  private readonly asking = new Map<string, Set<string>>();
  private inputCounter = 0;

  constructor(private readonly relay: Relay) {}

  /**
   * A task-augmented tools/call to a 2026-07-28 server. `join` files the server's task for the
   * session and returns exai's id for it.
   */
  callAsTask(session: RelaySession, request: WireRequest, upstream: Upstream, params: Record<string, unknown>, join: (theirs: string, createdBy: string) => string): void {
    const { task: asked, ...plain } = params;
    const meta = { ...(plain._meta as Record<string, unknown> | undefined), [DECLARE_TASKS_META]: true };
    this.relay.toUpstream(upstream, request.method, { ...plain, _meta: meta }, {
      session,
      clientId: request.id,
      deliver: (response) => {
        const result = response.result;
        if (result?.resultType === 'task' && typeof result.taskId === 'string') {
          const ours = join(result.taskId, response.id as string);
          session.send({ jsonrpc: '2.0', id: request.id, result: { task: legacyTask(result, ours) } });
          return;
        }
        this.relay.dropProgress(response.id as string);
        // A 2026-07-28 session (no `task`: it takes a handle or a result) gets the result as it is.
        if (!result || asked === undefined) {
          session.send({ ...response, id: request.id });
          return;
        }
        const now = new Date().toISOString();
        const ttl = (asked as { ttl?: unknown } | undefined)?.ttl;
        const task = { taskId: `exai-${randomUUID()}`, status: 'completed', createdAt: now, lastUpdatedAt: now, ttl: typeof ttl === 'number' ? ttl : SETTLED_TTL_MS };
        const { resultType: _t, ...plainResult } = result;
        this.settled.set(task.taskId, { session, task, result: plainResult });
        session.send({ jsonrpc: '2.0', id: request.id, result: { task } });
      },
    });
  }

  /**
   * tasks/get, tasks/result or tasks/cancel of `session` for exai's task `ours`, when it is a
   * 2026-07-28 server's (`joined`, already checked to be the session's) or one exai settled.
   * False when it is neither: tasks.ts answers.
   */
  fromSession(session: RelaySession, request: WireRequest, ours: string, joined: ModernJoined | undefined): boolean {
    const settled = this.settled.get(ours);
    if (settled && settled.session === session) {
      const { task, result } = settled;
      if (request.method === 'tasks/result') session.send({ jsonrpc: '2.0', id: request.id, result: related(result, ours) });
      else session.send({ jsonrpc: '2.0', id: request.id, result: task });
      return true;
    }
    if (!joined || !isModernUpstream(joined.upstream)) return false;
    void this.answer(session, request, ours, joined).catch((err: unknown) =>
      session.send(errorResponse(request.id, INTERNAL_ERROR, `exai could not ask for task ${ours}: ${err instanceof Error ? err.message : String(err)}`)),
    );
    return true;
  }

  /** The tasks exai settled for `session`, for its tasks/list. */
  settledOf(session: RelaySession): Record<string, unknown>[] {
    return [...this.settled.values()].filter((s) => s.session === session).map((s) => s.task);
  }

  sessionClosed(session: RelaySession): void {
    this.closed.add(session);
    for (const [id, s] of [...this.settled]) if (s.session === session) this.settled.delete(id);
  }

  private async answer(session: RelaySession, request: WireRequest, ours: string, joined: ModernJoined): Promise<void> {
    const { upstream, theirs } = joined;
    const get = async () => {
      const state = await this.relay.askUpstream(upstream, 'tasks/get', { taskId: theirs }, session);
      if (state.result?.status === 'input_required') this.askInput(session, ours, joined, state.result);
      return state;
    };
    if (request.method === 'tasks/cancel') {
      const cancelled = await this.relay.askUpstream(upstream, 'tasks/cancel', { taskId: theirs }, session);
      if (cancelled.error) return session.send({ ...cancelled, id: request.id });
    }
    if (request.method !== 'tasks/result') {
      const state = await get();
      if (state.result && isTerminal(state.result.status)) this.ended(joined);
      return session.send(state.result ? { jsonrpc: '2.0', id: request.id, result: legacyTask(state.result, ours) } : { ...state, id: request.id });
    }
    // The extension has no tasks/result: poll until the task ends, at its own pace.
    for (;;) {
      const state = await get();
      if (this.closed.has(session)) return;
      const task = state.result;
      if (!task) return session.send({ ...state, id: request.id });
      if (isTerminal(task.status)) {
        this.ended(joined);
        return session.send(outcome(request, task, ours));
      }
      const interval = typeof task.pollIntervalMs === 'number' ? task.pollIntervalMs : 1_000;
      await new Promise((resolve) => setTimeout(resolve, Math.min(POLL_MAX_MS, Math.max(POLL_MIN_MS, interval))));
    }
  }

  /** Sends the session the input requests of `task`'s round it was not sent yet; answered all, they go up with tasks/update. */
  private askInput(session: RelaySession, ours: string, joined: ModernJoined, task: Record<string, unknown>): void {
    const requests = (typeof task.inputRequests === 'object' && task.inputRequests !== null ? task.inputRequests : {}) as Record<string, { method?: unknown; params?: unknown }>;
    const keys = Object.keys(requests);
    if (keys.length === 0 || this.asking.has(ours)) return;
    this.asking.set(ours, new Set(keys));
    const responses: Record<string, unknown> = {};
    let waiting = keys.length;
    for (const key of keys) {
      const { method, params } = requests[key]!;
      const meta = { ...((params as { _meta?: Record<string, unknown> } | undefined)?._meta ?? {}), [RELATED_TASK_META]: { taskId: ours } };
      const request: WireRequest = { jsonrpc: '2.0', id: `exai-task-input-${++this.inputCounter}`, method: String(method), params: { ...(params as Record<string, unknown>), _meta: meta } };
      this.relay.toSession(session, joined.upstream, request, (response) => {
        // An input the session cannot give leaves the task waiting (it expires with its ttl).
        if (!response.result) return;
        responses[key] = response.result;
        if (--waiting > 0) return;
        void this.relay.askUpstream(joined.upstream, 'tasks/update', { taskId: joined.theirs, inputResponses: responses }, session).then(() => this.asking.delete(ours));
      });
    }
  }

  private ended(joined: ModernJoined): void {
    joined.ended = true;
    if (joined.createdBy) this.relay.dropProgress(joined.createdBy);
  }
}

/** The 2025 tasks/result answer for an ended extension Task. */
function outcome(request: WireRequest, task: Record<string, unknown>, ours: string): WireResponse {
  if (task.status === 'completed' && typeof task.result === 'object' && task.result !== null) {
    return { jsonrpc: '2.0', id: request.id, result: related(task.result as Record<string, unknown>, ours) };
  }
  const error = task.error as { code?: unknown; message?: unknown; data?: unknown } | undefined;
  if (task.status === 'failed' && error && typeof error.code === 'number') {
    return errorResponse(request.id, error.code, typeof error.message === 'string' ? error.message : 'the task failed', error.data);
  }
  return errorResponse(request.id, INTERNAL_ERROR, `task ${ours} ${task.status === 'cancelled' ? 'was cancelled' : 'ended without a result'}`);
}

/** A task's result tied to it, as 2025 tasks/result answers carry (spec: "Associating Task-Related Messages"). */
function related(result: Record<string, unknown>, ours: string): Record<string, unknown> {
  return { ...result, _meta: { ...(result._meta as Record<string, unknown> | undefined), [RELATED_TASK_META]: { taskId: ours } } };
}
