import type { Server } from '@modelcontextprotocol/server';
import type { Transport } from '@modelcontextprotocol/server';
import type { ServerNotification } from '@modelcontextprotocol/server';
import { errorMessage } from '../../common/errors.js';
import type { GatewayOptions, GatewayStatus } from './gateway-options.js';
import { InterceptedTransport } from '../../transport/intercepted.js';
import { INTERNAL_ERROR, asSdkMessage, errorResponse, isRequest, isResponse, type JsonRpcId, type WireMessage } from '../../transport/jsonrpc.js';
import type { BuiltinTool } from '../builtins.js';
import { silentLogger, type Logger } from '../log.js';
import { ShownCatalogs } from './catalog.js';
import { CatalogCache } from './catalog-cache.js';
import { Clients, isModern, type GatewaySession } from './clients.js';
import { loadServersConfig, sameSpec, specKey, type ServersConfig, type UpstreamSpec } from './config.js';
import { ServersConfigWatcher } from './config-watcher.js';
import { UpstreamIdleWatch } from './lifecycle.js';
import { Relay } from './relay.js';
import { StartWait, bounded, startingUnknown } from './start-wait.js';
import { SessionRequests } from './requests.js';
import { Directory } from './routing.js';
import { Subscriptions } from './subscriptions.js';
import { Tasks } from './tasks.js';
import { Upstream, type UpstreamEvents, type UpstreamState } from './upstream.js';

export { NAME_SEPARATOR, MAX_EXPOSED_NAME, exposedName } from './names.js';

export { GATEWAY_SERVER_CAPABILITIES, type GatewayOptions, type GatewayStatus } from './gateway-options.js';

let sessionCounter = 0;

/**
 * The upstream gateway: owns the workspace's upstream servers and serves their union, plus the
 * daemon's built-in tools, to every session. One instance per daemon; `connect` once per session.
 * Calls, reads and tasks are relayed as JSON-RPC (relay.ts, tasks.ts); lists, subscriptions,
 * logging and the built-ins go through each session's SDK Server.
 */
export class Gateway {
  private readonly upstreams = new Map<string, Upstream>();
  private readonly log: Logger;
  private readonly watcher: ServersConfigWatcher;
  private readonly relay: Relay;
  private readonly tasks: Tasks;
  private readonly subscriptions: Subscriptions<GatewaySession>;
  private readonly clients: Clients;
  private readonly directory = new Directory(
    () => this.upstreams.values(),
    () => this.firstStart(),
    () => this.learnCatalogs(),
  );
  private readonly cache: CatalogCache | undefined;
  private readonly idleWatch: UpstreamIdleWatch;
  private readonly shown = new ShownCatalogs<Upstream>();
  private readonly requests: SessionRequests;
  private config: ServersConfig;
  private seq = 0;
  private started = false;
  private closed = false;
  private readonly initialWaitMs: number;
  private readonly startWait: StartWait;

  constructor(private readonly options: GatewayOptions) {
    this.log = options.log ?? silentLogger;
    this.initialWaitMs = options.initialWaitMs ?? 10_000;
    this.startWait = new StartWait(this.initialWaitMs, () => this.upstreams.values());
    this.relay = new Relay({ callTimeoutMs: Math.min(options.callTimeoutMs ?? 24 * 3_600_000, 2 ** 31 - 1) });
    this.tasks = new Tasks(this.relay);
    this.subscriptions = new Subscriptions(this.relay, (name) => this.upstreams.get(name), this.log);
    this.clients = new Clients(this.relay, this.tasks, this.subscriptions);
    this.requests = new SessionRequests({
      relay: this.relay,
      tasks: this.tasks,
      directory: this.directory,
      subscriptions: this.subscriptions,
      upstreams: () => this.upstreams.values(),
      learnCatalogs: () => this.learnCatalogs(),
    });
    this.cache = options.catalogFile === undefined ? undefined : new CatalogCache(options.catalogFile, this.log);
    this.idleWatch = new UpstreamIdleWatch(
      () => this.upstreams.values(),
      (u) => this.relay.busyWith(u) || this.subscriptions.any(u) || this.tasks.busyWith(u),
    );
    this.config = loadServersConfig(options.workspace);
    this.watcher = new ServersConfigWatcher(
      { workspace: options.workspace, debounceMs: options.debounceMs, onReload: (config, changed) => this.apply(config, changed) },
      this.config,
    );
  }

  /** Starts the configured upstreams and the servers.json watch. Returns at once: upstreams start in the background. */
  start(): void {
    if (this.started || this.closed) return;
    this.started = true;
    this.apply(this.config, true);
    this.watcher.start();
  }

  /** Stops watching and stops every upstream's process tree; resolves when they are gone. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.watcher.close();
    this.idleWatch.close();
    this.startWait.close();
    const all = [...this.upstreams.values()];
    this.upstreams.clear();
    await Promise.all(all.map((u) => u.stop('stopped (the daemon is shutting down)')));
    this.cache?.flush();
  }

  /** The gateway now; a servers.json change the watch's debounce still holds back is applied first. */
  status(): GatewayStatus {
    this.watcher.flush();
    return {
      file: this.config.file,
      configError: this.config.ok ? null : this.config.error,
      upstreams: [...this.upstreams.values()].map((u) => u.status()),
    };
  }

  /** Re-reads servers.json now instead of waiting for the watch. */
  reload(): void {
    this.watcher.reload();
  }

  /** Resolves when no upstream is starting or restarting (or after `timeoutMs`). */
  async settled(timeoutMs = this.initialWaitMs): Promise<void> {
    await bounded(Promise.all([...this.upstreams.values()].map((u) => u.whenSettled())), timeoutMs);
  }

  /**
   * The upstreams' `instructions`, each under its server's name, for the sessions' initialize
   * result; undefined when none gave any.
   */
  instructions(): string | undefined {
    const parts = [...this.upstreams.values()].flatMap((u) => (u.instructions?.trim() ? [`## ${u.name}\n\n${u.instructions.trim()}`] : []));
    if (parts.length === 0) return undefined;
    return `This exai daemon serves the workspace's own MCP servers; their tools and prompts are named <server>__<name>. Their instructions follow, each under its server's name.\n\n${parts.join('\n\n')}`;
  }

  /**
   * Serves built-ins + upstreams on one session: registers the Server's handlers, connects it
   * to `transport` (the Server must have been created with GATEWAY_SERVER_CAPABILITIES) through
   * the gateway's hooks (InterceptedTransport: what the gateway relays itself never reaches the
   * Server). Returns the detach function to call when the session closes.
   */
  async connect(server: Server, transport: Transport, builtins: readonly BuiltinTool[] = []): Promise<() => void> {
    let initializeId: JsonRpcId | undefined;
    const hooked = new InterceptedTransport(transport, {
      intercept: (wire) => {
        if (isRequest(wire) && wire.method === 'initialize') initializeId = wire.id;
        return this.intercept(entry, wire);
      },
      // The initialize result carries the upstreams' instructions; upstreams still on their
      // first start get a bounded wait, so that a window opened with the daemon gets theirs
      // too. Without any, it goes out at once, in order with whatever is answered after it.
      outgoing: (message) => {
        if (initializeId === undefined || !('result' in message) || message.id !== initializeId) return message;
        initializeId = undefined;
        const withInstructions = () => {
          const instructions = this.instructions();
          return instructions ? { ...message, result: { ...message.result, instructions } } : message;
        };
        return this.anyStarting() ? this.firstStart().then(withInstructions) : withInstructions();
      },
    });
    const entry: GatewaySession = {
      id: `s${++sessionCounter}`,
      server,
      transport,
      builtins,
      lastActive: ++this.seq,
      send: (message) => void hooked.send(asSdkMessage(message)).catch(() => undefined),
    };
    this.requests.registerHandlers(entry);
    await server.connect(hooked);
    this.clients.sessions.add(entry);
    let detached = false;
    return () => {
      if (detached) return;
      detached = true;
      this.clients.sessions.delete(entry);
      this.requests.sessionClosed(entry);
      this.subscriptions.sessionClosed(entry);
      this.relay.sessionClosed(entry);
      this.tasks.sessionClosed(entry);
    };
  }

  // --- what sessions send ----------------------------------------------------------------------

  /** The session transport's intercept hook: fromSession, where a bug costs one request. */
  private intercept(entry: GatewaySession, wire: WireMessage): boolean {
    try {
      return this.fromSession(entry, wire);
    } catch (err) {
      // A bug here must cost one request, never the daemon (this runs in a socket's event).
      this.log.error(`session message ${'method' in wire ? wire.method : 'response'}: ${errorMessage(err)}`);
      if (isRequest(wire)) entry.send(errorResponse(wire.id, INTERNAL_ERROR, `exai could not handle ${wire.method.slice(0, 100)}: ${errorMessage(err)}`));
      return true;
    }
  }

  /** One message from a session; true when the gateway took it (the SDK Server never sees it). */
  private fromSession(entry: GatewaySession, message: WireMessage): boolean {
    if (isResponse(message)) return this.relay.fromSession(entry, message);
    if (!isRequest(message)) {
      if (message.method === 'notifications/roots/list_changed') {
        this.rootsChanged();
        return true;
      }
      if (message.method === 'notifications/initialized') {
        // The SDK records it first; then upstreams that asked for roots before this client
        // (which can answer) was there learn to ask again.
        setImmediate(() => {
          // (A 2026-07-28 session answers roots only inside its calls: nothing to ask it now.)
          if (entry.server.getClientCapabilities()?.roots && !isModern(entry)) this.rootsChanged();
        });
        return false;
      }
      if (message.method === 'notifications/tasks/status') return this.tasks.statusFromSession(entry, message);
      if (this.relay.fromSession(entry, message)) return true;
      // Cancelled before it went upstream (its server still starting, say): it never will.
      return message.method === 'notifications/cancelled' && this.requests.cancel(entry, message.params?.requestId);
    }
    entry.lastActive = ++this.seq;
    return this.requests.take(entry, message);
  }

  // --- configuration -------------------------------------------------------------------------

  private apply(config: ServersConfig, changed: boolean): void {
    if (this.closed || !this.started) return;
    this.config = config;
    if (!config.ok) {
      // Keep the last good set running: a half-saved file must not take the tools away. But a
      // server the file no longer names (when it still reads as JSON) was taken out on purpose:
      // it stops, and its failures stop being reported.
      if (changed) this.log.error(`upstreams: ${config.error}`);
      const names = config.names && new Set(config.names);
      for (const [name, upstream] of [...this.upstreams]) {
        if (!names || names.has(name)) continue;
        this.upstreams.delete(name);
        void upstream.stop('stopped (removed from servers.json)');
      }
      this.idleWatch.update();
      return;
    }
    const wanted = new Map(config.specs.map((spec) => [spec.name, spec]));
    for (const [name, upstream] of [...this.upstreams]) {
      const spec = wanted.get(name);
      if (spec && sameSpec(spec, upstream.spec)) {
        // Saving the file again is how a user retries an upstream that gave up.
        if (upstream.state === 'failed') this.replace(name, upstream, spec, 'retrying after servers.json was saved');
        continue;
      }
      this.upstreams.delete(name);
      void upstream.stop(spec ? 'stopped (its entry in servers.json changed)' : 'stopped (removed from servers.json)');
      if (spec) this.replace(name, undefined, spec, 'its entry in servers.json changed');
    }
    for (const [name, spec] of wanted) {
      if (!this.upstreams.has(name)) this.replace(name, undefined, spec, 'configured');
    }
    this.cache?.retain(new Set(wanted.keys()));
    this.idleWatch.update();
  }

  private replace(name: string, old: Upstream | undefined, spec: UpstreamSpec, why: string): void {
    if (old) void old.stop(`stopped (${why})`);
    const upstream = new Upstream(spec, this.upstreamEvents, this.log, this.options.supervision, this.cache?.get(name, specKey(spec)));
    this.upstreams.set(name, upstream);
    const command = [spec.command, ...spec.args].join(' ');
    if (spec.lifecycle === 'lazy') {
      this.log.info(`upstream ${name}: lazy, starts on its first request (${why}; ${upstream.known ? 'catalog cached' : 'no cached catalog yet'}): ${command}`);
      upstream.park();
    } else {
      this.log.info(`upstream ${name}: starting (${why}): ${command}`);
      upstream.start();
      this.startWait.started();
    }
  }

  /**
   * Waits, until the shared start deadline at most (start-wait.ts), for upstreams on their first
   * start whose catalog is not known (none cached), so early requests include them; one with a
   * cached catalog is listed from it meanwhile. After the deadline it returns at once.
   */
  private firstStart(): Promise<void> {
    return this.startWait.wait();
  }

  /** Starts the idle upstreams whose catalog was never seen, then waits for them as firstStart does. */
  private async learnCatalogs(): Promise<void> {
    for (const upstream of this.upstreams.values()) {
      if (upstream.state === 'idle' && !upstream.catalogKnown) {
        this.log.info(`upstream ${upstream.name}: starting to learn its catalog (none cached yet)`);
        upstream.start();
        this.startWait.started();
      }
    }
    await this.firstStart();
  }

  private anyStarting(): boolean {
    return [...this.upstreams.values()].some(startingUnknown);
  }

  // --- what upstreams send ---------------------------------------------------------------------

  private readonly upstreamEvents: UpstreamEvents = {
    onState: (upstream: Upstream, previous: UpstreamState) => {
      this.directory.invalidate();
      if (previous === 'up' || previous === 'starting' || previous === 'restarting') {
        if (upstream.state !== 'up') {
          const why =
            upstream.state === 'stopped' || upstream.state === 'idle'
              ? `upstream server "${upstream.name}" was stopped during the call`
              : `upstream server "${upstream.name}" exited during the call${upstream.exitDescription() ? ` (${upstream.exitDescription()})` : ''}; ${upstream.state === 'failed' ? 'it has failed, see exai_status' : 'it is being restarted, retry in a moment'}`;
          this.relay.upstreamGone(upstream, why);
          this.tasks.upstreamGone(upstream);
        }
      }
      if (this.upstreams.get(upstream.name) !== upstream && upstream.state !== 'stopped') return;
      if (upstream.state === 'up') {
        this.subscriptions.resubscribe(upstream);
        this.remember(upstream);
      }
      this.announce(upstream);
    },
    onListChanged: (upstream: Upstream) => {
      this.directory.invalidate();
      if (this.upstreams.get(upstream.name) !== upstream) return;
      this.remember(upstream);
      this.announce(upstream);
    },
    onNotification: (upstream: Upstream, notification: ServerNotification) => {
      if (this.upstreams.get(upstream.name) === upstream) this.clients.notify(upstream, notification);
    },
    onMessage: (upstream: Upstream, message: WireMessage) => this.clients.fromUpstream(upstream, message),
  };

  /** Files what an upstream that is up offers in the catalog cache. */
  private remember(upstream: Upstream): void {
    if (upstream.known && upstream.state === 'up') this.cache?.put(upstream.name, specKey(upstream.spec), upstream.known);
  }

  /**
   * Sends sessions `list_changed` for each kind of list whose part from `upstream` differs from
   * what they were last shown: its tools joined or left the aggregate, or it came up with
   * another catalog than the cached one it was listed with. Coming up as cached, or going idle
   * (its cached tools stay listed), changes nothing a session sees, and says nothing.
   */
  private announce(upstream: Upstream): void {
    const changed = this.shown.update(upstream, upstream.catalog);
    if (changed.length) this.clients.broadcastListChanged(changed);
  }

  /** Tells every running upstream that the roots may have changed: they ask again (roots/list). */
  private rootsChanged(): void {
    for (const upstream of this.upstreams.values()) {
      if (upstream.state === 'up') upstream.send({ jsonrpc: '2.0', method: 'notifications/roots/list_changed' }).catch(() => undefined);
    }
  }
}

