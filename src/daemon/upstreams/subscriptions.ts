/**
 * Resource subscriptions (MCP spec "Server: Resources: Subscriptions") shared by sessions: an
 * upstream hears one resources/subscribe per URI however many sessions want it, and one
 * resources/unsubscribe when the last of them lets go. A restarted upstream is subscribed again.
 */
import { WireRequestError } from '../../transport/jsonrpc.js';
import type { Logger } from '../log.js';
import type { Relay, RelaySession } from './relay.js';
import type { Upstream } from './upstream.js';
import { monotonicNow } from '../../common/clock.js';

export class Subscriptions<S extends RelaySession> {
  /** upstream name -> URI -> the sessions subscribed to it. */
  private readonly byUpstream = new Map<string, Map<string, Set<S>>>();

  constructor(
    private readonly relay: Relay,
    private readonly upstreamNamed: (name: string) => Upstream | undefined,
    private readonly log: Logger,
  ) {}

  /** Subscribes `session`; the first subscriber's request goes upstream (its error comes back as it was). */
  async subscribe(session: S, upstream: Upstream, uri: string): Promise<void> {
    let uris = this.byUpstream.get(upstream.name);
    if (!uris) this.byUpstream.set(upstream.name, (uris = new Map()));
    const sessions = uris.get(uri) ?? new Set<S>();
    if (sessions.size === 0) {
      const response = await this.relay.askUpstream(upstream, 'resources/subscribe', { uri });
      if (response.error) throw new WireRequestError(response.error.code, response.error.message, response.error.data);
    }
    sessions.add(session);
    uris.set(uri, sessions);
  }

  /** Drops `session`'s subscription to `uri` (of any upstream). */
  unsubscribe(session: S, uri: string): void {
    for (const [name, uris] of this.byUpstream) this.drop(name, uris, uri, session);
  }

  /** A session closed: it lets go of everything. */
  sessionClosed(session: S): void {
    for (const [name, uris] of this.byUpstream) for (const uri of [...uris.keys()]) this.drop(name, uris, uri, session);
  }

  /** Whether any session is subscribed to one of `upstream`'s resources (that keeps it up). */
  any(upstream: Upstream): boolean {
    for (const sessions of this.byUpstream.get(upstream.name)?.values() ?? []) if (sessions.size > 0) return true;
    return false;
  }

  subscribers(upstream: Upstream, uri: string): Iterable<S> {
    return this.byUpstream.get(upstream.name)?.get(uri) ?? [];
  }

  /** After a restart the new process knows nothing of the old one's subscriptions. */
  resubscribe(upstream: Upstream): void {
    for (const uri of this.byUpstream.get(upstream.name)?.keys() ?? []) {
      void this.relay.askUpstream(upstream, 'resources/subscribe', { uri }).then((r) => {
        if (r.error) this.log.warn(`upstream ${upstream.name}: re-subscribing to ${uri} after a restart failed: ${r.error.message}`);
      });
    }
  }

  private drop(name: string, uris: Map<string, Set<S>>, uri: string, session: S): void {
    const sessions = uris.get(uri);
    if (!sessions?.delete(session) || sessions.size > 0) return;
    uris.delete(uri);
    const upstream = this.upstreamNamed(name);
    if (upstream?.state !== 'up') return;
    upstream.lastUsedAt = monotonicNow();
    void this.relay.askUpstream(upstream, 'resources/unsubscribe', { uri }).then((r) => {
      if (r.error) this.log.warn(`upstream ${upstream.name}: unsubscribing from ${uri} failed: ${r.error.message}`);
    });
  }
}
