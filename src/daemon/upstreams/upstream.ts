import type { ServerCapabilities } from '@modelcontextprotocol/client';
import { errorMessage } from '../../common/errors.js';
import { SpawnError, type ChildProcessTransport } from '../../transport/child-process.js';
import { INTERNAL_ERROR, WireRequestError, asSdkMessage, type WireMessage } from '../../transport/jsonrpc.js';
import type { Logger } from '../log.js';
import { PagingProblems, emptyCatalog, rereadKind, type Catalog, type CatalogKind } from './catalog.js';
import type { KnownCatalog } from './catalog-cache.js';
import type { UpstreamSpec } from './config.js';
import { eraName, eraPlan, listenForListChanges, pinRefusal, startInEra, withEnvelope, withoutEnvelope, type EraPlan, type StartFailure, type UpstreamClient } from './era.js';
import { ListRefresh, wireClient } from './client-events.js';
import { inputRoundsOf, type InputRounds } from './input-rounds.js';
import { ResourceListens } from './listens.js';
import { describeStartError, initialize, launch, probeKilledIt, terminate } from './launch.js';
import { CrashHistory, DEFAULT_SUPERVISION, type SupervisionOptions } from './supervision.js';
import { unavailableWhy, type UpstreamEvents, type UpstreamState, type UpstreamStatus } from './upstream-status.js';
import { StateWaiters } from './waiters.js';
import { monotonicNow } from '../../common/clock.js';
import { UpstreamStderr } from './stderr-budget.js';

export { DEFAULT_SUPERVISION, type SupervisionOptions } from './supervision.js';
export type { UpstreamEvents, UpstreamState, UpstreamStatus } from './upstream-status.js';

export type { Catalog, CatalogKind } from './catalog.js';

/** A send that is done already (taken by the input rounds or the listens). */
const SENT = Promise.resolve();
export { UPSTREAM_CLIENT_CAPABILITIES } from './launch.js';

/**
 * One upstream MCP server: one process tree, one SDK Client (for initialize, the catalog and
 * notifications), shared by every session; the gateway relays sessions' requests on the same
 * transport without the SDK. Supervised: when it exits it is restarted with capped exponential
 * backoff; if it keeps crashing it is marked failed with its last stderr lines.
 */
export class Upstream {
  private _state: UpstreamState = 'stopped';
  private client: UpstreamClient | undefined;
  /** The input rounds of calls from 2025 sessions, while it is a 2026-07-28 server (input-rounds.ts). */
  private rounds: InputRounds | undefined;
  /** Its resource subscriptions as listen streams, while it is a 2026-07-28 server (listens.ts). */
  private listens: ResourceListens | undefined;
  /** How the current (or last) start chose its era. */
  private startPlan: EraPlan | undefined;
  private transport: ChildProcessTransport | undefined;
  /** Bumped by every attempt and by stop(): events from an older attempt are ignored. */
  private generation = 0;
  private restartTimer: NodeJS.Timeout | undefined;
  private readonly crashes: CrashHistory;
  private restartCount = 0;
  private _lastError: string | null = null;
  /** What to change in servers.json for it to start, when exai knows (its last failure's StartFailure.fix). */
  private _fix: string | null = null;
  /** Set while a start takes longer than lists wait for it (see slowStart); cleared by the next state. */
  private slowNote: string | null = null;
  private readonly stderr: UpstreamStderr;
  private lastExit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  private readonly waiters = new StateWaiters<UpstreamState>();
  /** Lists whose last read stopped at a looping cursor (catalog.ts), said in the log once each. */
  private readonly paging = new PagingProblems((problem) => this.log.warn(`upstream ${this.name}: ${problem}`));
  private readonly reportPaging = this.paging.report;
  /** Re-reads of its lists after list_changed (client-events.ts). */
  private readonly lists = new ListRefresh(
    (generation) => generation === this.generation && this._state === 'up',
    (kind) => {
      const client = this.client;
      if (!client) return undefined;
      const known = this._known!;
      return rereadKind(client, known.capabilities, kind, known.catalog, this.reportPaging).catch((err) =>
        this.log.warn(`upstream ${this.name}: re-reading its ${kind} after list_changed failed: ${errorMessage(err)}`),
      );
    },
    (kind) => this.events.onListChanged(this, kind),
  );
  private readonly options: SupervisionOptions;
  /**
   * What it offers: set when it comes up, re-read on list_changed; from the cache before it
   * ever ran here. Shown while it is up, and while it is idle or starting (see `catalog`).
   */
  private _known: KnownCatalog | undefined;
  /** monotonicNow() when a request last went to it or came back (the idle clock; see gateway's idle watch). */
  lastUsedAt = monotonicNow();

  constructor(
    readonly spec: UpstreamSpec,
    private readonly events: UpstreamEvents,
    private readonly log: Logger,
    options: Partial<SupervisionOptions> = {},
    known?: KnownCatalog,
  ) {
    this.options = { ...DEFAULT_SUPERVISION, ...options };
    this.crashes = new CrashHistory(this.options);
    this.stderr = new UpstreamStderr(spec.name, this.options, log);
    this._known = known;
  }

  get name(): string {
    return this.spec.name;
  }
  get state(): UpstreamState {
    return this._state;
  }
  /**
   * What sessions are shown: the live catalog while up; while idle or starting, the one it had
   * when it last ran (cached), so its tools stay listed and a call to one starts it; empty
   * while it restarts after a crash, has failed or is stopped (its tools leave the aggregate).
   */
  get catalog(): Catalog {
    return this.shown()?.catalog ?? emptyCatalog();
  }
  get serverCapabilities(): ServerCapabilities | undefined {
    return this.shown()?.capabilities;
  }
  /** The `instructions` the server gave in its initialize result (while idle: the last ones). */
  get instructions(): string | undefined {
    return this.shown()?.instructions;
  }
  /** What it offered when it last came up, for the catalog cache; undefined while never seen. */
  get known(): KnownCatalog | undefined {
    return this._known;
  }
  /** Whether its catalog is known without waiting for it: it is up, or it was seen before. */
  get catalogKnown(): boolean {
    return this.shown() !== undefined;
  }
  private shown(): KnownCatalog | undefined {
    const s = this._state;
    return s === 'up' || s === 'idle' || s === 'starting' ? this._known : undefined;
  }
  get pid(): number | null {
    return this._state === 'up' || this._state === 'starting' ? (this.transport?.pid ?? null) : null;
  }

  status(): UpstreamStatus {
    const catalog = this.catalog;
    return {
      name: this.name,
      state: this._state,
      lifecycle: this.spec.lifecycle,
      idleTimeoutMs: this.spec.idleTimeoutMs,
      pid: this.pid,
      restarts: this.restartCount,
      tools: catalog.tools.length,
      prompts: catalog.prompts.length,
      resources: catalog.resources.length,
      protocol: eraName(this.shown()?.era) ?? null,
      lastError: this.slowNote ?? this._lastError,
      fix: this._state === 'failed' ? this._fix : null,
      stderrTail: this.stderr.tail,
      catalogProblem: this.paging.summary(),
    };
  }

  /**
   * Starts the process: a requested start from `stopped` (crash counting begins anew) or from
   * `idle` (crash counts go on: waking is not a new configuration). No-op in any other state.
   */
  start(): void {
    if (this._state !== 'stopped' && this._state !== 'idle') return;
    if (this._state === 'stopped') {
      this.crashes.reset();
      this.restartCount = 0;
    }
    void this.attempt('starting');
  }

  /** A lazy upstream waits for its first request: `stopped` -> `idle` (no process). */
  park(): void {
    if (this._state === 'stopped') this.setState('idle');
  }

  /**
   * For a request routed to it: starts it when idle, waits while it starts (bounded by
   * `startTimeoutMs`), and rejects with `unavailable()` (naming why) when it is not up then.
   */
  async ensureUp(): Promise<void> {
    if (this._state === 'idle') this.start();
    if (this._state === 'starting') await this.whenStarted();
    if (this._state !== 'up') throw this.unavailable();
  }

  /** Resolves when the upstream is no longer `starting`/`restarting` (up, failed or stopped). */
  whenSettled(): Promise<void> {
    return this.waiters.until(this._state, (s) => s !== 'starting' && s !== 'restarting');
  }

  /**
   * Resolves when the first attempt is over (up, or crashed and waiting to restart). Lets the
   * first tools/list include an upstream that is still initializing instead of answering without it.
   */
  whenStarted(): Promise<void> {
    return this.waiters.until(this._state, (s) => s !== 'starting');
  }

  /** Lists stopped waiting for this start (start-wait.ts): exai_status and `exai list` name it until it is up or down. */
  slowStart(waitedMs: number): void {
    if (this._state !== 'starting' && this._state !== 'restarting') return;
    this.slowNote = `still starting after ${Math.round(waitedMs / 1000)} s (no answer to initialize or to its lists yet); lists and new sessions go on without it until it is up`;
    this.log.warn(`upstream ${this.name}: ${this.slowNote}`);
  }

  /**
   * A requested stop (not a crash): the state becomes `stopped`, nothing restarts it, and the
   * process tree is stopped in steps (stdin, SIGTERM, SIGKILL). Resolves when the tree is gone.
   */
  async stop(reason = 'stopped'): Promise<void> {
    await this.end('stopped', reason);
  }

  /**
   * The idle stop: like stop() (requested, not a crash, restart counts untouched), but it ends
   * `idle`, and the next request routed to it starts it again.
   */
  async sleep(reason: string): Promise<void> {
    await this.end('idle', reason);
  }

  private async end(next: 'stopped' | 'idle', reason: string): Promise<void> {
    this.generation++;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    const { client, transport } = this;
    this.client = undefined;
    this.transport = undefined;
    if (this._state !== next) this.log.info(`upstream ${this.name}: ${reason}`);
    this.setState(next);
    if (transport) await terminate(client, transport);
    this.stderr.flush();
  }

  /**
   * Writes one message to the server as it is (the gateway's relay: requests from sessions
   * with ids of its own, answers to the server's requests, notifications). Rejects when the
   * process is not running.
   */
  send(message: WireMessage): Promise<void> {
    const transport = this.transport;
    if (!transport || transport.exit) return Promise.reject(this.unavailable());
    try {
      if (this.rounds?.sending(message) || this.listens?.sending(message)) return SENT;
      // A 2026-07-28 server reads each request's era and exai's capabilities from its _meta; a 2025 one gets none.
      const envelope = this.client?.envelope();
      return transport.send(asSdkMessage(envelope ? withEnvelope(message, envelope) : withoutEnvelope(message)));
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
  }

  /** How the process ended last, for "exited during the call" errors; undefined while it runs. */
  exitDescription(): string | undefined {
    const exit = this.lastExit;
    if (!exit) return undefined;
    return exit.signal ? `killed by ${exit.signal}` : `exit code ${exit.code}`;
  }

  /** The error a session gets for a call to an upstream that is not up. */
  unavailable(): WireRequestError {
    const why = unavailableWhy(this._state, this._lastError, this._fix);
    return new WireRequestError(INTERNAL_ERROR, `upstream server "${this.name}" ${why}`, { upstream: this.name, state: this._state });
  }

  private setState(next: UpstreamState): void {
    const previous = this._state;
    if (previous === next) return;
    this._state = next;
    this.slowNote = null;
    this.waiters.changed(next);
    this.events.onState(this, previous);
  }

  private async attempt(state: 'starting' | 'restarting'): Promise<void> {
    const generation = ++this.generation;
    this.restartTimer = undefined;
    this.lastExit = undefined;
    this.setState(state);
    const plan = eraPlan(this.spec.protocol, this._known?.era, this.options.startTimeoutMs);
    const failure = await startInEra(plan, this.spec.protocol, this.options.startTimeoutMs, (next) => this.connect(generation, next), () => {
      if (generation !== this.generation) return false;
      this.log.info(`upstream ${this.name}: exited on the server/discover probe; starting it again with initialize`);
      return true;
    });
    if (!failure || generation !== this.generation) return;
    this.forgetCachedEra();
    this.generation++;
    this.crashed(`failed to start: ${failure.detail}`, failure.fix);
  }

  /**
   * One spawn and connect in `plan`'s era. Undefined when it came up (state `up`) or a newer
   * attempt took over; otherwise why it failed, with the process already being stopped.
   */
  private async connect(generation: number, plan: EraPlan): Promise<StartFailure | undefined> {
    const current = () => generation === this.generation;
    this.startPlan = plan;
    this.rounds = undefined;
    this.listens = undefined;
    const rounds = inputRoundsOf(this, (message) => this.events.onMessage(this, message));
    /** The last message the server sent, if any: one that exits on the probe says nothing. */
    let heard: WireMessage | undefined;
    const launched = launch(
      this.spec,
      this.options,
      {
        log: this.log,
        onStderrLine: (line) => this.stderr.offer(line),
        intercept: (message) => {
          heard = message;
          return current() && ((this.rounds === rounds && rounds.received(message)) || this.events.onMessage(this, message));
        },
      },
      plan,
    );
    if ('error' in launched) return { detail: launched.error, probeKilledIt: false, unanswered: false };
    const { client, transport, closed } = launched;
    wireClient(client, {
      current,
      warn: (message) => this.log.warn(`upstream ${this.name}: ${message}`),
      notify: (notification) => this.events.onNotification(this, notification),
      listChanged: (kind) => this.lists.request(kind, generation),
    });
    this.client = client;
    this.transport = transport;
    client.onclose = () => {
      if (current() && this.client === client) this.onClosed(transport);
    };
    try {
      const timeoutMs = typeof plan.connect.timeout === 'number' ? plan.connect.timeout : this.options.startTimeoutMs;
      const { capabilities, catalog, era } = await initialize(client, transport, closed, timeoutMs, plan, this.reportPaging);
      if (!current()) return undefined;
      this._known = { catalog, capabilities, instructions: client.getInstructions(), era };
      if (era.kind === 'modern') {
        this.rounds = rounds;
        this.listens = new ResourceListens(client, (response) => void this.events.onMessage(this, response));
      }
      this.lastUsedAt = monotonicNow();
      this.log.info(
        `upstream ${this.name}: up (pid ${transport.pid ?? '?'}; MCP ${eraName(era)}${plan.how === 'probe' ? ', probed' : ''}; ${catalog.tools.length} tools, ${catalog.prompts.length} prompts, ${catalog.resources.length} resources)`,
      );
      this.setState('up');
      if (era.kind === 'modern') {
        listenForListChanges(client, capabilities)?.catch((err: unknown) => {
          if (current()) this.log.warn(`upstream ${this.name}: could not listen for its list changes: ${errorMessage(err)}`);
        });
      }
      return undefined;
    } catch (err) {
      if (!current()) return undefined;
      const detail = describeStartError(err, this.spec.command, transport);
      // A failed start is a crash like any other; make sure the process is gone before retrying.
      this.client = undefined;
      this.transport = undefined;
      this.lastExit = transport.exit;
      void terminate(client, transport);
      // Still running, and no start error: it did not answer (in time, or usably).
      const unanswered = transport.exit === undefined && !(err instanceof SpawnError);
      const exitedOnProbe = probeKilledIt(err, transport) || (transport.exit !== undefined && !heard);
      const pinned = pinRefusal(plan, this.spec.protocol, err, { exitedUndiscovered: transport.exit !== undefined && !client.getDiscoverResult(), heard, detail });
      return pinned ?? { detail, probeKilledIt: plan.how === 'probe' && exitedOnProbe, unanswered };
    }
  }

  private onClosed(transport: ChildProcessTransport): void {
    this.stderr.flush();
    const wasUp = this._state === 'up';
    this.generation++;
    this.client = undefined;
    this.transport = undefined;
    this.lastExit = transport.exit;
    const how = this.exitDescription();
    const exited = how ? `exited (${how})` : 'the process exited';
    if (!wasUp) this.forgetCachedEra();
    this.crashed(wasUp ? exited : `failed to start: ${exited} before initializing`);
  }

  /** A start with the remembered era failed: it may no longer hold (the server was replaced), so the next start probes. */
  private forgetCachedEra(): void {
    if (this.startPlan?.how === 'cached' && this._known?.era) this._known = { ...this._known, era: undefined };
  }

  /** `fix`: the failure is certain (a revision the server refuses) and this is what to change; no restarts. */
  private crashed(reason: string, fix?: string): void {
    const lastLine = this.stderr.lastLine;
    this._lastError = lastLine ? `${reason}; last stderr: ${lastLine}` : reason;
    this._fix = fix ?? null;
    const delay = fix ? undefined : this.crashes.record();
    if (delay === undefined) {
      const what = fix ? this._lastError : `failed after ${this.crashes.describe()} (${this._lastError})`;
      this.log.error(`upstream ${this.name}: ${what}; ${fix ?? 'fix it'} and save .exai/servers.json to retry`);
      this.setState('failed');
      return;
    }
    this.log.warn(`upstream ${this.name}: ${this._lastError}; restarting in ${delay} ms`);
    this.setState('restarting');
    const generation = this.generation;
    this.restartTimer = setTimeout(() => {
      if (generation !== this.generation) return;
      this.restartCount++;
      void this.attempt('restarting');
    }, delay);
  }
}
