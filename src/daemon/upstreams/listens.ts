/**
 * Resource subscriptions to a 2026-07-28 server (DESIGN.md "Protocol eras"): it has no
 * `resources/subscribe`; a client opens a `subscriptions/listen` stream naming the URIs. The
 * gateway subscribes upstreams with resources/subscribe and resources/unsubscribe (one per URI,
 * however many sessions want it: subscriptions.ts); for such a server each becomes one listen
 * stream per URI, opened and closed by the SDK client, and its `notifications/resources/updated`
 * reach the client's handler as any server's do.
 */
import type { Client, McpSubscription } from '@modelcontextprotocol/client';
import { errorMessage } from '../../common/errors.js';
import { INTERNAL_ERROR, isRequest, type WireMessage, type WireResponse } from '../../transport/jsonrpc.js';

export class ResourceListens {
  private readonly open = new Map<string, Promise<McpSubscription>>();

  constructor(
    private readonly client: Client,
    /** An answer to the gateway's request, as if the server sent it. */
    private readonly answer: (response: WireResponse) => void,
  ) {}

  /** A message on its way to the server; true when it was a (un)subscribe this handles. */
  sending(message: WireMessage): boolean {
    if (!isRequest(message) || (message.method !== 'resources/subscribe' && message.method !== 'resources/unsubscribe')) return false;
    const uri = message.params?.uri;
    if (typeof uri !== 'string') return false;
    const ok = () => this.answer({ jsonrpc: '2.0', id: message.id, result: {} });
    if (message.method === 'resources/unsubscribe') {
      const subscription = this.open.get(uri);
      this.open.delete(uri);
      void subscription?.then((s) => s.close()).catch(() => undefined);
      ok();
      return true;
    }
    if (this.open.has(uri)) {
      ok();
      return true;
    }
    const listening = this.client.listen({ resourceSubscriptions: [uri] });
    this.open.set(uri, listening);
    listening.then(ok, (err: unknown) => {
      if (this.open.get(uri) === listening) this.open.delete(uri);
      this.answer({ jsonrpc: '2.0', id: message.id, error: { code: INTERNAL_ERROR, message: `could not subscribe to ${uri}: ${errorMessage(err)}` } });
    });
    return true;
  }
}
