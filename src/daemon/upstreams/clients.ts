/**
 * The sessions as the upstreams see them: one client that answers sampling, elicitation and
 * roots (through whichever session can), receives log messages, resource updates and list
 * changes, and owns tasks. Everything an upstream sends towards sessions goes through here.
 */
import type { Server } from '@modelcontextprotocol/server';
import type { ServerNotification } from '@modelcontextprotocol/server';
import { INVALID_REQUEST, errorResponse, isRequest, isResponse, type WireMessage, type WireRequest } from '../../transport/jsonrpc.js';
import type { BuiltinTool } from '../builtins.js';
import { RELATED_CALL_META } from '../era-input.js';
import type { CatalogKind } from './catalog.js';
import type { Relay, RelaySession } from './relay.js';
import { capabilityFor, supports, supportsTask } from './routing.js';
import type { Subscriptions } from './subscriptions.js';
import { RELATED_TASK_META, type Tasks } from './tasks.js';
import type { Upstream } from './upstream.js';

/** One session as the gateway keeps it. */
export interface GatewaySession extends RelaySession {
  readonly server: Server;
  /** The session's own transport (an EraTransport in the daemon), under the gateway's hooks. */
  readonly transport: object;
  readonly builtins: readonly BuiltinTool[];
  /** Gateway-wide sequence number of this session's latest request: larger = more recent. */
  lastActive: number;
}

/**
 * A 2026-07-28 session (its transport is an era-session.ts EraTransport that opened modern). It
 * takes an upstream's request only inside one of its calls to that upstream (as input_required).
 */
export function isModern(s: GatewaySession): boolean {
  return (s.transport as { era?: unknown }).era === 'modern';
}

/** Initialized and still connected: notifications before initialize would confuse a client, after close they cannot be sent. */
export function ready(s: GatewaySession): boolean {
  return s.server.getClientCapabilities() !== undefined && s.server.transport !== undefined;
}

export class Clients {
  readonly sessions = new Set<GatewaySession>();

  constructor(
    private readonly relay: Relay,
    private readonly tasks: Tasks,
    private readonly subscriptions: Subscriptions<GatewaySession>,
  ) {}

  /** One message from an upstream before its SDK client sees it; true when it was taken here. */
  fromUpstream(upstream: Upstream, message: WireMessage): boolean {
    if (isResponse(message)) return this.relay.fromUpstream(upstream, message);
    if (!isRequest(message)) {
      if (message.method === 'notifications/tasks/status') return this.tasks.statusFromUpstream(upstream, message);
      return this.relay.fromUpstream(upstream, message);
    }
    if (message.method.startsWith('tasks/')) return this.tasks.fromUpstream(upstream, message);
    const capability = capabilityFor(message.method);
    // ping and anything unknown: the SDK client answers (pong, or method not found).
    if (!capability) return false;
    const can = (s: GatewaySession) =>
      ready(s) && supports(s.server.getClientCapabilities(), capability, message) && (!isModern(s) || this.relay.callIdsOf(s, upstream).length > 0);
    const session = this.answerer(upstream, message, can);
    if (!session) {
      const mode = message.method === 'elicitation/create' ? ' (of this mode)' : '';
      this.relay.answerUpstream(
        upstream,
        errorResponse(message.id, INVALID_REQUEST, `no client connected to this workspace's exai daemon supports ${capability}${mode}`),
      );
      return true;
    }
    // A request made inside one of the upstream's tasks names it by exai's id to the session.
    let request = this.tasks.relatedForSession(upstream, message);
    if (isModern(session)) {
      // Over stdio a 2025 server's request names no request it relates to: the newest call to it.
      const meta = { ...(request.params?._meta as Record<string, unknown> | undefined), [RELATED_CALL_META]: this.relay.callIdsOf(session, upstream)[0] };
      request = { ...request, params: { ...request.params, _meta: meta } };
    }
    if (request.params?.task !== undefined && capability !== 'roots') {
      this.tasks.askAsTask(session, supportsTask(session.server.getClientCapabilities(), request.method), upstream, request);
    } else {
      this.relay.toSession(session, upstream, request);
    }
    return true;
  }

  /** Log messages, resource updates and URL-elicitation completions, to the sessions they concern. */
  notify(upstream: Upstream, notification: ServerNotification): void {
    if (notification.method === 'notifications/message') {
      const { logger, ...rest } = notification.params;
      const params = { ...rest, logger: logger ? `${upstream.name}/${logger}` : upstream.name };
      // With the session id, the SDK applies the level that session chose with logging/setLevel.
      for (const s of this.sessions) {
        if (ready(s)) s.server.sendLoggingMessage(params, s.server.transport?.sessionId).catch(() => undefined);
      }
    } else if (notification.method === 'notifications/resources/updated') {
      for (const s of this.subscriptions.subscribers(upstream, notification.params.uri)) {
        if (ready(s)) s.server.sendResourceUpdated(notification.params).catch(() => undefined);
      }
    } else if (notification.method === 'notifications/elicitation/complete') {
      // Which session got the URL elicitation is not recorded; those that can do URL mode learn it is over.
      for (const s of this.sessions) {
        if (ready(s) && s.server.getClientCapabilities()?.elicitation?.url) s.server.notification(notification).catch(() => undefined);
      }
    }
  }

  broadcastListChanged(kinds: readonly CatalogKind[]): void {
    for (const s of this.sessions) {
      if (!ready(s)) continue;
      if (kinds.includes('tools')) s.server.sendToolListChanged().catch(() => undefined);
      if (kinds.includes('prompts')) s.server.sendPromptListChanged().catch(() => undefined);
      if (kinds.includes('resources')) s.server.sendResourceListChanged().catch(() => undefined);
    }
  }

  /**
   * Who answers an upstream's request: the session that owns the task it names (related-task
   * metadata), else the one with the newest call in flight on that upstream, else the most
   * recently active session that can.
   */
  private answerer(upstream: Upstream, request: WireRequest, can: (s: GatewaySession) => boolean): GatewaySession | undefined {
    const related = (request.params?._meta as Record<string, unknown> | undefined)?.[RELATED_TASK_META];
    const taskId = typeof related === 'object' && related !== null ? (related as { taskId?: unknown }).taskId : undefined;
    const owner = typeof taskId === 'string' ? this.find(this.tasks.ownerOf(upstream, taskId)) : undefined;
    if (owner && can(owner)) return owner;
    const caller = this.relay.callersOf(upstream).map((s) => this.find(s)).find((s) => s !== undefined && can(s));
    if (caller) return caller;
    return [...this.sessions].filter(can).sort((a, b) => b.lastActive - a.lastActive)[0];
  }

  /** The open session behind a relay's session handle. */
  private find(session: RelaySession | undefined): GatewaySession | undefined {
    return [...this.sessions].find((s) => s === session);
  }
}
