/**
 * Messages from the client that wait while the daemon is away: bounded in count and bytes, and
 * each one only for so long (its deadline), so that a client never waits forever.
 */
import type { MessageInfo } from './framing.js';
import { monotonicNow } from '../common/clock.js';

export interface Outgoing {
  bytes: Buffer;
  /** Only the classification travels with the bytes: a queued 5 MB message must not also keep its parsed copy. */
  info: MessageInfo;
  /** monotonicNow() after which the message is given up. */
  deadline: number;
}

export interface OutageQueueOptions {
  maxMessages: number;
  maxBytes: number;
  /** Messages whose deadline passed, oldest first (they have left the queue). */
  onExpired: (expired: Outgoing[]) => void;
}

export class OutageQueue {
  private items: Outgoing[] = [];
  private bytes = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly options: OutageQueueOptions) {}

  get length(): number {
    return this.items.length;
  }

  /** How many of the waiting messages are requests (someone waits for an answer). */
  get requests(): number {
    return this.items.reduce((n, m) => (m.info.kind === 'request' ? n + 1 : n), 0);
  }

  /** Queues a message; false when the queue is full (the caller answers it). */
  push(message: Outgoing): boolean {
    if (this.items.length >= this.options.maxMessages || this.bytes + message.bytes.length > this.options.maxBytes) return false;
    this.items.push(message);
    this.bytes += message.bytes.length;
    this.arm();
    return true;
  }

  /** Empties the queue, returning what it held (to send, or to refuse). */
  takeAll(): Outgoing[] {
    clearTimeout(this.timer);
    this.timer = undefined;
    const all = this.items;
    this.items = [];
    this.bytes = 0;
    return all;
  }

  private arm(): void {
    if (this.timer || this.items.length === 0) return;
    const wait = Math.max(0, this.items[0]!.deadline - monotonicNow());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      const now = monotonicNow();
      const expired: Outgoing[] = [];
      while (this.items.length > 0 && this.items[0]!.deadline <= now) {
        const message = this.items.shift()!;
        this.bytes -= message.bytes.length;
        expired.push(message);
      }
      if (expired.length > 0) this.options.onExpired(expired);
      this.arm();
    }, wait);
  }
}
