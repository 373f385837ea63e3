/**
 * `subscriptions/listen` for a 2026-07-28 session (DESIGN.md "Protocol eras"): such a client hears
 * list changes and resource updates only on a listen request it keeps open, each notification
 * stamped with that request's id (`io.modelcontextprotocol/subscriptionId`). The session's SDK
 * Server speaks 2025: a listen's resources become `resources/subscribe` requests to it (and
 * `resources/unsubscribe` when the client cancels the listen), and the change notifications it
 * sends go out on every listen that asked for them, and nowhere else.
 */
import type { JsonRpcId, WireMessage, WireNotification, WireRequest } from '../transport/jsonrpc.js';

const SUBSCRIPTION_ID = 'io.modelcontextprotocol/subscriptionId';
const OWN_ID = 'exai-listen-';

interface Filter {
  toolsListChanged?: boolean;
  promptsListChanged?: boolean;
  resourcesListChanged?: boolean;
  resourceSubscriptions?: string[];
}

export interface SessionListensIo {
  toClient(message: WireMessage): void;
  toServer(message: WireMessage): void;
}

export class SessionListens {
  private readonly open = new Map<string, { id: JsonRpcId; filter: Filter }>();
  /** The own subscribe requests a listen's acknowledgement waits for, by request id. */
  private readonly acking = new Map<string, () => void>();
  private counter = 0;

  constructor(private readonly io: SessionListensIo) {}

  /** A message from the client; true when it was a listen, or the cancel of one (taken). */
  fromClient(message: WireMessage): boolean {
    if ('id' in message && 'method' in message && message.method === 'subscriptions/listen') {
      this.listen(message as WireRequest);
      return true;
    }
    if ('method' in message && !('id' in message) && message.method === 'notifications/cancelled') {
      const requestId = message.params?.requestId;
      const key = JSON.stringify(requestId);
      const listen = this.open.get(key);
      if (!listen) return false;
      this.open.delete(key);
      for (const uri of listen.filter.resourceSubscriptions ?? []) if (!this.wanted(uri)) this.request('resources/unsubscribe', uri);
      return true;
    }
    return false;
  }

  /** Whether a response from the Server answers one of this module's own requests (then it is taken). */
  ownResponse(id: JsonRpcId): boolean {
    if (typeof id !== 'string' || !id.startsWith(OWN_ID)) return false;
    const done = this.acking.get(id);
    this.acking.delete(id);
    done?.();
    return true;
  }

  /** A notification from the Server; true when it is a change notification (sent on the listens that want it). */
  fromServer(notification: WireNotification): boolean {
    const accepts = acceptor(notification);
    if (!accepts) return false;
    for (const { id, filter } of this.open.values()) {
      if (!accepts(filter)) continue;
      const params = notification.params ?? {};
      const meta = typeof params._meta === 'object' && params._meta !== null ? params._meta : {};
      this.io.toClient({ ...notification, params: { ...params, _meta: { ...meta, [SUBSCRIPTION_ID]: id } } });
    }
    return true;
  }

  private listen(request: WireRequest): void {
    const asked = (request.params?.notifications ?? {}) as Filter;
    const filter: Filter = {
      ...(asked.toolsListChanged === true ? { toolsListChanged: true } : {}),
      ...(asked.promptsListChanged === true ? { promptsListChanged: true } : {}),
      ...(asked.resourcesListChanged === true ? { resourcesListChanged: true } : {}),
      ...(Array.isArray(asked.resourceSubscriptions) && asked.resourceSubscriptions.length > 0
        ? { resourceSubscriptions: asked.resourceSubscriptions.filter((u): u is string => typeof u === 'string') }
        : {}),
    };
    // Acknowledged once its resources are subscribed upstream: updates after the ack are heard.
    const subscribing = (filter.resourceSubscriptions ?? []).filter((uri) => !this.wanted(uri)).map((uri) => this.request('resources/subscribe', uri));
    this.open.set(JSON.stringify(request.id), { id: request.id, filter });
    let waiting = subscribing.length;
    const ack = () => this.io.toClient({ jsonrpc: '2.0', method: 'notifications/subscriptions/acknowledged', params: { notifications: filter, _meta: { [SUBSCRIPTION_ID]: request.id } } });
    if (waiting === 0) ack();
    for (const id of subscribing) this.acking.set(id, () => --waiting === 0 && ack());
  }

  private wanted(uri: string): boolean {
    for (const { filter } of this.open.values()) if (filter.resourceSubscriptions?.includes(uri)) return true;
    return false;
  }

  private request(method: string, uri: string): string {
    const id = `${OWN_ID}${++this.counter}`;
    this.io.toServer({ jsonrpc: '2.0', id, method, params: { uri } });
    return id;
  }
}

/** Which listens a change notification goes to; undefined for any other notification. */
function acceptor(n: WireNotification): ((f: Filter) => boolean) | undefined {
  switch (n.method) {
    case 'notifications/tools/list_changed':
      return (f) => f.toolsListChanged === true;
    case 'notifications/prompts/list_changed':
      return (f) => f.promptsListChanged === true;
    case 'notifications/resources/list_changed':
      return (f) => f.resourcesListChanged === true;
    case 'notifications/resources/updated': {
      const uri = n.params?.uri;
      return (f) => typeof uri === 'string' && f.resourceSubscriptions?.includes(uri) === true;
    }
    default:
      return undefined;
  }
}
