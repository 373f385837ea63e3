import type { Server } from '@modelcontextprotocol/sdk/server/index.js';
import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js';
import { UriTemplate } from '@modelcontextprotocol/sdk/shared/uriTemplate.js';
import {
  CallToolRequestSchema,
  CompleteRequestSchema,
  ErrorCode,
  GetPromptRequestSchema,
  ListPromptsRequestSchema,
  ListResourceTemplatesRequestSchema,
  ListResourcesRequestSchema,
  ListToolsRequestSchema,
  McpError,
  ReadResourceRequestSchema,
  ResultSchema,
  SubscribeRequestSchema,
  UnsubscribeRequestSchema,
  type CallToolResult,
  type CompleteResult,
  type GetPromptResult,
  type ReadResourceResult,
  type ClientCapabilities,
  type Result,
  type ServerCapabilities,
  type ServerNotification,
  type ServerRequest,
  type Tool,
} from '@modelcontextprotocol/sdk/types.js';
import { errorMessage } from '../../common/errors.js';
import type { BuiltinTool } from '../builtins.js';
import { silentLogger, type Logger } from '../log.js';
import { ServersConfigWatcher, loadServersConfig, sameSpec, type ServersConfig, type UpstreamSpec } from './config.js';
import { Upstream, type CatalogKind, type SupervisionOptions, type UpstreamState, type UpstreamStatus } from './upstream.js';

/** Separates the upstream's name from the tool/prompt name: `<server>__<name>`. */
export const NAME_SEPARATOR = '__';

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
   * How long a list request waits for upstreams that are still starting, so a window that
   * connects right after the daemon starts sees their tools in its first tools/list.
   */
  initialWaitMs?: number;
  /**
   * Upper bound for one forwarded call. The session's client has its own timeout and cancels
   * (which is forwarded); this only stops a call that nobody waits for any more from being
   * tracked forever, so it is long. At most 2^31-1 ms (Node's timer limit).
   */
  callTimeoutMs?: number;
}

type Extra = RequestHandlerExtra<ServerRequest, ServerNotification>;

interface SessionEntry {
  readonly server: Server;
  readonly builtins: readonly BuiltinTool[];
  /** Gateway-wide sequence number of this session's latest request: larger = more recent. */
  lastActive: number;
  /** Subscription keys (see subscriptionKey) this session holds. */
  readonly subscriptions: Set<string>;
}

interface InFlight {
  readonly session: SessionEntry;
  readonly extra: Extra;
  readonly seq: number;
}

type Capability = 'sampling' | 'elicitation' | 'roots';

/**
 * The upstream gateway: owns the workspace's upstream servers and serves their union, plus the
 * daemon's built-in tools, to every session. One instance per daemon; `attach` once per session.
 */
export class Gateway {
  private readonly upstreams = new Map<string, Upstream>();
  private readonly sessions = new Set<SessionEntry>();
  private readonly inflight = new Map<Upstream, Set<InFlight>>();
  /** subscriptionKey -> sessions subscribed to that resource. */
  private readonly subscribers = new Map<string, Set<SessionEntry>>();
  private readonly log: Logger;
  private readonly watcher: ServersConfigWatcher;
  private config: ServersConfig;
  private seq = 0;
  private started = false;
  private closed = false;
  private readonly initialWaitMs: number;
  private readonly callTimeoutMs: number;

  constructor(private readonly options: GatewayOptions) {
    this.log = options.log ?? silentLogger;
    this.initialWaitMs = options.initialWaitMs ?? 10_000;
    this.callTimeoutMs = Math.min(options.callTimeoutMs ?? 24 * 3_600_000, 2 ** 31 - 1);
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

  /** Stops watching and stops every upstream process (each gets its stdin closed, then SIGKILL). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.watcher.close();
    const all = [...this.upstreams.values()];
    this.upstreams.clear();
    await Promise.all(all.map((u) => u.stop()));
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
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all([...this.upstreams.values()].map((u) => u.whenSettled())),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs))),
    ]);
    clearTimeout(timer);
  }

  /**
   * Serves built-ins + upstreams on one session's Server (created with
   * GATEWAY_SERVER_CAPABILITIES). Returns the detach function to call when the session closes.
   */
  attach(server: Server, builtins: readonly BuiltinTool[] = []): () => void {
    const entry: SessionEntry = { server, builtins, lastActive: ++this.seq, subscriptions: new Set() };
    this.sessions.add(entry);
    const touch = () => {
      entry.lastActive = ++this.seq;
    };

    server.setRequestHandler(ListToolsRequestSchema, async () => {
      touch();
      await this.firstStart();
      const tools: Tool[] = builtins.map((b) => b.definition);
      for (const up of this.upstreams.values()) {
        for (const tool of up.catalog.tools) tools.push({ ...tool, name: `${up.name}${NAME_SEPARATOR}${tool.name}` });
      }
      return { tools };
    });

    server.setRequestHandler(CallToolRequestSchema, async (request, extra) => {
      touch();
      const builtin = builtins.find((b) => b.definition.name === request.params.name);
      if (builtin) return builtin.call(request.params.arguments);
      const { upstream, name } = await this.route(request.params.name, 'tool');
      const result = await this.forward(entry, upstream, 'tools/call', { ...request.params, name }, extra);
      return result as CallToolResult;
    });

    server.setRequestHandler(ListPromptsRequestSchema, async () => {
      touch();
      await this.firstStart();
      const prompts = [...this.upstreams.values()].flatMap((up) =>
        up.catalog.prompts.map((p) => ({ ...p, name: `${up.name}${NAME_SEPARATOR}${p.name}` })),
      );
      return { prompts };
    });

    server.setRequestHandler(GetPromptRequestSchema, async (request, extra) => {
      touch();
      const { upstream, name } = await this.route(request.params.name, 'prompt');
      return (await this.forward(entry, upstream, 'prompts/get', { ...request.params, name }, extra)) as GetPromptResult;
    });

    server.setRequestHandler(ListResourcesRequestSchema, async () => {
      touch();
      await this.firstStart();
      return { resources: [...this.upstreams.values()].flatMap((up) => up.catalog.resources) };
    });

    server.setRequestHandler(ListResourceTemplatesRequestSchema, async () => {
      touch();
      await this.firstStart();
      return { resourceTemplates: [...this.upstreams.values()].flatMap((up) => up.catalog.resourceTemplates) };
    });

    server.setRequestHandler(ReadResourceRequestSchema, async (request, extra) => {
      touch();
      const upstream = await this.routeUri(request.params.uri);
      return (await this.forward(entry, upstream, 'resources/read', request.params, extra)) as ReadResourceResult;
    });

    server.setRequestHandler(SubscribeRequestSchema, async (request, extra) => {
      touch();
      const upstream = await this.routeUri(request.params.uri);
      if (!upstream.serverCapabilities?.resources?.subscribe) {
        throw new McpError(ErrorCode.InvalidRequest, `upstream server "${upstream.name}" does not support resource subscriptions`);
      }
      const key = subscriptionKey(upstream.name, request.params.uri);
      const set = this.subscribers.get(key) ?? new Set<SessionEntry>();
      if (set.size === 0) await this.forward(entry, upstream, 'resources/subscribe', request.params, extra);
      set.add(entry);
      this.subscribers.set(key, set);
      entry.subscriptions.add(key);
      return {};
    });

    server.setRequestHandler(UnsubscribeRequestSchema, async (request) => {
      touch();
      for (const key of [...entry.subscriptions]) {
        if (subscriptionUri(key) === request.params.uri) this.unsubscribe(entry, key);
      }
      return {};
    });

    server.setRequestHandler(CompleteRequestSchema, async (request, extra) => {
      touch();
      const ref = request.params.ref;
      let upstream: Upstream;
      let params: Record<string, unknown>;
      if (ref.type === 'ref/prompt') {
        const routed = await this.route(ref.name, 'prompt');
        upstream = routed.upstream;
        params = { ...request.params, ref: { ...ref, name: routed.name } };
      } else {
        upstream = await this.routeTemplate(ref.uri);
        params = request.params;
      }
      // Completions are optional: an upstream without them simply offers nothing.
      if (!upstream.serverCapabilities?.completions) return { completion: { values: [] } };
      return (await this.forward(entry, upstream, 'completion/complete', params, extra)) as CompleteResult;
    });

    let detached = false;
    return () => {
      if (detached) return;
      detached = true;
      this.sessions.delete(entry);
      for (const key of [...entry.subscriptions]) this.unsubscribe(entry, key);
      // In-flight calls end by themselves: the closing Server aborts their signals, which
      // cancels them upstream.
    };
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
      void upstream.stop();
      if (spec) this.replace(name, undefined, spec, 'its entry in servers.json changed');
      else this.log.info(`upstream ${name}: stopped (removed from servers.json)`);
    }
    for (const [name, spec] of wanted) {
      if (!this.upstreams.has(name)) this.replace(name, undefined, spec, 'configured');
    }
  }

  private replace(name: string, old: Upstream | undefined, spec: UpstreamSpec, why: string): void {
    if (old) void old.stop();
    const upstream = new Upstream(spec, this.upstreamEvents, this.log, this.options.supervision);
    this.upstreams.set(name, upstream);
    this.log.info(`upstream ${name}: starting (${why}): ${[spec.command, ...spec.args].join(' ')}`);
    upstream.start();
  }

  // --- routing -------------------------------------------------------------------------------

  /** Waits (bounded) for upstreams on their first start, so early list requests include them. */
  private async firstStart(): Promise<void> {
    const starting = [...this.upstreams.values()].filter((u) => u.state === 'starting');
    if (starting.length === 0) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(starting.map((u) => u.whenStarted())),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, this.initialWaitMs))),
    ]);
    clearTimeout(timer);
  }

  /** `<server>__<name>` -> the upstream and the name it knows. */
  private async route(prefixed: string, what: 'tool' | 'prompt'): Promise<{ upstream: Upstream; name: string }> {
    const at = prefixed.indexOf(NAME_SEPARATOR);
    const upstream = at > 0 ? this.upstreams.get(prefixed.slice(0, at)) : undefined;
    if (!upstream) {
      throw new McpError(
        ErrorCode.InvalidParams,
        `unknown ${what} ${JSON.stringify(prefixed.slice(0, 100))}; call ${what === 'tool' ? 'tools/list' : 'prompts/list'} for the available ones`,
      );
    }
    if (upstream.state === 'starting') await this.firstStart();
    if (upstream.state !== 'up') throw upstream.unavailable();
    return { upstream, name: prefixed.slice(at + NAME_SEPARATOR.length) };
  }

  /** The upstream that listed this resource URI, else one whose template matches it. */
  private async routeUri(uri: string): Promise<Upstream> {
    await this.firstStart();
    const all = [...this.upstreams.values()];
    const owner =
      all.find((u) => u.catalog.resources.some((r) => r.uri === uri)) ??
      all.find((u) => u.catalog.resourceTemplates.some((t) => templateMatches(t.uriTemplate, uri)));
    if (owner) return owner;
    // Resources a server did not list (links returned by a tool, say): if only one upstream
    // serves resources at all, it is the only possible owner.
    const withResources = all.filter((u) => u.serverCapabilities?.resources);
    if (withResources.length === 1 && withResources[0]) return withResources[0];
    const down = all.filter((u) => u.state !== 'up');
    if (down.length > 0 && down[0]) throw down[0].unavailable();
    throw new McpError(ErrorCode.InvalidParams, `no upstream server lists the resource ${JSON.stringify(uri)}; call resources/list for the available ones`);
  }

  private async routeTemplate(uriTemplate: string): Promise<Upstream> {
    await this.firstStart();
    const all = [...this.upstreams.values()];
    const owner =
      all.find((u) => u.catalog.resourceTemplates.some((t) => t.uriTemplate === uriTemplate)) ??
      all.find((u) => u.catalog.resources.some((r) => r.uri === uriTemplate));
    if (owner) return owner;
    throw new McpError(ErrorCode.InvalidParams, `no upstream server lists the resource template ${JSON.stringify(uriTemplate)}`);
  }

  /**
   * Results pass through as the upstream sent them (loosely parsed, unknown fields kept); the
   * handlers name their result type, and the session's client validates it.
   *
   * One request to an upstream on behalf of a session: progress comes back to this session only
   * (under the token it chose), its cancellation goes upstream, and while it runs the upstream's
   * sampling/elicitation/roots requests are answered by this session.
   */
  private async forward(entry: SessionEntry, upstream: Upstream, method: string, params: Record<string, unknown>, extra: Extra): Promise<Result> {
    const progressToken = extra._meta?.progressToken;
    const meta: Record<string, unknown> = { ...(extra._meta ?? {}) };
    delete meta.progressToken;
    const { _meta: _ignored, task: _task, ...rest } = params;
    const outgoing = { ...rest, ...(Object.keys(meta).length > 0 ? { _meta: meta } : {}) };

    const call: InFlight = { session: entry, extra, seq: ++this.seq };
    const calls = this.inflight.get(upstream) ?? new Set<InFlight>();
    calls.add(call);
    this.inflight.set(upstream, calls);
    try {
      return await upstream.request(
        { method, params: outgoing },
        {
          signal: extra.signal,
          timeout: this.callTimeoutMs,
          onprogress:
            progressToken === undefined
              ? undefined
              : (progress) => {
                  extra
                    .sendNotification({ method: 'notifications/progress', params: { ...progress, progressToken } })
                    .catch(() => undefined);
                },
        },
      );
    } finally {
      calls.delete(call);
    }
  }

  private unsubscribe(entry: SessionEntry, key: string): void {
    entry.subscriptions.delete(key);
    const set = this.subscribers.get(key);
    if (!set) return;
    set.delete(entry);
    if (set.size > 0) return;
    this.subscribers.delete(key);
    const upstream = this.upstreams.get(subscriptionUpstream(key));
    if (upstream?.state === 'up') {
      upstream
        .request({ method: 'resources/unsubscribe', params: { uri: subscriptionUri(key) } }, { timeout: 10_000 })
        .catch((err) => this.log.warn(`upstream ${upstream.name}: unsubscribe failed: ${errorMessage(err)}`));
    }
  }

  // --- events from upstreams -----------------------------------------------------------------

  private readonly upstreamEvents = {
    onState: (upstream: Upstream, previous: UpstreamState) => {
      if (this.upstreams.get(upstream.name) !== upstream && upstream.state !== 'stopped') return;
      if (upstream.state === 'up') this.resubscribe(upstream);
      // Its tools joined or left the aggregate.
      if (upstream.state === 'up' || previous === 'up') this.broadcastListChanged(['tools', 'prompts', 'resources']);
    },
    onListChanged: (upstream: Upstream, kind: CatalogKind) => {
      if (this.upstreams.get(upstream.name) === upstream) this.broadcastListChanged([kind]);
    },
    onNotification: (upstream: Upstream, notification: ServerNotification) => {
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
    },
    onRequest: (upstream: Upstream, request: ServerRequest, signal: AbortSignal) => this.serveUpstreamRequest(upstream, request, signal),
  };

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
      upstream
        .request({ method: 'resources/subscribe', params: { uri: subscriptionUri(key) } }, { timeout: 10_000 })
        .catch((err) => this.log.warn(`upstream ${upstream.name}: re-subscribing after restart failed: ${errorMessage(err)}`));
    }
  }

  /**
   * Sampling, elicitation and roots from an upstream: the session with a call in flight on it
   * (the newest, if several) answers; else the most recently active session that can; else the
   * upstream gets an error.
   */
  private async serveUpstreamRequest(upstream: Upstream, request: ServerRequest, signal: AbortSignal): Promise<Result> {
    const capability = capabilityFor(request);
    if (!capability) throw new McpError(ErrorCode.MethodNotFound, `exai does not forward ${request.method}`);
    const can = (s: SessionEntry) => ready(s) && supports(s.server.getClientCapabilities(), capability, request);
    const options = { signal, timeout: this.callTimeoutMs };
    const forwarded = { method: request.method, params: request.params } as ServerRequest;

    const calls = [...(this.inflight.get(upstream) ?? [])].filter((c) => this.sessions.has(c.session) && can(c.session));
    const call = calls.sort((a, b) => b.seq - a.seq)[0];
    if (call) return call.extra.sendRequest(forwarded, ResultSchema, options);

    const session = [...this.sessions].filter(can).sort((a, b) => b.lastActive - a.lastActive)[0];
    if (session) return session.server.request(forwarded, ResultSchema, options);

    throw new McpError(
      ErrorCode.InvalidRequest,
      `no client connected to this workspace's exai daemon supports ${capability}${request.method === 'elicitation/create' ? ' (of this mode)' : ''}`,
    );
  }
}

function ready(s: SessionEntry): boolean {
  // Notifications before initialize would confuse a client; after close they cannot be sent.
  return s.server.getClientCapabilities() !== undefined && s.server.transport !== undefined;
}

function capabilityFor(request: ServerRequest): Capability | undefined {
  switch (request.method) {
    case 'sampling/createMessage':
      return 'sampling';
    case 'elicitation/create':
      return 'elicitation';
    case 'roots/list':
      return 'roots';
    default:
      return undefined;
  }
}

function supports(caps: ClientCapabilities | undefined, capability: Capability, request: ServerRequest): boolean {
  if (!caps) return false;
  if (capability === 'sampling') return caps.sampling !== undefined;
  if (capability === 'roots') return caps.roots !== undefined;
  const elicitation = caps.elicitation;
  if (!elicitation) return false;
  const mode = request.method === 'elicitation/create' && request.params.mode === 'url' ? 'url' : 'form';
  // A client that names neither mode supports form (the spec's backwards compatibility).
  if (mode === 'url') return elicitation.url !== undefined;
  return elicitation.form !== undefined || elicitation.url === undefined;
}

function templateMatches(template: string, uri: string): boolean {
  try {
    return new UriTemplate(template).match(uri) !== null;
  } catch {
    return false;
  }
}

const subscriptionKey = (upstream: string, uri: string) => `${upstream}\n${uri}`;
const subscriptionUpstream = (key: string) => key.slice(0, key.indexOf('\n'));
const subscriptionUri = (key: string) => key.slice(key.indexOf('\n') + 1);
