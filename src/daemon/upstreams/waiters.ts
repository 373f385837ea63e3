/**
 * Promises that resolve once a state machine reaches a state the waiter accepts: the requests
 * and lists that wait for an upstream to come up (or to give up trying).
 */
export class StateWaiters<S> {
  private waiting: { accepts: (state: S) => boolean; resolve: () => void }[] = [];

  /** Resolves at once when `current` is accepted, else at the first accepted `changed()`. */
  until(current: S, accepts: (state: S) => boolean): Promise<void> {
    if (accepts(current)) return Promise.resolve();
    return new Promise((resolve) => this.waiting.push({ accepts, resolve }));
  }

  /** The state is now `state`: resolves every waiter that accepts it. */
  changed(state: S): void {
    const still: typeof this.waiting = [];
    for (const w of this.waiting) {
      if (w.accepts(state)) w.resolve();
      else still.push(w);
    }
    this.waiting = still;
  }
}
