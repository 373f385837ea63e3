import { idKey, type JsonRpcId } from './framing.js';

/**
 * Who waits for an answer across the shim's daemon connections: the client's requests sent on
 * the current connection and not yet answered (they get an error when it drops), and the
 * daemon's requests to the client. A client's late reply to a request of a connection that is
 * gone must not reach the next daemon, which would take it for the answer to its own request
 * with the same id.
 */
export class InflightLedger {
  private readonly clientRequests = new Map<string, JsonRpcId>();
  private serverRequests = new Set<string>();
  private staleServerRequests = new Set<string>();

  /** The client's requests sent on the current connection and not yet answered. */
  get clientWaiting(): number {
    return this.clientRequests.size;
  }

  /** A client request went to the daemon. */
  sent(id: JsonRpcId): void {
    this.clientRequests.set(idKey(id), id);
  }

  /** The daemon answered a client request. */
  answered(id: JsonRpcId): void {
    this.clientRequests.delete(idKey(id));
  }

  /** Forgets the client requests in flight and returns them (key, id), to be answered locally. */
  takeClientRequests(): [string, JsonRpcId][] {
    const all = [...this.clientRequests];
    this.clientRequests.clear();
    return all;
  }

  /** The daemon asked the client something on the current connection. */
  serverAsked(id: JsonRpcId): void {
    const key = idKey(id);
    this.serverRequests.add(key);
    this.staleServerRequests.delete(key);
  }

  /**
   * The client replied to a daemon request: false when the connection that asked is gone
   * (drop the reply), true otherwise (relay it).
   */
  replyGoesThrough(id: JsonRpcId): boolean {
    const key = idKey(id);
    if (this.serverRequests.delete(key)) return true;
    return !this.staleServerRequests.delete(key);
  }

  /** The connection dropped: the daemon requests it carried can no longer be answered. */
  connectionLost(): void {
    for (const key of this.serverRequests) this.staleServerRequests.add(key);
    this.serverRequests = new Set();
  }
}
