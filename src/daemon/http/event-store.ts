/**
 * Resumability of a 2025-11-25 HTTP session's SSE streams (spec "Resumability and
 * Redelivery"): every event a stream carries gets an id and is kept here, in memory and bounded,
 * so a client that lost the stream and comes back with `GET` + `Last-Event-ID` gets what came
 * after that id on the same stream. The shape is the SDK's `EventStore` (storeEvent,
 * replayEventsAfter), kept synchronous: an event is written right after it is stored, in order.
 *
 * Ids are `<stream>.<n>`, n counting the session's events, so an id names its stream (a cursor
 * within it, as the spec asks) and is never reused within the session. The store keeps the
 * newest events up to a count and a byte budget; a replay that would have to cross an evicted
 * event is refused rather than handing back a stream with a hole in it.
 */

/** At most this many events per session are kept for replay. */
export const MAX_EVENTS = 1_000;
/** And at most this many bytes of them (the newest event is kept whatever its size). */
export const MAX_EVENT_BYTES = 8 * 1024 * 1024;

interface StoredEvent {
  n: number;
  stream: string;
  /** The JSON-RPC message text; '' for a priming event (an id and no data). */
  text: string;
}

export type Replay = { stream: string } | { refused: string };

export class SessionEventStore {
  private readonly events: StoredEvent[] = [];
  private head = 0;
  private bytes = 0;
  private count = 0;
  /** The newest n evicted so far (0: none). */
  private evicted = 0;

  constructor(
    private readonly maxEvents = MAX_EVENTS,
    private readonly maxBytes = MAX_EVENT_BYTES,
  ) {}

  /** Keeps one event of `stream` and returns its id. */
  storeEvent(stream: string, text: string): string {
    const n = ++this.count;
    this.events.push({ n, stream, text });
    this.bytes += text.length;
    while (this.events.length - this.head > 1 && (this.events.length - this.head > this.maxEvents || this.bytes > this.maxBytes)) {
      const old = this.events[this.head++]!;
      this.bytes -= old.text.length;
      this.evicted = old.n;
    }
    // Drop the evicted prefix now and then, not on every event.
    if (this.head > 1024 && this.head * 2 > this.events.length) {
      this.events.splice(0, this.head);
      this.head = 0;
    }
    return `${stream}.${n}`;
  }

  /**
   * Sends the events of the stream `lastEventId` names that came after it, oldest first, and
   * says which stream that is; refused when the id is not one of this session's or events after
   * it are no longer held.
   */
  replayEventsAfter(lastEventId: string, send: (eventId: string, text: string) => void): Replay {
    const dot = lastEventId.lastIndexOf('.');
    const stream = lastEventId.slice(0, dot);
    const n = Number(lastEventId.slice(dot + 1));
    if (dot <= 0 || !Number.isSafeInteger(n) || n < 1 || n > this.count) return { refused: `event ${lastEventId} is not one of this session's` };
    if (n < this.evicted) return { refused: `events after ${lastEventId} are no longer held (the daemon keeps the newest ${this.maxEvents} per session)` };
    for (let i = this.head; i < this.events.length; i++) {
      const event = this.events[i]!;
      if (event.n > n && event.stream === stream && event.text !== '') send(`${stream}.${event.n}`, event.text);
    }
    return { stream };
  }
}
