/**
 * What sessions ask of upstreams. Calls, reads, completions and tasks are relayed as JSON-RPC
 * (the SDK Server never sees them); lists, subscriptions and the built-in tools are answered by
 * each session's SDK Server through the handlers registered here.
 */
import type { Tool } from '@modelcontextprotocol/server';
import { errorMessage } from '../../common/errors.js';
import { INTERNAL_ERROR, INVALID_PARAMS, INVALID_REQUEST, WireRequestError, errorResponse, type WireRequest } from '../../transport/jsonrpc.js';
import { invalidParams } from '../params.js';
import type { GatewaySession } from './clients.js';
import type { Relay } from './relay.js';
import { page } from './pages.js';
import type { Directory, Routed } from './routing.js';
import type { Subscriptions } from './subscriptions.js';
import type { Tasks } from './tasks.js';
import type { Upstream } from './upstream.js';
import { TASK_HANDLE_OK } from '../era-tasks.js';
import { offersTaskExtension } from './modern-tasks.js';

export interface SessionRequestsDeps {
  relay: Relay;
  tasks: Tasks;
  directory: Directory;
  subscriptions: Subscriptions<GatewaySession>;
  upstreams: () => Iterable<Upstream>;
  /**
   * Before a list is answered: starts the idle upstreams whose catalog was never seen (no
   * cache yet) and waits, bounded, for those starting without one.
   */
  learnCatalogs: () => Promise<void>;
}

export class SessionRequests {
  /**
   * Requests routed but not forwarded yet (their upstream is still starting, say), by session
   * and request id: a cancellation or the session's end before they go out removes them, and
   * they are then never forwarded, and never answered (the spec's cancellation).
   */
  private readonly unsent = new Map<GatewaySession, Set<string>>();

  constructor(private readonly deps: SessionRequestsDeps) {}

  /**
   * A session's notifications/cancelled for a request still waiting here; true when it was one
   * (it is dropped: nothing goes upstream, nothing answers it).
   */
  cancel(entry: GatewaySession, requestId: unknown): boolean {
    if (typeof requestId !== 'string' && typeof requestId !== 'number') return false;
    return this.unsent.get(entry)?.delete(idKey(requestId)) ?? false;
  }

  /** The session closed: what it asked that has not gone out yet never will. */
  sessionClosed(entry: GatewaySession): void {
    this.unsent.delete(entry);
  }

  /**
   * Runs `work` (which routes, maybe waits, then forwards) for a session's request. `work` gets
   * `live`: true while the request may still go out (not cancelled, session open); it calls it
   * right before forwarding, and nothing is forwarded or answered once it is false.
   */
  private track(entry: GatewaySession, request: WireRequest, work: (live: () => boolean) => Promise<void>): void {
    const k = idKey(request.id);
    let mine = this.unsent.get(entry);
    if (!mine) this.unsent.set(entry, (mine = new Set()));
    mine.add(k);
    // Asked once, right before forwarding (or answering an error): from then on the relay owns
    // the request and its cancellation, and it leaves this table.
    let answer: boolean | undefined;
    const live = () => {
      if (answer !== undefined) return answer;
      const set = this.unsent.get(entry);
      answer = set?.delete(k) ?? false;
      if (set?.size === 0) this.unsent.delete(entry);
      return answer;
    };
    void work(live).catch((err) => {
      if (live()) fail(entry, request, err);
    });
  }

  /**
   * One request from a session; true when it is relayed (or answered) here, false when the
   * session's SDK Server answers it. Parameters of the wrong type are answered with -32602.
   */
  take(entry: GatewaySession, request: WireRequest): boolean {
    const builtin = request.method === 'tools/call' && entry.builtins.some((b) => b.definition.name === request.params?.name);
    const problem = invalidParams(request, builtin);
    if (problem) {
      entry.send(errorResponse(request.id, INVALID_PARAMS, `invalid params for ${request.method}: ${problem}`));
      return true;
    }
    switch (request.method) {
      case 'tools/call': {
        if (builtin) return false;
        // The hot path: its upstream is up, nothing to wait for, so it goes out now, without
        // the table of requests not sent yet (and the promises of the waiting path).
        const routed = this.deps.directory.tool(request.params!.name as string);
        if (routed?.upstream.state === 'up') {
          try {
            this.sendCall(entry, request, routed);
          } catch (err) {
            fail(entry, request, err);
          }
          return true;
        }
        this.track(entry, request, (live) => this.callTool(entry, request, live));
        return true;
      }
      case 'prompts/get':
      case 'resources/read':
      case 'completion/complete':
        this.track(entry, request, (live) => this.read(entry, request, live));
        return true;
      case 'tasks/get':
      case 'tasks/result':
      case 'tasks/cancel':
      case 'tasks/list':
        this.deps.tasks.fromSession(entry, request);
        return true;
      default:
        return false;
    }
  }

  /** The handlers for what the session's SDK Server answers itself. */
  registerHandlers(entry: GatewaySession): void {
    const { server, builtins } = entry;
    const { directory, subscriptions, learnCatalogs } = this.deps;
    const upstreams = () => [...this.deps.upstreams()];
    server.setRequestHandler('tools/list', async (request) => {
      await learnCatalogs();
      const tools: Tool[] = [...builtins.map((b) => b.definition), ...directory.listTools(server.getClientCapabilities()?.tasks !== undefined)];
      const { items, nextCursor } = page(tools, (t) => t.name, request.params?.cursor);
      return { tools: items, ...(nextCursor ? { nextCursor } : {}) };
    });
    server.setRequestHandler('tools/call', async (request) => {
      // Only built-ins get here; everything else is relayed before the SDK sees it.
      const builtin = builtins.find((b) => b.definition.name === request.params.name);
      if (!builtin) throw new WireRequestError(INVALID_PARAMS, `unknown tool ${JSON.stringify(request.params.name.slice(0, 100))}`);
      return builtin.call(request.params.arguments);
    });
    server.setRequestHandler('prompts/list', async (request) => {
      await learnCatalogs();
      const { items, nextCursor } = page(directory.listPrompts(), (p) => p.name, request.params?.cursor);
      return { prompts: items, ...(nextCursor ? { nextCursor } : {}) };
    });
    server.setRequestHandler('resources/list', async (request) => {
      await learnCatalogs();
      const { items, nextCursor } = page(upstreams().flatMap((up) => up.catalog.resources), (r) => r.uri, request.params?.cursor);
      return { resources: items, ...(nextCursor ? { nextCursor } : {}) };
    });
    server.setRequestHandler('resources/templates/list', async (request) => {
      await learnCatalogs();
      const all = upstreams().flatMap((up) => up.catalog.resourceTemplates);
      const { items, nextCursor } = page(all, (t) => t.uriTemplate, request.params?.cursor);
      return { resourceTemplates: items, ...(nextCursor ? { nextCursor } : {}) };
    });
    server.setRequestHandler('resources/subscribe', async (request) => {
      const upstream = await directory.routeUri(request.params.uri);
      if (!upstream.serverCapabilities?.resources?.subscribe) {
        throw new WireRequestError(INVALID_REQUEST, `upstream server "${upstream.name}" does not support resource subscriptions`);
      }
      await subscriptions.subscribe(entry, upstream, request.params.uri);
      return {};
    });
    server.setRequestHandler('resources/unsubscribe', async (request) => {
      subscriptions.unsubscribe(entry, request.params.uri);
      return {};
    });
  }

  /**
   * tools/call: relayed as it is; a task-augmented one joins the task to the session; a plain
   * call of a tool that requires a task runs as a task upstream (tasks.ts).
   */
  private async callTool(entry: GatewaySession, request: WireRequest, live: () => boolean): Promise<void> {
    const routed = await this.deps.directory.route(request.params!.name as string, 'tool');
    if (live()) this.sendCall(entry, request, routed);
  }

  /** A tools/call to the upstream `routed` names, which is up. */
  private sendCall(entry: GatewaySession, request: WireRequest, { upstream, name, item: tool }: Routed<Tool>): void {
    const { relay, tasks } = this.deps;
    const params = request.params!;
    // A 2026-07-28 session that declared the tasks extension takes a task handle (era-tasks.ts).
    const { [TASK_HANDLE_OK]: handleOk, ...meta } = (params._meta ?? {}) as Record<string, unknown>;
    const outgoing = { ...params, name, ...(handleOk === undefined ? {} : { _meta: meta }) };
    const taskOnly = tool.execution?.taskSupport === 'required' && upstream.serverCapabilities?.tasks?.requests?.tools?.call;
    // A 2026-07-28 session and server that both have the tasks extension: the server decides (modern-tasks.ts).
    if (params.task !== undefined || (handleOk === true && (taskOnly || offersTaskExtension(upstream)))) {
      tasks.callAsTask(entry, request, upstream, params.task !== undefined ? outgoing : { ...outgoing, task: {} });
    } else if (taskOnly) {
      tasks.callThroughTask(entry, request, upstream, outgoing);
    } else {
      relay.forward(entry, request.id, upstream, request.method, outgoing);
    }
  }

  /** prompts/get, resources/read and completion/complete, to the upstream that serves the name or URI. */
  private async read(entry: GatewaySession, request: WireRequest, live: () => boolean): Promise<void> {
    const { relay, directory } = this.deps;
    const params = request.params!;
    if (request.method === 'prompts/get') {
      const { upstream, name } = await directory.route(params.name as string, 'prompt');
      if (!live()) return;
      relay.forward(entry, request.id, upstream, request.method, { ...params, name });
      return;
    }
    if (request.method === 'resources/read') {
      const upstream = await directory.routeUri(params.uri as string);
      if (!live()) return;
      relay.forward(entry, request.id, upstream, request.method, params);
      return;
    }
    const ref = params.ref as { type: string; name?: string; uri?: string };
    let upstream: Upstream;
    let outgoing = params;
    if (ref.type === 'ref/prompt') {
      const routed = await directory.route(ref.name!, 'prompt');
      upstream = routed.upstream;
      outgoing = { ...params, ref: { ...ref, name: routed.name } };
    } else {
      upstream = await directory.routeTemplate(ref.uri!);
    }
    if (!live()) return;
    // Completions are optional: an upstream without them simply offers nothing.
    if (!upstream.serverCapabilities?.completions) {
      entry.send({ jsonrpc: '2.0', id: request.id, result: { completion: { values: [] } } });
      return;
    }
    relay.forward(entry, request.id, upstream, request.method, outgoing);
  }
}

const idKey = (id: string | number) => (typeof id === 'number' ? `n:${id}` : `s:${id}`);

function fail(entry: GatewaySession, request: WireRequest, err: unknown): void {
  const code = err instanceof WireRequestError ? err.code : INTERNAL_ERROR;
  const data = err instanceof WireRequestError ? err.data : undefined;
  entry.send(errorResponse(request.id, code, errorMessage(err), data));
}
