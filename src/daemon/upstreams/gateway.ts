import type { Server } from '@modelcontextprotocol/sdk/server/index.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import {
  CallToolRequestSchema,
  ListPromptsRequestSchema,
  ListResourceTemplatesRequestSchema,
  ListResourcesRequestSchema,
  ListToolsRequestSchema,
  SubscribeRequestSchema,
  UnsubscribeRequestSchema,
  type ServerCapabilities,
  type Prompt,
  type ServerNotification,
  type Tool,
} from '@modelcontextprotocol/sdk/types.js';
import { errorMessage } from '../../common/errors.js';
import {
  INTERNAL_ERROR,
  INVALID_PARAMS,
  INVALID_REQUEST,
  WireRequestError,
  asSdkMessage,
  errorResponse,
  fromSdkMessage,
  isRequest,
  isResponse,
  type JsonRpcId,
  type WireMessage,
  type WireRequest,
} from '../../transport/jsonrpc.js';
import type { BuiltinTool } from '../builtins.js';
import { silentLogger, type Logger } from '../log.js';
import { invalidParams } from '../params.js';
import { ServersConfigWatcher, loadServersConfig, sameSpec, type ServersConfig, type UpstreamSpec } from './config.js';
import { Relay, type RelaySession } from './relay.js';
import { Directory, capabilityFor, supports, supportsTask, type Routed } from './routing.js';
import { RELATED_TASK_META, Tasks } from './tasks.js';
import { Upstream, type CatalogKind, type SupervisionOptions, type UpstreamEvents, type UpstreamState, type UpstreamStatus } from './upstream.js';

export { NAME_SEPARATOR, MAX_EXPOSED_NAME, exposedName } from './names.js';

/**
 * What every session's Server must declare, whatever the upstreams offer right now: upstreams
 * come and go while a session lives, and a capability cannot be added after initialize.
 */
export const GATEWAY_SERVER_CAPABILITIES: ServerCapabilities = {
  tools: { listChanged: true },
  prompts: { listChanged: true },
  resources: { subscribe: true, listChanged: true },
  completions: {},
  logging: {},
  tasks: { list: {}, cancel: {}, requests: { tools: { call: {} } } },
};

export interface GatewayStatus {
  /** The servers.json path. */
  file: string;
  /** One line naming the file and the problem while it is invalid; null when it is fine or absent. */
  configError: string | null;
  upstreams: UpstreamStatus[];
}

export interface GatewayOptions {
  /** Canonical workspace folder (servers.json lives in its `.exai`). */
  workspace: string;
  log?: Logger;
  /** Supervision knobs (backoff, crash limit); tests shorten them. */
  supervision?: Partial<SupervisionOptions>;
  /** Debounce for servers.json changes. */
  debounceMs?: number;
  /**
   * How long a list request (and a session's initialize) waits for upstreams that are still
   * starting, so a window that connects right after the daemon starts sees their tools.
   */
  initialWaitMs?: number;
  /**
   * Upper bound for one relayed request. The session's client has its own timeout and cancels
   * (which is relayed); this only stops a call that nobody waits for any more from being
   * tracked forever, so it is long. At most 2^31-1 ms (Node's timer limit).
   */
  callTimeoutMs?: number;
}

interface GatewaySession extends RelaySession {
  readonly server: Server;
  readonly builtins: readonly BuiltinTool[];
  /** Gateway-wide sequence number of this session's latest request: larger = more recent. */
  lastActive: number;
  /** Subscription keys (see subscriptionKey) this session holds. */
  readonly subscriptions: Set<string>;
}

let sessionCounter = 0;

/**
 * The upstream gateway: owns the workspace's upstream servers and serves their union, plus the
 * daemon's built-in tools, to every session. One instance per daemon; `connect` once per session.
 * Calls, reads and tasks are relayed as JSON-RPC (relay.ts, tasks.ts); lists, subscriptions,
 * logging and the built-ins go through each session's SDK Server.
 */
export class Gateway {
  private readonly upstreams = new Map<string, Upstream>();
  private readonly sessions = new Set<GatewaySession>();
  /** subscriptionKey -> sessions subscribed to that resource. */
  private readonly subscribers = new Map<string, Set<GatewaySession>>();
  private readonly log: Logger;
  private readonly watcher: ServersConfigWatcher;
  private readonly relay: Relay;
  private readonly tasks: Tasks;
  private readonly directory = new Directory(() => this.upstreams.values());
  private config: ServersConfig;
  private seq = 0;
  private started = false;
  private closed = false;
  private readonly initialWaitMs: number;

  constructor(private readonly options: GatewayOptions) {
    this.log = options.log ?? silentLogger;
    this.initialWaitMs = options.initialWaitMs ?? 10_000;
    this.relay = new Relay({ callTimeoutMs: Math.min(options.callTimeoutMs ?? 24 * 3_600_000, 2 ** 31 - 1) });
    this.tasks = new Tasks(this.relay);
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
    const all = [...this.upstreams.values()];
    this.upstreams.clear();
    await Promise.all(all.map((u) => u.stop('stopped (the daemon is shutting down)')));
  }

  status(): GatewayStatus {
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
   * to `transport` (the Server must have been created with GATEWAY_SERVER_CAPABILITIES), and
   * relays what the gateway forwards without the SDK. Returns the detach function to call when
   * the session closes.
   */
  async connect(server: Server, transport: Transport, builtins: readonly BuiltinTool[] = []): Promise<() => void> {
    const entry: GatewaySession = {
      id: `s${++sessionCounter}`,
      server,
      builtins,
      lastActive: ++this.seq,
      subscriptions: new Set(),
      send: (message) => void sdkSend(asSdkMessage(message)).catch(() => undefined),
    };
    this.registerHandlers(entry);
    await server.connect(transport);
    const sdkDeliver = transport.onmessage;
    const sdkSend = transport.send.bind(transport);
    let initializeId: JsonRpcId | undefined;
    transport.onmessage = (message, extra) => {
      const wire = fromSdkMessage(message);
      if (isRequest(wire) && wire.method === 'initialize') initializeId = wire.id;
      if (!this.fromSession(entry, wire)) sdkDeliver?.(message, extra);
    };
    // The initialize result carries the upstreams' instructions; upstreams still starting get
    // a bounded wait so that a window opened with the daemon gets theirs too.
    transport.send = async (message, options) => {
      if (initializeId !== undefined && 'result' in message && message.id === initializeId) {
        initializeId = undefined;
        await this.firstStart();
        const instructions = this.instructions();
        if (instructions) message = { ...message, result: { ...message.result, instructions } };
      }
      return sdkSend(message, options);
    };
    this.sessions.add(entry);
    let detached = false;
    return () => {
      if (detached) return;
      detached = true;
      this.sessions.delete(entry);
      for (const key of [...entry.subscriptions]) this.unsubscribe(entry, key);
      this.relay.sessionClosed(entry);
      this.tasks.sessionClosed(entry);
    };
  }

  // --- what sessions send ----------------------------------------------------------------------

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
          if (entry.server.getClientCapabilities()?.roots) this.rootsChanged();
        });
        return false;
      }
      if (message.method === 'notifications/tasks/status') return this.tasks.statusFromSession(entry, message);
      return this.relay.fromSession(entry, message);
    }
    entry.lastActive = ++this.seq;
    const builtin = message.method === 'tools/call' && entry.builtins.some((b) => b.definition.name === message.params?.name);
    const problem = invalidParams(message, builtin);
    if (problem) {
      entry.send(errorResponse(message.id, INVALID_PARAMS, `invalid params for ${message.method}: ${problem}`));
      return true;
    }
    switch (message.method) {
      case 'tools/call':
        if (builtin) return false;
        void this.callTool(entry, message).catch((err) => this.fail(entry, message, err));
        return true;
      case 'prompts/get':
      case 'resources/read':
      case 'completion/complete':
        void this.relayRead(entry, message).catch((err) => this.fail(entry, message, err));
        return true;
      case 'tasks/get':
      case 'tasks/result':
      case 'tasks/cancel':
      case 'tasks/list':
        this.tasks.fromSession(entry, message);
        return true;
      default:
        return false;
    }
  }

  private fail(entry: GatewaySession, request: WireRequest, err: unknown): void {
    const code = err instanceof WireRequestError ? err.code : INTERNAL_ERROR;
    const data = err instanceof WireRequestError ? err.data : undefined;
    entry.send(errorResponse(request.id, code, errorMessage(err), data));
  }

  private async callTool(entry: GatewaySession, request: WireRequest): Promise<void> {
    const params = request.params!;
    const routed = await this.route(params.name as string, 'tool');
    const { upstream, name, item: tool } = routed;
    const outgoing = { ...params, name };
    if (params.task !== undefined) {
      this.tasks.callAsTask(entry, request, upstream, outgoing);
    } else if (tool.execution?.taskSupport === 'required' && upstream.serverCapabilities?.tasks?.requests?.tools?.call) {
      this.tasks.callThroughTask(entry, request, upstream, outgoing);
    } else {
      this.relay.forward(entry, request.id, upstream, request.method, outgoing);
    }
  }

  private async relayRead(entry: GatewaySession, request: WireRequest): Promise<void> {
    const params = request.params!;
    if (request.method === 'prompts/get') {
      const { upstream, name } = await this.route(params.name as string, 'prompt');
      this.relay.forward(entry, request.id, upstream, request.method, { ...params, name });
      return;
    }
    if (request.method === 'resources/read') {
      this.relay.forward(entry, request.id, await this.routeUri(params.uri as string), request.method, params);
      return;
    }
    const ref = params.ref as { type: string; name?: string; uri?: string };
    let upstream: Upstream;
    let outgoing = params;
    if (ref.type === 'ref/prompt') {
      const routed = await this.route(ref.name!, 'prompt');
      upstream = routed.upstream;
      outgoing = { ...params, ref: { ...ref, name: routed.name } };
    } else {
      upstream = await this.routeTemplate(ref.uri!);
    }
    // Completions are optional: an upstream without them simply offers nothing.
    if (!upstream.serverCapabilities?.completions) {
      entry.send({ jsonrpc: '2.0', id: request.id, result: { completion: { values: [] } } });
      return;
    }
    this.relay.forward(entry, request.id, upstream, request.method, outgoing);
  }

  // --- handlers on each session's SDK Server -----------------------------------------------------

  private registerHandlers(entry: GatewaySession): void {
    const { server, builtins } = entry;
    const doesTasks = () => server.getClientCapabilities()?.tasks !== undefined;
    server.setRequestHandler(ListToolsRequestSchema, async () => {
      await this.firstStart();
      const tools: Tool[] = builtins.map((b) => b.definition);
      return { tools: [...tools, ...this.directory.listTools(doesTasks())] };
    });
    server.setRequestHandler(CallToolRequestSchema, async (request) => {
      // Only built-ins get here; everything else is relayed before the SDK sees it.
      const builtin = builtins.find((b) => b.definition.name === request.params.name);
      if (!builtin) throw new WireRequestError(INVALID_PARAMS, `unknown tool ${JSON.stringify(request.params.name.slice(0, 100))}`);
      return builtin.call(request.params.arguments);
    });
    server.setRequestHandler(ListPromptsRequestSchema, async () => {
      await this.firstStart();
      return { prompts: this.directory.listPrompts() };
    });
    server.setRequestHandler(ListResourcesRequestSchema, async () => {
      await this.firstStart();
      return { resources: [...this.upstreams.values()].flatMap((up) => up.catalog.resources) };
    });
    server.setRequestHandler(ListResourceTemplatesRequestSchema, async () => {
      await this.firstStart();
      return { resourceTemplates: [...this.upstreams.values()].flatMap((up) => up.catalog.resourceTemplates) };
    });
    server.setRequestHandler(SubscribeRequestSchema, async (request) => {
      const upstream = await this.routeUri(request.params.uri);
      if (!upstream.serverCapabilities?.resources?.subscribe) {
        throw new WireRequestError(INVALID_REQUEST, `upstream server "${upstream.name}" does not support resource subscriptions`);
      }
      const key = subscriptionKey(upstream.name, request.params.uri);
      const set = this.subscribers.get(key) ?? new Set<GatewaySession>();
      if (set.size === 0) {
        const response = await this.relay.askUpstream(upstream, 'resources/subscribe', { uri: request.params.uri });
        if (response.error) throw new WireRequestError(response.error.code, response.error.message, response.error.data);
      }
      set.add(entry);
      this.subscribers.set(key, set);
      entry.subscriptions.add(key);
      return {};
    });
    server.setRequestHandler(UnsubscribeRequestSchema, async (request) => {
      for (const key of [...entry.subscriptions]) {
        if (subscriptionUri(key) === request.params.uri) this.unsubscribe(entry, key);
      }
      return {};
    });
  }

  // --- configuration -------------------------------------------------------------------------

  private apply(config: ServersConfig, changed: boolean): void {
    if (this.closed || !this.started) return;
    this.config = config;
    if (!config.ok) {
      // Keep the last good set running: a half-saved file must not take the tools away.
      if (changed) this.log.error(`upstreams: ${config.error}`);
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
  }

  private replace(name: string, old: Upstream | undefined, spec: UpstreamSpec, why: string): void {
    if (old) void old.stop(`stopped (${why})`);
    const upstream = new Upstream(spec, this.upstreamEvents, this.log, this.options.supervision);
    this.upstreams.set(name, upstream);
    this.log.info(`upstream ${name}: starting (${why}): ${[spec.command, ...spec.args].join(' ')}`);
    upstream.start();
  }

  // --- routing -------------------------------------------------------------------------------

  /** Waits (bounded) for upstreams on their first start, so early requests include them. */
  private async firstStart(): Promise<void> {
    const starting = [...this.upstreams.values()].filter((u) => u.state === 'starting');
    if (starting.length > 0) await bounded(Promise.all(starting.map((u) => u.whenStarted())), this.initialWaitMs);
  }

  /** An exposed `<server>__<name>` -> the upstream and the name it knows. */
  private route(exposed: string, what: 'tool'): Promise<Routed<Tool>>;
  private route(exposed: string, what: 'prompt'): Promise<Routed<Prompt>>;
  private async route(exposed: string, what: 'tool' | 'prompt'): Promise<Routed<Tool> | Routed<Prompt>> {
    const lookup = (): Routed<Tool> | Routed<Prompt> | undefined => (what === 'tool' ? this.directory.tool(exposed) : this.directory.prompt(exposed));
    let routed = lookup();
    const owner = routed?.upstream ?? this.directory.upstreamNamed(exposed);
    if (owner?.state === 'starting') {
      await this.firstStart();
      routed = lookup();
    }
    if (routed && routed.upstream.state === 'up') return routed;
    if (owner && owner.state !== 'up') throw owner.unavailable();
    throw new WireRequestError(
      INVALID_PARAMS,
      `unknown ${what} ${JSON.stringify(exposed.slice(0, 100))}; call ${what === 'tool' ? 'tools/list' : 'prompts/list'} for the available ones`,
    );
  }

  private async routeUri(uri: string): Promise<Upstream> {
    await this.firstStart();
    const owner = this.directory.byUri(uri);
    if (owner) return owner;
    const down = [...this.upstreams.values()].find((u) => u.state !== 'up');
    if (down) throw down.unavailable();
    throw new WireRequestError(INVALID_PARAMS, `no upstream server lists the resource ${JSON.stringify(uri)}; call resources/list for the available ones`);
  }

  private async routeTemplate(uriTemplate: string): Promise<Upstream> {
    await this.firstStart();
    const owner = this.directory.byTemplate(uriTemplate);
    if (owner) return owner;
    throw new WireRequestError(INVALID_PARAMS, `no upstream server lists the resource template ${JSON.stringify(uriTemplate)}`);
  }

  private unsubscribe(entry: GatewaySession, key: string): void {
    entry.subscriptions.delete(key);
    const set = this.subscribers.get(key);
    if (!set) return;
    set.delete(entry);
    if (set.size > 0) return;
    this.subscribers.delete(key);
    const upstream = this.upstreams.get(subscriptionUpstream(key));
    if (upstream?.state === 'up') {
      void this.relay.askUpstream(upstream, 'resources/unsubscribe', { uri: subscriptionUri(key) }).then((r) => {
        if (r.error) this.log.warn(`upstream ${upstream.name}: unsubscribe failed: ${r.error.message}`);
      });
    }
  }

  // --- what upstreams send ---------------------------------------------------------------------

  private readonly upstreamEvents: UpstreamEvents = {
    onState: (upstream: Upstream, previous: UpstreamState) => {
      this.directory.invalidate();
      if (previous === 'up' || previous === 'starting' || previous === 'restarting') {
        if (upstream.state !== 'up') {
          const why =
            upstream.state === 'stopped'
              ? `upstream server "${upstream.name}" was stopped during the call`
              : `upstream server "${upstream.name}" exited during the call${upstream.exitDescription() ? ` (${upstream.exitDescription()})` : ''}; ${upstream.state === 'failed' ? 'it has failed, see exai_status' : 'it is being restarted, retry in a moment'}`;
          this.relay.upstreamGone(upstream, why);
          this.tasks.upstreamGone(upstream);
        }
      }
      if (this.upstreams.get(upstream.name) !== upstream && upstream.state !== 'stopped') return;
      if (upstream.state === 'up') this.resubscribe(upstream);
      // Its tools joined or left the aggregate.
      if (upstream.state === 'up' || previous === 'up') this.broadcastListChanged(['tools', 'prompts', 'resources']);
    },
    onListChanged: (upstream: Upstream, kind: CatalogKind) => {
      this.directory.invalidate();
      if (this.upstreams.get(upstream.name) === upstream) this.broadcastListChanged([kind]);
    },
    onNotification: (upstream: Upstream, notification: ServerNotification) => this.notify(upstream, notification),
    onMessage: (upstream: Upstream, message: WireMessage) => this.fromUpstream(upstream, message),
  };

  /** One message from an upstream before its SDK client sees it; true when the gateway took it. */
  private fromUpstream(upstream: Upstream, message: WireMessage): boolean {
    if (isResponse(message)) return this.relay.fromUpstream(upstream, message);
    if (!isRequest(message)) {
      if (message.method === 'notifications/tasks/status') return this.tasks.statusFromUpstream(upstream, message);
      return this.relay.fromUpstream(upstream, message);
    }
    if (message.method.startsWith('tasks/')) return this.tasks.fromUpstream(upstream, message);
    const capability = capabilityFor(message.method);
    // ping and anything unknown: the SDK client answers (pong, or method not found).
    if (!capability) return false;
    const can = (s: GatewaySession) => ready(s) && supports(s.server.getClientCapabilities(), capability, message);
    const session = this.answerer(upstream, message, can);
    if (!session) {
      const mode = message.method === 'elicitation/create' ? ' (of this mode)' : '';
      this.relay.answerUpstream(
        upstream,
        errorResponse(message.id, INVALID_REQUEST, `no client connected to this workspace's exai daemon supports ${capability}${mode}`),
      );
      return true;
    }
    if (message.params?.task !== undefined && capability !== 'roots') {
      this.tasks.askAsTask(session, supportsTask(session.server.getClientCapabilities(), message.method), upstream, message);
    } else {
      this.relay.toSession(session, upstream, message);
    }
    return true;
  }

  /**
   * Who answers an upstream's request: the session that owns the task it names (related-task
   * metadata), else the one with the newest call in flight on that upstream, else the most
   * recently active session that can.
   */
  private answerer(upstream: Upstream, request: WireRequest, can: (s: GatewaySession) => boolean): GatewaySession | undefined {
    const related = (request.params?._meta as Record<string, unknown> | undefined)?.[RELATED_TASK_META];
    const taskId = typeof related === 'object' && related !== null ? (related as { taskId?: unknown }).taskId : undefined;
    const owner = typeof taskId === 'string' ? (this.tasks.ownerOf(taskId) as GatewaySession | undefined) : undefined;
    if (owner && this.sessions.has(owner) && can(owner)) return owner;
    const caller = (this.relay.callersOf(upstream) as GatewaySession[]).find((s) => this.sessions.has(s) && can(s));
    if (caller) return caller;
    return [...this.sessions].filter(can).sort((a, b) => b.lastActive - a.lastActive)[0];
  }

  private notify(upstream: Upstream, notification: ServerNotification): void {
    if (this.upstreams.get(upstream.name) !== upstream) return;
    if (notification.method === 'notifications/message') {
      const { logger, ...rest } = notification.params;
      const params = { ...rest, logger: logger ? `${upstream.name}/${logger}` : upstream.name };
      // With the session id, the SDK applies the level that session chose with logging/setLevel.
      for (const s of this.sessions) {
        if (ready(s)) s.server.sendLoggingMessage(params, s.server.transport?.sessionId).catch(() => undefined);
      }
    } else if (notification.method === 'notifications/resources/updated') {
      const set = this.subscribers.get(subscriptionKey(upstream.name, notification.params.uri));
      for (const s of set ?? []) if (ready(s)) s.server.sendResourceUpdated(notification.params).catch(() => undefined);
    } else if (notification.method === 'notifications/elicitation/complete') {
      // Which session got the URL elicitation is not recorded; those that can do URL mode learn it is over.
      for (const s of this.sessions) {
        if (ready(s) && s.server.getClientCapabilities()?.elicitation?.url) s.server.notification(notification).catch(() => undefined);
      }
    }
  }

  /** Tells every running upstream that the roots may have changed: they ask again (roots/list). */
  private rootsChanged(): void {
    for (const upstream of this.upstreams.values()) {
      if (upstream.state === 'up') upstream.send({ jsonrpc: '2.0', method: 'notifications/roots/list_changed' }).catch(() => undefined);
    }
  }

  private broadcastListChanged(kinds: readonly CatalogKind[]): void {
    for (const s of this.sessions) {
      if (!ready(s)) continue;
      if (kinds.includes('tools')) s.server.sendToolListChanged().catch(() => undefined);
      if (kinds.includes('prompts')) s.server.sendPromptListChanged().catch(() => undefined);
      if (kinds.includes('resources')) s.server.sendResourceListChanged().catch(() => undefined);
    }
  }

  /** After a restart the new process knows nothing of the old one's subscriptions. */
  private resubscribe(upstream: Upstream): void {
    for (const key of this.subscribers.keys()) {
      if (subscriptionUpstream(key) !== upstream.name) continue;
      void this.relay.askUpstream(upstream, 'resources/subscribe', { uri: subscriptionUri(key) }).then((r) => {
        if (r.error) this.log.warn(`upstream ${upstream.name}: re-subscribing after restart failed: ${r.error.message}`);
      });
    }
  }
}

function ready(s: GatewaySession): boolean {
  // Notifications before initialize would confuse a client; after close they cannot be sent.
  return s.server.getClientCapabilities() !== undefined && s.server.transport !== undefined;
}

async function bounded(work: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([work, new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}

const subscriptionKey = (upstream: string, uri: string) => `${upstream}\n${uri}`;
const subscriptionUpstream = (key: string) => key.slice(0, key.indexOf('\n'));
const subscriptionUri = (key: string) => key.slice(key.indexOf('\n') + 1);
