import { spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport, getDefaultEnvironment } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { RequestOptions } from '@modelcontextprotocol/sdk/shared/protocol.js';
import {
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  ElicitationCompleteNotificationSchema,
  ErrorCode,
  ListPromptsResultSchema,
  ListResourceTemplatesResultSchema,
  ListResourcesResultSchema,
  ListRootsRequestSchema,
  ListToolsResultSchema,
  LoggingMessageNotificationSchema,
  McpError,
  PromptListChangedNotificationSchema,
  ResourceListChangedNotificationSchema,
  ResourceUpdatedNotificationSchema,
  ProgressNotificationSchema,
  ResultSchema,
  ToolListChangedNotificationSchema,
  isJSONRPCNotification,
  type JSONRPCMessage,
  type Progress,
  type ClientCapabilities,
  type CreateMessageResult,
  type ElicitResult,
  type ListRootsResult,
  type Prompt,
  type Resource,
  type ResourceTemplate,
  type Result,
  type ServerCapabilities,
  type ServerNotification,
  type ServerRequest,
  type Tool,
} from '@modelcontextprotocol/sdk/types.js';
import { errorMessage } from '../../common/errors.js';
import { EXAI_VERSION } from '../../common/version.js';
import type { Logger } from '../log.js';
import type { UpstreamSpec } from './config.js';

export type UpstreamState = 'starting' | 'up' | 'restarting' | 'failed' | 'stopped';

/** What `exai_status` (and through it `exai list`/`doctor`) shows for one upstream. */
export interface UpstreamStatus {
  name: string;
  state: UpstreamState;
  pid: number | null;
  /** Restarts after crashes since this configuration was applied. */
  restarts: number;
  tools: number;
  prompts: number;
  resources: number;
  /** Why it last stopped or failed to start, one line; null while it never did. */
  lastError: string | null;
  /** The last stderr lines of the process, oldest first. */
  stderrTail: string[];
}

export interface Catalog {
  tools: Tool[];
  prompts: Prompt[];
  resources: Resource[];
  resourceTemplates: ResourceTemplate[];
}
export type CatalogKind = 'tools' | 'prompts' | 'resources';

/** How the gateway hears from an upstream. */
export interface UpstreamEvents {
  /** The upstream came up or went away: its catalog joins or leaves the aggregate. */
  onState(upstream: Upstream, previous: UpstreamState): void;
  /** The upstream announced a list change and its catalog has been re-read. */
  onListChanged(upstream: Upstream, kind: CatalogKind): void;
  /** Log messages and resource updates, to pass on to sessions. */
  onNotification(upstream: Upstream, notification: ServerNotification): void;
  /** Sampling, elicitation and roots requests: a session answers them. */
  onRequest(upstream: Upstream, request: ServerRequest, signal: AbortSignal): Promise<Result>;
}

export interface SupervisionOptions {
  /** First restart delay; doubles per crash in the window, up to maxBackoffMs. */
  initialBackoffMs: number;
  maxBackoffMs: number;
  /** This many crashes within crashWindowMs mark the upstream failed (no more restarts). */
  maxCrashes: number;
  crashWindowMs: number;
  /** Spawn + initialize + first listing; longer counts as a failed start. */
  startTimeoutMs: number;
  /** How long a stopping upstream gets to exit after its stdin closes before SIGKILL. */
  stopGraceMs: number;
  stderrLines: number;
}

export const DEFAULT_SUPERVISION: SupervisionOptions = {
  initialBackoffMs: 250,
  maxBackoffMs: 10_000,
  maxCrashes: 5,
  crashWindowMs: 60_000,
  startTimeoutMs: 30_000,
  stopGraceMs: 1_500,
  stderrLines: 50,
};

/**
 * What the gateway declares to every upstream. The upstream may ask for all three; the gateway
 * finds a session that can answer, or answers with an error.
 */
export const UPSTREAM_CLIENT_CAPABILITIES: ClientCapabilities = {
  sampling: {},
  elicitation: { form: {}, url: {} },
  roots: {},
};

/**
 * Besides the SDK's minimal set (HOME, PATH, …), locale and temp settings pass through so
 * interpreters behave as in the user's shell. Everything else must be named in servers.json
 * (`${env:NAME}` works there), so nothing of the daemon's own environment leaks by accident.
 */
const PASSTHROUGH_ENV =
  /^(LANG|LANGUAGE|LC_[A-Z]+|TZ|TMPDIR|TMP|TEMP|XDG_[A-Z_]+|NODE_EXTRA_CA_CERTS|SYSTEMROOT|COMSPEC|PATHEXT|WINDIR|APPDATA|LOCALAPPDATA|USERPROFILE)$/i;

function upstreamEnv(spec: UpstreamSpec): Record<string, string> {
  const env: Record<string, string> = getDefaultEnvironment();
  for (const [key, value] of Object.entries(process.env)) {
    if (value !== undefined && PASSTHROUGH_ENV.test(key)) env[key] = value;
  }
  return { ...env, ...spec.env };
}

/**
 * Children that must not outlive the daemon. A normal close stops them; this covers the daemon
 * exiting without a close (an uncaught error, process.exit). `kill -9` of the daemon cannot run
 * any code: there the child sees its stdin close, which stdio MCP servers treat as the end.
 */
const liveChildren = new Set<ChildProcess>();
let exitHookInstalled = false;
function track(child: ChildProcess): void {
  liveChildren.add(child);
  child.once('exit', () => liveChildren.delete(child));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const c of liveChildren) {
        try {
          c.kill('SIGKILL');
        } catch {
          // already gone
        }
      }
    });
  }
}

/**
 * Linux can signal a child when its parent dies, even by SIGKILL (PR_SET_PDEATHSIG); Node has
 * no API for it, util-linux's `setpriv --pdeathsig` does, and then execs the command (same pid).
 * Without it an upstream notices the daemon's death only when its stdin hits EOF *and* nothing
 * else keeps its event loop alive: server-everything, with a roots request pending, lingered 60 s.
 * SIGTERM rather than SIGKILL, so wrappers such as npx/uvx pass it on to the real server.
 * Where setpriv is missing (other OSes, minimal images) upstreams are spawned directly.
 */
let deathSignalWrapper: string | null | undefined;
function pdeathsigWrapper(): string | null {
  if (deathSignalWrapper !== undefined) return deathSignalWrapper;
  deathSignalWrapper = null;
  if (process.platform !== 'linux') return null;
  for (const candidate of ['/usr/bin/setpriv', '/bin/setpriv']) {
    const probe = spawnSync(candidate, ['--pdeathsig', 'TERM', '--', process.execPath, '-e', ''], { stdio: 'ignore', timeout: 5_000 });
    if (probe.status === 0) {
      deathSignalWrapper = candidate;
      break;
    }
  }
  return deathSignalWrapper;
}
/** setpriv's exit codes when it cannot exec the command (like a shell's). */
const EXEC_NOT_FOUND = 127;
const EXEC_NOT_EXECUTABLE = 126;

/**
 * The SDK transport keeps its ChildProcess private, but only the process itself can tell the
 * exit code/signal (for `lastError`) and be killed without the SDK's 4-second close ladder.
 * Guarded: if a future SDK renames the field, we lose those details, not correctness.
 */
function childOf(transport: StdioClientTransport): ChildProcess | undefined {
  const candidate = (transport as unknown as { _process?: unknown })._process;
  return candidate && typeof candidate === 'object' && 'pid' in candidate ? (candidate as ChildProcess) : undefined;
}

const emptyCatalog = (): Catalog => ({ tools: [], prompts: [], resources: [], resourceTemplates: [] });

/**
 * One upstream MCP server: one child process, one SDK Client, initialized once and shared by
 * every session. Supervised: when it exits it is restarted with capped exponential backoff; if
 * it keeps crashing it is marked failed with its last stderr lines.
 */
export class Upstream {
  private _state: UpstreamState = 'stopped';
  private client: Client | undefined;
  private transport: StdioClientTransport | undefined;
  private child: ChildProcess | undefined;
  private _catalog: Catalog = emptyCatalog();
  private capabilities: ServerCapabilities | undefined;
  /** Bumped by every attempt and by stop(): events from an older attempt are ignored. */
  private generation = 0;
  private restartTimer: NodeJS.Timeout | undefined;
  private crashes: number[] = [];
  private restartCount = 0;
  private _lastError: string | null = null;
  private readonly stderrTail: string[] = [];
  private stderrPartial = '';
  private exitInfo: string | undefined;
  private exitCode: number | null = null;
  /** Whether the current process runs under the pdeathsig wrapper. */
  private wrapped = false;
  private settledWaiters: Array<() => void> = [];
  private startedWaiters: Array<() => void> = [];
  private readonly refreshing = new Map<CatalogKind, Promise<void>>();
  private readonly refreshAgain = new Set<CatalogKind>();
  private readonly options: SupervisionOptions;
  /** Progress callbacks by the token the gateway put on the upstream request. */
  private readonly progress = new Map<string, (progress: Progress) => void>();
  private progressSeq = 0;

  constructor(
    readonly spec: UpstreamSpec,
    private readonly events: UpstreamEvents,
    private readonly log: Logger,
    options: Partial<SupervisionOptions> = {},
  ) {
    this.options = { ...DEFAULT_SUPERVISION, ...options };
  }

  get name(): string {
    return this.spec.name;
  }
  get state(): UpstreamState {
    return this._state;
  }
  /** The catalog while up; empty otherwise (its tools leave the aggregate while it is down). */
  get catalog(): Catalog {
    return this._state === 'up' ? this._catalog : emptyCatalog();
  }
  get serverCapabilities(): ServerCapabilities | undefined {
    return this._state === 'up' ? this.capabilities : undefined;
  }
  get pid(): number | null {
    return this._state === 'up' || this._state === 'starting' ? (this.transport?.pid ?? null) : null;
  }

  status(): UpstreamStatus {
    const catalog = this.catalog;
    return {
      name: this.name,
      state: this._state,
      pid: this.pid,
      restarts: this.restartCount,
      tools: catalog.tools.length,
      prompts: catalog.prompts.length,
      resources: catalog.resources.length,
      lastError: this._lastError,
      stderrTail: [...this.stderrTail],
    };
  }

  start(): void {
    if (this._state !== 'stopped') return;
    this.crashes = [];
    this.restartCount = 0;
    void this.attempt('starting');
  }

  /** Resolves when the upstream is no longer `starting`/`restarting` (up, failed or stopped). */
  whenSettled(): Promise<void> {
    if (this._state !== 'starting' && this._state !== 'restarting') return Promise.resolve();
    return new Promise((resolve) => this.settledWaiters.push(resolve));
  }

  /**
   * Resolves when the first attempt is over (up, or crashed and waiting to restart). Lets the
   * first tools/list include an upstream that is still initializing instead of answering without it.
   */
  whenStarted(): Promise<void> {
    if (this._state !== 'starting') return Promise.resolve();
    return new Promise((resolve) => this.startedWaiters.push(resolve));
  }

  /** Stops the process (stdin closed, then SIGKILL after the grace period); no restart. */
  async stop(): Promise<void> {
    this.generation++;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    const client = this.client;
    const child = this.child;
    this.client = undefined;
    this.transport = undefined;
    this.child = undefined;
    this.setState('stopped');
    if (!client) return;
    await this.terminate(client, child);
  }

  /**
   * A request to the upstream on behalf of a session. Errors instead of waiting when the
   * upstream is not up, and when it exits mid-call.
   */
  async request(request: { method: string; params?: Record<string, unknown> }, options: RequestOptions): Promise<Result> {
    const client = this.client;
    if (this._state !== 'up' || !client) throw this.unavailable();
    const { onprogress, resetTimeoutOnProgress: _reset, ...sdkOptions } = options;
    let outgoing = request;
    let token: string | undefined;
    if (onprogress) {
      token = `exai-${++this.progressSeq}`;
      this.progress.set(token, onprogress);
      const params = request.params ?? {};
      const meta = (params._meta ?? {}) as Record<string, unknown>;
      outgoing = { ...request, params: { ...params, _meta: { ...meta, progressToken: token } } };
    }
    try {
      // The SDK types requests as the union of known ClientRequests; the gateway forwards
      // whatever the session sent after its own schema validated it.
      return await client.request(outgoing as Parameters<Client['request']>[0], ResultSchema, sdkOptions);
    } catch (err) {
      if (err instanceof McpError && err.code === ErrorCode.ConnectionClosed) {
        throw new McpError(
          ErrorCode.InternalError,
          `upstream server "${this.name}" exited during the call${this.exitInfo ? ` (${this.exitInfo})` : ''}; it is being restarted, retry in a moment`,
          { upstream: this.name },
        );
      }
      throw err;
    } finally {
      if (token) this.progress.delete(token);
    }
  }

  /** The error a session gets for a call to an upstream that is not up. */
  unavailable(): McpError {
    const why: Record<UpstreamState, string> = {
      starting: 'is still starting; retry in a moment',
      restarting: `is restarting after it exited${this._lastError ? ` (${this._lastError})` : ''}; retry in a moment`,
      failed: `has failed (${this._lastError ?? 'it kept crashing'}); fix it and save .exai/servers.json to retry, see exai_status for its stderr`,
      stopped: 'is stopped',
      up: 'is up',
    };
    return new McpError(ErrorCode.InternalError, `upstream server "${this.name}" ${why[this._state]}`, {
      upstream: this.name,
      state: this._state,
    });
  }

  private setState(next: UpstreamState): void {
    const previous = this._state;
    if (previous === next) return;
    this._state = next;
    if (next !== 'starting') {
      const waiters = this.startedWaiters;
      this.startedWaiters = [];
      for (const resolve of waiters) resolve();
    }
    if (next !== 'starting' && next !== 'restarting') {
      const waiters = this.settledWaiters;
      this.settledWaiters = [];
      for (const resolve of waiters) resolve();
    }
    this.events.onState(this, previous);
  }

  private async attempt(state: 'starting' | 'restarting'): Promise<void> {
    const generation = ++this.generation;
    this.restartTimer = undefined;
    this.exitInfo = undefined;
    this.exitCode = null;
    this.setState(state);
    const { command, args, cwd } = this.spec;
    if (!existsSync(cwd)) {
      // Node would report this as the command missing (ENOENT): say what is really wrong.
      this.generation++;
      this.crashed(`failed to start: its cwd ${JSON.stringify(cwd)} does not exist (check "cwd" in servers.json)`);
      return;
    }
    const wrapper = pdeathsigWrapper();
    this.wrapped = wrapper !== null;
    const transport = new StdioClientTransport({
      command: wrapper ?? command,
      args: wrapper ? ['--pdeathsig', 'TERM', '--', command, ...args] : [...args],
      cwd,
      env: upstreamEnv(this.spec),
      stderr: 'pipe',
    });
    transport.stderr?.on('data', (chunk: Buffer) => this.onStderr(chunk));
    const client = new Client({ name: 'exai', version: EXAI_VERSION }, { capabilities: UPSTREAM_CLIENT_CAPABILITIES });
    this.wire(client, generation);
    this.client = client;
    this.transport = transport;

    // Only the process's own exit is a crash; the SDK reports it as the transport closing.
    const origStart = transport.start.bind(transport);
    transport.start = async () => {
      await origStart();
      const child = childOf(transport);
      if (child) {
        this.child = child;
        track(child);
        child.once('exit', (code, signal) => {
          if (generation !== this.generation) return;
          this.exitCode = code;
          this.exitInfo = signal ? `killed by ${signal}` : `exit code ${code}`;
        });
      }
    };
    client.onclose = () => this.onClosed(generation);

    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`did not finish initializing within ${this.options.startTimeoutMs} ms`)),
        this.options.startTimeoutMs,
      );
    });
    try {
      await Promise.race([client.connect(transport), timeout]);
      this.interceptProgress(transport);
      const capabilities = client.getServerCapabilities() ?? {};
      const catalog = await Promise.race([readCatalog(client, capabilities), timeout]);
      if (generation !== this.generation) return;
      this.capabilities = capabilities;
      this._catalog = catalog;
      this.log.info(
        `upstream ${this.name}: up (pid ${transport.pid ?? '?'}; ${catalog.tools.length} tools, ${catalog.prompts.length} prompts, ${catalog.resources.length} resources)`,
      );
      this.setState('up');
    } catch (err) {
      if (generation !== this.generation) return;
      const detail = this.execFailure() ?? describeStartError(err, command);
      // A failed start is a crash like any other; make sure the process is gone before retrying.
      this.generation++;
      this.client = undefined;
      this.transport = undefined;
      const child = this.child;
      this.child = undefined;
      void this.terminate(client, child);
      this.crashed(`failed to start: ${detail}`);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Progress is taken off the wire before the SDK sees it. The SDK dispatches a notification a
   * microtask later but a response at once, so when the last progress and the result arrive in
   * one stdout chunk (usual for a fast server) it drops that progress as "unknown token".
   */
  private interceptProgress(transport: StdioClientTransport): void {
    const deliver = transport.onmessage;
    transport.onmessage = (message: JSONRPCMessage) => {
      if (isJSONRPCNotification(message) && message.method === 'notifications/progress') {
        const parsed = ProgressNotificationSchema.safeParse(message);
        if (parsed.success) {
          const { progressToken, ...progress } = parsed.data.params;
          this.progress.get(String(progressToken))?.(progress);
        }
        return;
      }
      deliver?.(message);
    };
  }

  private onClosed(generation: number): void {
    if (generation !== this.generation) return;
    const wasUp = this._state === 'up';
    this.generation++;
    this.client = undefined;
    this.transport = undefined;
    this.child = undefined;
    const exited = this.exitInfo ? `exited (${this.exitInfo})` : 'the process exited';
    this.crashed(wasUp ? exited : `failed to start: ${this.execFailure() ?? `${exited} before initializing`}`);
  }

  /** Under the wrapper a missing command is an exit code, not a spawn error. */
  private execFailure(): string | undefined {
    if (!this.wrapped) return undefined;
    const command = JSON.stringify(this.spec.command);
    if (this.exitCode === EXEC_NOT_FOUND) return `command ${command} not found (check "command" and PATH)`;
    if (this.exitCode === EXEC_NOT_EXECUTABLE) return `command ${command} is not executable`;
    return undefined;
  }

  private crashed(reason: string): void {
    const lastLine = this.stderrTail[this.stderrTail.length - 1];
    this._lastError = lastLine ? `${reason}; last stderr: ${lastLine}` : reason;
    const now = Date.now();
    this.crashes = this.crashes.filter((t) => now - t < this.options.crashWindowMs);
    this.crashes.push(now);
    if (this.crashes.length >= this.options.maxCrashes) {
      this.log.error(
        `upstream ${this.name}: failed after ${this.crashes.length} crashes within ${Math.round(this.options.crashWindowMs / 1000)} s (${this._lastError}); fix it and save .exai/servers.json to retry`,
      );
      this.setState('failed');
      return;
    }
    const delay = Math.min(this.options.maxBackoffMs, this.options.initialBackoffMs * 2 ** (this.crashes.length - 1));
    this.log.warn(`upstream ${this.name}: ${this._lastError}; restarting in ${delay} ms`);
    this.setState('restarting');
    const generation = this.generation;
    this.restartTimer = setTimeout(() => {
      if (generation !== this.generation) return;
      this.restartCount++;
      void this.attempt('restarting');
    }, delay);
  }

  private async terminate(client: Client, child: ChildProcess | undefined): Promise<void> {
    // Closing ends the child's stdin, which a stdio MCP server takes as the end; the SDK would
    // wait 2 s before SIGTERM and 2 more before SIGKILL, longer than a daemon may take to stop.
    const closing = client.close().catch(() => undefined);
    if (!child || child.exitCode !== null || child.signalCode !== null) {
      await closing;
      return;
    }
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    let timer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), this.options.stopGraceMs)));
    const outcome = await Promise.race([exited.then(() => 'exited' as const), graceOver]);
    clearTimeout(timer);
    if (outcome === 'timeout') {
      try {
        child.kill('SIGKILL');
      } catch {
        // already gone
      }
      await exited;
    }
  }

  private wire(client: Client, generation: number): void {
    const current = () => generation === this.generation;
    client.onerror = (err) => {
      if (current()) this.log.warn(`upstream ${this.name}: ${errorMessage(err)}`);
    };
    const forwardRequest = (request: ServerRequest, extra: { signal: AbortSignal }) =>
      this.events.onRequest(this, request, extra.signal);
    // The session's answer comes back loosely typed; the SDK Client validates sampling and
    // elicitation answers against their schemas before they go to the upstream.
    client.setRequestHandler(CreateMessageRequestSchema, (request, extra) => forwardRequest(request, extra) as Promise<CreateMessageResult>);
    client.setRequestHandler(ElicitRequestSchema, (request, extra) => forwardRequest(request, extra) as Promise<ElicitResult>);
    client.setRequestHandler(ListRootsRequestSchema, (request, extra) => forwardRequest(request, extra) as Promise<ListRootsResult>);
    client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => {
      if (current()) this.events.onNotification(this, n);
    });
    client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => {
      if (current()) this.events.onNotification(this, n);
    });
    client.setNotificationHandler(ElicitationCompleteNotificationSchema, (n) => {
      if (current()) this.events.onNotification(this, n);
    });
    client.setNotificationHandler(ToolListChangedNotificationSchema, () => this.refresh('tools', generation));
    client.setNotificationHandler(PromptListChangedNotificationSchema, () => this.refresh('prompts', generation));
    client.setNotificationHandler(ResourceListChangedNotificationSchema, () => this.refresh('resources', generation));
  }

  /** Re-reads one part of the catalog after a list_changed; bursts collapse into one re-read. */
  private refresh(kind: CatalogKind, generation: number): void {
    if (generation !== this.generation || this._state !== 'up') return;
    if (this.refreshing.has(kind)) {
      this.refreshAgain.add(kind);
      return;
    }
    const client = this.client;
    if (!client) return;
    const run = (async () => {
      try {
        const caps = this.capabilities ?? {};
        if (kind === 'tools') this._catalog.tools = await listTools(client, caps);
        if (kind === 'prompts') this._catalog.prompts = await listPrompts(client, caps);
        if (kind === 'resources') {
          this._catalog.resources = await listResources(client, caps);
          this._catalog.resourceTemplates = await listTemplates(client, caps);
        }
      } catch (err) {
        this.log.warn(`upstream ${this.name}: re-reading its ${kind} after list_changed failed: ${errorMessage(err)}`);
      }
    })();
    this.refreshing.set(kind, run);
    void run.then(() => {
      this.refreshing.delete(kind);
      if (generation !== this.generation) return;
      this.events.onListChanged(this, kind);
      if (this.refreshAgain.delete(kind)) this.refresh(kind, generation);
    });
  }

  private onStderr(chunk: Buffer): void {
    const text = this.stderrPartial + chunk.toString('utf8');
    const lines = text.split(/\r?\n/);
    this.stderrPartial = (lines.pop() ?? '').slice(-4096);
    for (const raw of lines) {
      const line = raw.trimEnd();
      if (line === '') continue;
      this.stderrTail.push(line.length > 500 ? `${line.slice(0, 500)}…` : line);
      if (this.stderrTail.length > this.options.stderrLines) this.stderrTail.shift();
      this.log.info(`upstream ${this.name} stderr: ${line}`);
    }
  }
}

function describeStartError(err: unknown, command: string): string {
  const code = err && typeof err === 'object' && 'code' in err ? String(err.code) : undefined;
  if (code === 'ENOENT') return `command ${JSON.stringify(command)} not found (check "command" and PATH)`;
  if (code === 'EACCES') return `command ${JSON.stringify(command)} is not executable`;
  if (err instanceof McpError && err.code === ErrorCode.ConnectionClosed) return 'the process exited before initializing';
  return errorMessage(err);
}

/** Pages through a list; a server that keeps returning cursors is cut off rather than followed forever. */
async function paged<T>(fetch: (cursor: string | undefined) => Promise<{ items: T[]; nextCursor?: string | undefined }>): Promise<T[]> {
  const all: T[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < 100; page++) {
    const { items, nextCursor } = await fetch(cursor);
    all.push(...items);
    if (!nextCursor || nextCursor === cursor) break;
    cursor = nextCursor;
  }
  return all;
}

const params = (cursor: string | undefined) => (cursor === undefined ? {} : { params: { cursor } });

async function listTools(client: Client, caps: ServerCapabilities): Promise<Tool[]> {
  if (!caps.tools) return [];
  return paged(async (cursor) => {
    const r = await client.request({ method: 'tools/list', ...params(cursor) }, ListToolsResultSchema);
    return { items: r.tools, nextCursor: r.nextCursor };
  });
}
async function listPrompts(client: Client, caps: ServerCapabilities): Promise<Prompt[]> {
  if (!caps.prompts) return [];
  return paged(async (cursor) => {
    const r = await client.request({ method: 'prompts/list', ...params(cursor) }, ListPromptsResultSchema);
    return { items: r.prompts, nextCursor: r.nextCursor };
  });
}
async function listResources(client: Client, caps: ServerCapabilities): Promise<Resource[]> {
  if (!caps.resources) return [];
  return paged(async (cursor) => {
    const r = await client.request({ method: 'resources/list', ...params(cursor) }, ListResourcesResultSchema);
    return { items: r.resources, nextCursor: r.nextCursor };
  });
}
async function listTemplates(client: Client, caps: ServerCapabilities): Promise<ResourceTemplate[]> {
  if (!caps.resources) return [];
  return paged(async (cursor) => {
    const r = await client.request({ method: 'resources/templates/list', ...params(cursor) }, ListResourceTemplatesResultSchema);
    return { items: r.resourceTemplates, nextCursor: r.nextCursor };
  });
}

async function readCatalog(client: Client, caps: ServerCapabilities): Promise<Catalog> {
  const [tools, prompts, resources, resourceTemplates] = await Promise.all([
    listTools(client, caps),
    listPrompts(client, caps),
    listResources(client, caps),
    listTemplates(client, caps),
  ]);
  return { tools, prompts, resources, resourceTemplates };
}
