/**
 * Tasks through the gateway (MCP 2025-11-25, "Utilities: Tasks"). Either side may ask for a
 * task: a session's task-augmented tools/call runs as a task of an upstream, and an upstream's
 * task-augmented sampling or elicitation runs as a task of a session. A task id is the
 * receiver's, so exai remembers which session and which upstream each one joins, and routes
 * tasks/get, tasks/result, tasks/cancel and status notifications between exactly those two;
 * another session asking for it gets "unknown task", as from a server it never talked to.
 *
 * Where one side cannot do tasks, exai does the task side itself: a plain tools/call of a tool
 * that requires a task is run as a task upstream and answered when it ends, and a task-augmented
 * sampling or elicitation for a session without tasks becomes a task kept by exai around a
 * plain request to that session.
 */
import { randomUUID } from 'node:crypto';
import { INTERNAL_ERROR, INVALID_PARAMS, errorResponse, type WireNotification, type WireRequest, type WireResponse } from '../../transport/jsonrpc.js';
import { ModernTasks, isModernUpstream, legacyTask } from './modern-tasks.js';
import type { Relay, RelaySession } from './relay.js';
import { RunnerIds, createdTaskId, newTaskId, retag as retagWith, unknownTask } from './task-ids.js';
import type { Upstream } from './upstream.js';

/** The `_meta` key that ties a message to a task (spec: "Associating Task-Related Messages"). */
export const RELATED_TASK_META = 'io.modelcontextprotocol/related-task';

type TaskStatus = 'working' | 'input_required' | 'completed' | 'failed' | 'cancelled';
const isTerminal = (status: unknown) => status === 'completed' || status === 'failed' || status === 'cancelled';

interface Task {
  taskId: string;
  status: TaskStatus;
  statusMessage?: string;
  createdAt: string;
  lastUpdatedAt: string;
  ttl: number | null;
  pollInterval: number;
}

interface Joined {
  /** The id the task has where it runs (the upstream's, or the session's); the other side sees exai's (task-ids.ts). */
  readonly theirs: string;
  readonly upstream: Upstream;
  readonly session: RelaySession;
  /** exai's id for the request that created the task: its progress token lives until the task ends. */
  readonly createdBy?: string;
  /** Created by exai for a session that did not ask for a task: the session never sees its id. */
  readonly hidden?: boolean;
  /** Known to have ended (a terminal status, or its result was delivered): it keeps nothing up. */
  ended?: boolean;
}

/** A task exai keeps for an upstream around a plain request to a session that cannot do tasks. */
interface LocalTask {
  readonly task: Task;
  readonly upstream: Upstream;
  downId: string | undefined;
  response: WireResponse | undefined;
  waiters: Array<() => void>;
}

const LOCAL_TTL_MS = 5 * 60_000;
const LOCAL_POLL_MS = 500;

const taskIdOf = (params: Record<string, unknown> | undefined): string | undefined =>
  typeof params?.taskId === 'string' ? params.taskId : undefined;

const retag = <T extends Record<string, unknown> | undefined>(obj: T, from: string, to: string): T => retagWith(obj, from, to, RELATED_TASK_META);

export class Tasks {
  /** Tasks upstreams run for sessions, by exai's task id. */
  private readonly upstreamTasks = new Map<string, Joined>();
  private readonly upstreamIds = new RunnerIds<Upstream>();
  /** Tasks sessions run for upstreams, by exai's task id. */
  private readonly sessionTasks = new Map<string, Joined>();
  private readonly sessionIds = new RunnerIds<RelaySession>();
  private readonly local = new Map<string, LocalTask>();
  /** A 2025 session's tasks on 2026-07-28 servers (the tasks extension). */
  private readonly modern: ModernTasks;

  constructor(private readonly relay: Relay) {
    this.modern = new ModernTasks(relay);
  }

  /**
   * Whether a task that has not ended involves `upstream` (run by it, or asked by it of a
   * session): stopping it as idle would lose the task.
   */
  busyWith(upstream: Upstream): boolean {
    for (const j of this.upstreamTasks.values()) if (j.upstream === upstream && !j.ended) return true;
    for (const j of this.sessionTasks.values()) if (j.upstream === upstream && !j.ended) return true;
    for (const l of this.local.values()) if (l.upstream === upstream && l.response === undefined) return true;
    return false;
  }

  /** The session that owns an upstream's task, by the upstream's id (for requests that carry related-task metadata). */
  ownerOf(upstream: Upstream, taskId: string): RelaySession | undefined {
    const ours = this.upstreamIds.ours(upstream, taskId);
    return ours === undefined ? undefined : this.upstreamTasks.get(ours)?.session;
  }

  /** An upstream's request on its way to a session: the task it relates to, under exai's id. */
  relatedForSession(upstream: Upstream, request: WireRequest): WireRequest {
    const related = (request.params?._meta as Record<string, unknown> | undefined)?.[RELATED_TASK_META];
    const theirs = typeof related === 'object' && related !== null ? (related as { taskId?: unknown }).taskId : undefined;
    const ours = typeof theirs === 'string' ? this.upstreamIds.ours(upstream, theirs) : undefined;
    return ours === undefined ? request : { ...request, params: retag(request.params, theirs as string, ours) };
  }

  /** Files a task an upstream runs for a session under a new id of exai's; returns that id. */
  private joinUpstreamTask(theirs: string, joined: Omit<Joined, 'theirs'>): string {
    const ours = newTaskId();
    this.upstreamTasks.set(ours, { ...joined, theirs });
    this.upstreamIds.set(joined.upstream, theirs, ours);
    return ours;
  }

  // --- a session's tools/call as a task of an upstream ---------------------------------------

  /** A task-augmented tools/call: relayed as it is; the task it creates joins the session to the upstream. */
  callAsTask(session: RelaySession, request: WireRequest, upstream: Upstream, params: Record<string, unknown>): void {
    if (isModernUpstream(upstream)) {
      this.modern.callAsTask(session, request, upstream, params, (theirs, createdBy) => this.joinUpstreamTask(theirs, { upstream, session, createdBy }));
      return;
    }
    this.relay.toUpstream(upstream, request.method, params, {
      session,
      clientId: request.id,
      deliver: (response) => {
        const theirs = createdTaskId(response);
        if (!theirs) {
          this.relay.dropProgress(response.id as string);
          session.send({ ...response, id: request.id });
          return;
        }
        const ours = this.joinUpstreamTask(theirs, { upstream, session, createdBy: response.id as string });
        session.send({ ...response, id: request.id, result: retag(response.result, theirs, ours) });
      },
    });
  }

  /**
   * A plain tools/call of a tool that requires a task: run as a task upstream, answered with its
   * result once it ends (tasks/result blocks until then). Cancelling the call cancels the task.
   */
  callThroughTask(session: RelaySession, request: WireRequest, upstream: Upstream, params: Record<string, unknown>): void {
    this.relay.toUpstream(upstream, request.method, { ...params, task: {} }, {
      session,
      clientId: request.id,
      deliver: (created) => {
        const theirs = createdTaskId(created);
        const createdBy = created.id as string;
        if (!theirs) {
          this.relay.dropProgress(createdBy);
          session.send({ ...created, id: request.id });
          return;
        }
        const ours = this.joinUpstreamTask(theirs, { upstream, session, createdBy, hidden: true });
        this.relay.toUpstream(upstream, 'tasks/result', { taskId: theirs }, {
          session,
          clientId: request.id,
          deliver: (result) => {
            this.forget(ours);
            session.send({ ...result, id: request.id, result: retag(result.result, theirs, ours) });
          },
          onCancel: () => {
            this.forget(ours);
            this.relay.askUpstream(upstream, 'tasks/cancel', { taskId: theirs }).catch(() => undefined);
          },
        });
      },
    });
  }

  /** tasks/get, tasks/result, tasks/cancel and tasks/list from a session. */
  fromSession(session: RelaySession, request: WireRequest): void {
    if (request.method === 'tasks/list') {
      void this.listFor(session, request);
      return;
    }
    const taskId = taskIdOf(request.params)!;
    const joined = this.upstreamTasks.get(taskId);
    const mine = joined && joined.session === session && !joined.hidden ? joined : undefined;
    if (this.modern.fromSession(session, request, taskId, mine)) return;
    if (!mine) {
      session.send(unknownTask(request, taskId));
      return;
    }
    this.relay.toUpstream(mine.upstream, request.method, { ...request.params, taskId: mine.theirs }, {
      session,
      clientId: request.id,
      deliver: (response) => {
        if (request.method === 'tasks/result') {
          mine.ended = true;
          if (mine.createdBy) this.relay.dropProgress(mine.createdBy);
        }
        session.send({ ...response, id: request.id, ...(response.result ? { result: retag(response.result, mine.theirs, taskId) } : {}) });
      },
    });
  }

  /** A session's tasks: each one's current state from its upstream (tasks/get), expired ones left out. */
  private async listFor(session: RelaySession, request: WireRequest): Promise<void> {
    const mine = [...this.upstreamTasks].filter(([, j]) => j.session === session && !j.hidden);
    const states = await Promise.all(
      mine.map(async ([taskId, j]) => {
        const response = await this.relay.askUpstream(j.upstream, 'tasks/get', { taskId: j.theirs });
        if (response.error) this.forget(taskId);
        if (response.result && isModernUpstream(j.upstream)) return legacyTask(response.result, taskId);
        return retag(response.result, j.theirs, taskId);
      }),
    );
    const tasks = [...this.modern.settledOf(session), ...states.filter((t): t is Record<string, unknown> => t !== undefined).map(({ _meta: _m, ...task }) => task)];
    session.send({ jsonrpc: '2.0', id: request.id, result: { tasks } });
  }

  /** notifications/tasks/status from an upstream: to the session that owns the task. */
  statusFromUpstream(upstream: Upstream, notification: WireNotification): boolean {
    const theirs = taskIdOf(notification.params);
    const ours = theirs === undefined ? undefined : this.upstreamIds.ours(upstream, theirs);
    const joined = ours === undefined ? undefined : this.upstreamTasks.get(ours);
    if (!joined || joined.upstream !== upstream) return false;
    if (isTerminal(notification.params?.status)) {
      joined.ended = true;
      if (joined.createdBy) this.relay.dropProgress(joined.createdBy);
    }
    if (!joined.hidden) joined.session.send({ ...notification, params: retag(notification.params, theirs!, ours!) });
    return true;
  }

  // --- an upstream's sampling/elicitation as a task of a session ------------------------------

  /**
   * A task-augmented request of an upstream, for `session`: relayed as it is when the session
   * declared task support for it, else run by exai as a task around a plain request.
   */
  askAsTask(session: RelaySession, sessionCanTask: boolean, upstream: Upstream, request: WireRequest): void {
    if (sessionCanTask) {
      this.relay.toSession(session, upstream, request, (response) => {
        const theirs = createdTaskId(response);
        if (!theirs) {
          this.relay.answerUpstream(upstream, { ...response, id: request.id });
          return;
        }
        const ours = newTaskId();
        this.sessionTasks.set(ours, { theirs, upstream, session });
        this.sessionIds.set(session, theirs, ours);
        this.relay.answerUpstream(upstream, { ...response, id: request.id, result: retag(response.result, theirs, ours) });
      });
      return;
    }
    const { task: asked, ...plain } = request.params ?? {};
    const requestedTtl = (asked as { ttl?: unknown } | undefined)?.ttl;
    const now = new Date().toISOString();
    const local: LocalTask = {
      task: {
        taskId: `exai-${randomUUID()}`,
        status: 'working',
        createdAt: now,
        lastUpdatedAt: now,
        ttl: typeof requestedTtl === 'number' ? requestedTtl : LOCAL_TTL_MS,
        pollInterval: LOCAL_POLL_MS,
      },
      upstream,
      downId: undefined,
      response: undefined,
      waiters: [],
    };
    this.local.set(local.task.taskId, local);
    this.relay.answerUpstream(upstream, { jsonrpc: '2.0', id: request.id, result: { task: { ...local.task } } });
    local.downId = this.relay.toSession(session, upstream, { ...request, params: plain }, (response) => this.finishLocal(local, response));
  }

  /** tasks/* from an upstream (it polls a task it asked a session for). True when handled. */
  fromUpstream(upstream: Upstream, request: WireRequest): boolean {
    if (request.method === 'tasks/list') {
      void this.listForUpstream(upstream, request);
      return true;
    }
    const taskId = taskIdOf(request.params);
    if (taskId === undefined) {
      this.relay.answerUpstream(upstream, errorResponse(request.id, INVALID_PARAMS, `${request.method} needs a string "taskId"`));
      return true;
    }
    const local = this.local.get(taskId);
    if (local && local.upstream === upstream) {
      void this.answerLocal(local, request);
      return true;
    }
    const joined = this.sessionTasks.get(taskId);
    if (!joined || joined.upstream !== upstream) {
      this.relay.answerUpstream(upstream, unknownTask(request, taskId));
      return true;
    }
    this.relay.toSession(joined.session, upstream, { ...request, params: { ...request.params, taskId: joined.theirs } }, (response) =>
      this.relay.answerUpstream(upstream, { ...response, id: request.id, ...(response.result ? { result: retag(response.result, joined.theirs, taskId) } : {}) }),
    );
    return true;
  }

  /** notifications/tasks/status from a session: to the upstream whose task it runs. */
  statusFromSession(session: RelaySession, notification: WireNotification): boolean {
    const theirs = taskIdOf(notification.params);
    const ours = theirs === undefined ? undefined : this.sessionIds.ours(session, theirs);
    const joined = ours === undefined ? undefined : this.sessionTasks.get(ours);
    if (!joined || joined.session !== session) return false;
    if (isTerminal(notification.params?.status)) joined.ended = true;
    joined.upstream.send({ ...notification, params: retag(notification.params, theirs!, ours!) }).catch(() => undefined);
    return true;
  }

  private async listForUpstream(upstream: Upstream, request: WireRequest): Promise<void> {
    const tasks: Record<string, unknown>[] = [...this.local.values()].filter((l) => l.upstream === upstream).map((l) => ({ ...l.task }));
    const theirs = [...this.sessionTasks].filter(([, j]) => j.upstream === upstream);
    for (const [taskId, j] of theirs) {
      const response = await new Promise<WireResponse>((resolve) =>
        this.relay.toSession(j.session, upstream, { jsonrpc: '2.0', id: `list-${taskId}`, method: 'tasks/get', params: { taskId: j.theirs } }, resolve),
      );
      if (response.result) {
        const { _meta: _m, ...task } = retag(response.result, j.theirs, taskId);
        tasks.push(task);
      }
    }
    this.relay.answerUpstream(upstream, { jsonrpc: '2.0', id: request.id, result: { tasks } });
  }

  private async answerLocal(local: LocalTask, request: WireRequest): Promise<void> {
    const { task, upstream } = local;
    const reply = (response: WireResponse) => this.relay.answerUpstream(upstream, { ...response, id: request.id });
    if (request.method === 'tasks/get') {
      reply({ jsonrpc: '2.0', id: request.id, result: { ...task } });
    } else if (request.method === 'tasks/cancel') {
      if (isTerminal(task.status)) {
        reply(errorResponse(request.id, INVALID_PARAMS, `task ${task.taskId} is already ${task.status}`));
        return;
      }
      if (local.downId) this.relay.cancelToSession(local.downId, 'the server cancelled the task');
      this.settleLocal(local, 'cancelled', errorResponse(request.id, INTERNAL_ERROR, `task ${task.taskId} was cancelled`), 'cancelled by the server');
      reply({ jsonrpc: '2.0', id: request.id, result: { ...task } });
    } else if (request.method === 'tasks/result') {
      if (!isTerminal(task.status)) await new Promise<void>((resolve) => local.waiters.push(resolve));
      const response = local.response!;
      if (response.error) reply(response);
      else reply({ ...response, result: { ...response.result, _meta: { ...((response.result?._meta as object) ?? {}), [RELATED_TASK_META]: { taskId: task.taskId } } } });
    } else {
      reply(errorResponse(request.id, INVALID_PARAMS, `exai does not serve ${request.method} for tasks`));
    }
  }

  private finishLocal(local: LocalTask, response: WireResponse): void {
    if (isTerminal(local.task.status)) return;
    local.downId = undefined;
    if (response.error) this.settleLocal(local, 'failed', response, response.error.message);
    else this.settleLocal(local, 'completed', response);
  }

  private settleLocal(local: LocalTask, status: TaskStatus, response: WireResponse, statusMessage?: string): void {
    const { task } = local;
    task.status = status;
    task.lastUpdatedAt = new Date().toISOString();
    if (statusMessage) task.statusMessage = statusMessage;
    local.response = response;
    for (const resolve of local.waiters.splice(0)) resolve();
    local.upstream.send({ jsonrpc: '2.0', method: 'notifications/tasks/status', params: { ...task } }).catch(() => undefined);
    const timer = setTimeout(() => this.local.delete(task.taskId), task.ttl ?? LOCAL_TTL_MS);
    timer.unref();
  }

  // --- peers going away ----------------------------------------------------------------------

  /** A session closed: the tasks it joined cannot be reached from any other session. */
  sessionClosed(session: RelaySession): void {
    this.modern.sessionClosed(session);
    for (const [taskId, j] of [...this.upstreamTasks]) if (j.session === session) this.forget(taskId);
    for (const [taskId, j] of [...this.sessionTasks]) if (j.session === session) this.forgetSessionTask(taskId);
  }

  /** An upstream stopped: its tasks, and the tasks it asked for, are gone with it. */
  upstreamGone(upstream: Upstream): void {
    for (const [taskId, j] of [...this.upstreamTasks]) if (j.upstream === upstream) this.forget(taskId);
    for (const [taskId, j] of [...this.sessionTasks]) if (j.upstream === upstream) this.forgetSessionTask(taskId);
    for (const [taskId, l] of [...this.local]) {
      if (l.upstream !== upstream) continue;
      if (l.downId) this.relay.cancelToSession(l.downId, 'the server that asked stopped');
      this.local.delete(taskId);
    }
  }

  private forget(taskId: string): void {
    const joined = this.upstreamTasks.get(taskId);
    if (joined?.createdBy) this.relay.dropProgress(joined.createdBy);
    if (joined && this.upstreamIds.ours(joined.upstream, joined.theirs) === taskId) this.upstreamIds.delete(joined.upstream, joined.theirs);
    this.upstreamTasks.delete(taskId);
  }

  private forgetSessionTask(taskId: string): void {
    const joined = this.sessionTasks.get(taskId);
    if (joined && this.sessionIds.ours(joined.session, joined.theirs) === taskId) this.sessionIds.delete(joined.session, joined.theirs);
    this.sessionTasks.delete(taskId);
  }
}
