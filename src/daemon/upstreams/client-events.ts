/**
 * What an upstream's SDK client hears besides answers: log messages, resource updates and
 * URL-elicitation completions (passed on to sessions), and list changes, after which that part
 * of the catalog is re-read. The relay's traffic never reaches the client (upstream.ts).
 */
import type { ServerNotification } from '@modelcontextprotocol/client';
import { errorMessage } from '../../common/errors.js';
import type { CatalogKind } from './catalog.js';
import type { UpstreamClient } from './era.js';

export interface ClientEventHooks {
  /** Whether the start the client belongs to is still the current one. */
  current(): boolean;
  warn(message: string): void;
  notify(notification: ServerNotification): void;
  listChanged(kind: CatalogKind): void;
}

/** Sets the client's error and notification handlers; events of an older start are ignored. */
export function wireClient(client: UpstreamClient, hooks: ClientEventHooks): void {
  client.onerror = (err) => {
    if (hooks.current()) hooks.warn(errorMessage(err));
  };
  // The SDK v2 types of these notifications are the same JSON as v1's ServerNotification.
  const notify = (n: unknown) => {
    if (hooks.current()) hooks.notify(n as ServerNotification);
  };
  client.setNotificationHandler('notifications/message', notify);
  client.setNotificationHandler('notifications/resources/updated', notify);
  client.setNotificationHandler('notifications/elicitation/complete', notify);
  client.setNotificationHandler('notifications/tools/list_changed', () => hooks.listChanged('tools'));
  client.setNotificationHandler('notifications/prompts/list_changed', () => hooks.listChanged('prompts'));
  client.setNotificationHandler('notifications/resources/list_changed', () => hooks.listChanged('resources'));
}

/**
 * Re-reads after list_changed, one kind at a time: a burst collapses into the read running and
 * one more after it. Requests of an older start (`current` false) are ignored; `read` returns
 * undefined when there is nothing to read now (the upstream is not up).
 */
export class ListRefresh {
  private readonly running = new Set<CatalogKind>();
  private readonly again = new Set<CatalogKind>();

  constructor(
    private readonly current: (generation: number) => boolean,
    private readonly read: (kind: CatalogKind) => Promise<void> | undefined,
    private readonly changed: (kind: CatalogKind) => void,
  ) {}

  request(kind: CatalogKind, generation: number): void {
    if (!this.current(generation)) return;
    if (this.running.has(kind)) {
      this.again.add(kind);
      return;
    }
    const reading = this.read(kind);
    if (!reading) return;
    this.running.add(kind);
    void reading.then(() => {
      this.running.delete(kind);
      if (!this.current(generation)) return;
      this.changed(kind);
      if (this.again.delete(kind)) this.request(kind, generation);
    });
  }
}
