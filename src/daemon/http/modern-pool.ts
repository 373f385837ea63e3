/**
 * The daemon sessions that serve 2026-07-28 HTTP requests (modern.ts): one per client envelope
 * (clientInfo and clientCapabilities, which open the session's SDK Server), opened by the first
 * request that carries it, closed after the same quiet period as a 2025 HTTP session with no
 * request open. Nothing in them is the client's state: a daemon restart loses nothing a
 * 2026-07-28 client needs (an `input_required` round in flight is refused as unknown and called again).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { monotonicNow } from '../../common/clock.js';
import { errorMessage } from '../../common/errors.js';
import type { WireNotification, WireRequest } from '../../transport/jsonrpc.js';
import type { Logger } from '../log.js';
import { openSession, type Session } from '../session.js';
import type { DaemonState } from '../state.js';
import type { Gateway } from '../upstreams/gateway.js';
import { checkStandardHeaders, HEADER_MISMATCH } from './modern-headers.js';
import { ModernHttpTransport } from './modern.js';

interface ModernEntry {
  session: Session;
  transport: ModernHttpTransport;
  lastActive: number;
}

export interface ModernPoolOptions {
  state: DaemonState;
  log: Logger;
  gateway?: Gateway;
}

export class ModernSessions {
  private readonly entries = new Map<string, Promise<ModernEntry>>();
  private readonly opened = new Map<string, ModernEntry>();

  constructor(private readonly options: ModernPoolOptions) {}

  /** Serves one 2026-07-28 request POST (body already read and parsed). */
  async serve(req: IncomingMessage, res: ServerResponse, request: WireRequest, reply: (status: number, body: unknown) => void): Promise<void> {
    const mismatch = checkStandardHeaders(req, request);
    if (mismatch) {
      reply(400, { jsonrpc: '2.0', id: request.id, error: { code: HEADER_MISMATCH, message: mismatch.message, data: mismatch.data } });
      return;
    }
    const entry = await this.entryFor(request);
    entry.lastActive = monotonicNow();
    res.once('close', () => (entry.lastActive = monotonicNow()));
    entry.transport.request(request, res);
  }

  /**
   * A POSTed `notifications/cancelled`: to the session of the same envelope, where that request
   * is open. Without an envelope it could name another client's request: dropped (closing the
   * request's response cancels it too).
   */
  cancel(notification: WireNotification): void {
    const entry = this.opened.get(envelopeKey(notification));
    const requestId = notification.params?.requestId;
    if (entry && (typeof requestId === 'string' || typeof requestId === 'number')) entry.transport.cancel(requestId, notification.params?.reason);
  }

  /** The keep-alive beat (endpoint.ts) for every session's open requests. */
  beat(): void {
    for (const entry of this.opened.values()) entry.transport.beat();
  }

  /** Closes the sessions with no request open for `idleMs`. */
  sweep(now: number, idleMs: number): void {
    for (const [key, entry] of this.opened) {
      if (entry.transport.open > 0 || now - entry.lastActive < idleMs) continue;
      this.options.log.info(`HTTP 2026-07-28 session ${entry.session.id} expired: no request for ${Math.round(idleMs / 1000)} s`);
      this.forget(key);
      void entry.session.close();
    }
  }

  async close(): Promise<void> {
    const all = [...this.entries.values()];
    this.entries.clear();
    this.opened.clear();
    await Promise.all(all.map((p) => p.then((e) => e.session.close(), () => undefined)));
  }

  private forget(key: string): void {
    this.entries.delete(key);
    this.opened.delete(key);
  }

  private entryFor(request: WireRequest): Promise<ModernEntry> {
    const key = envelopeKey(request);
    let entry = this.entries.get(key);
    if (!entry) {
      const { state, log, gateway } = this.options;
      let transport!: ModernHttpTransport;
      entry = openSession(
        { kind: 'http', openTransport: (id, onIncoming) => (transport = new ModernHttpTransport(id, onIncoming)) },
        state,
        log,
        gateway,
      ).then((session) => {
        const opened: ModernEntry = { session, transport, lastActive: monotonicNow() };
        this.opened.set(key, opened);
        void session.closed.then(() => {
          if (this.opened.get(key) === opened) this.forget(key);
        });
        return opened;
      });
      entry.catch((err: unknown) => {
        log.warn(`HTTP 2026-07-28 session could not open: ${errorMessage(err)}`);
        this.forget(key);
      });
      this.entries.set(key, entry);
    }
    return entry;
  }
}

/** Which shared session a message belongs to: its client's identity and capabilities. */
function envelopeKey(message: WireRequest | WireNotification): string {
  const meta = (message.params?._meta ?? {}) as Record<string, unknown>;
  return JSON.stringify([meta['io.modelcontextprotocol/clientInfo'] ?? null, meta['io.modelcontextprotocol/clientCapabilities'] ?? null]);
}
