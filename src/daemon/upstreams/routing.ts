/**
 * Which upstream serves what a session names (a tool, a prompt, a resource URI, a template),
 * and which session answers what an upstream asks (sampling, elicitation, roots).
 */
import { UriTemplate, type ClientCapabilities, type Prompt, type Tool } from '@modelcontextprotocol/server';
import { INVALID_PARAMS, WireRequestError, type WireRequest } from '../../transport/jsonrpc.js';
import { offersTaskExtension } from './modern-tasks.js';
import { exposedName, serverOf } from './names.js';
import type { Upstream } from './upstream.js';

export interface Routed<T> {
  readonly upstream: Upstream;
  /** The name the upstream knows. */
  readonly name: string;
  readonly item: T;
}

/**
 * The aggregate of every upstream's tools and prompts under their exposed names (see
 * names.ts): the running ones', and the cached ones of those not running (idle), so that a
 * call to an idle upstream's tool finds it and starts it. Rebuilt on first use after any
 * upstream came, went or changed its lists.
 */
export class Directory {
  private tools: Map<string, Routed<Tool>> | undefined;
  private prompts: Map<string, Routed<Prompt>> | undefined;

  /**
   * `firstStart` waits (bounded) for upstreams on their first start whose catalog is not known
   * yet, so that an early request finds them instead of failing; `learnCatalogs` also starts
   * the idle ones whose catalog was never seen (no cache), and waits for them the same way.
   */
  constructor(
    private readonly upstreams: () => Iterable<Upstream>,
    private readonly firstStart: () => Promise<void>,
    private readonly learnCatalogs: () => Promise<void>,
  ) {}

  invalidate(): void {
    this.tools = undefined;
    this.prompts = undefined;
  }

  tool(exposed: string): Routed<Tool> | undefined {
    this.tools ??= this.build((u) => u.catalog.tools);
    return this.tools.get(exposed);
  }

  prompt(exposed: string): Routed<Prompt> | undefined {
    this.prompts ??= this.build((u) => u.catalog.prompts);
    return this.prompts.get(exposed);
  }

  /**
   * The tools as a session lists them. A tool's `execution.taskSupport` is shown only to
   * clients that declared tasks: for the others exai runs a task-only tool as a task itself,
   * and an SDK client refuses to call a tool marked "required" with a plain call. A tool of a
   * 2026-07-28 server with the tasks extension shows such a client `"optional"`.
   */
  listTools(clientDoesTasks: boolean): Tool[] {
    this.tools ??= this.build((u) => u.catalog.tools);
    return [...this.tools].map(([name, { item, upstream }]) => {
      // A 2026-07-28 server with the tasks extension may run any call as a task (modern-tasks.ts).
      if (clientDoesTasks && item.execution === undefined && offersTaskExtension(upstream)) return { ...item, name, execution: { taskSupport: 'optional' } };
      if (clientDoesTasks || item.execution === undefined) return { ...item, name };
      const { execution: _hidden, ...rest } = item;
      return { ...rest, name };
    });
  }

  listPrompts(): Prompt[] {
    this.prompts ??= this.build((u) => u.catalog.prompts);
    return [...this.prompts].map(([name, { item }]) => ({ ...item, name }));
  }

  /** The upstream a `<server>__…` name belongs to by its prefix, whether it is up or not. */
  upstreamNamed(exposed: string): Upstream | undefined {
    const server = serverOf(exposed);
    return server === undefined ? undefined : [...this.upstreams()].find((u) => u.name === server);
  }

  /** The upstream that listed this resource URI, else one whose template matches it, else the only one with resources. */
  byUri(uri: string): Upstream | undefined {
    const all = [...this.upstreams()];
    return (
      all.find((u) => u.catalog.resources.some((r) => r.uri === uri)) ??
      all.find((u) => u.catalog.resourceTemplates.some((t) => templateMatches(t.uriTemplate, uri))) ??
      // Resources a server did not list (links returned by a tool, say): if only one upstream
      // serves resources at all, it is the only possible owner.
      soleWith(all.filter((u) => u.serverCapabilities?.resources))
    );
  }

  byTemplate(uriTemplate: string): Upstream | undefined {
    const all = [...this.upstreams()];
    return (
      all.find((u) => u.catalog.resourceTemplates.some((t) => t.uriTemplate === uriTemplate)) ??
      all.find((u) => u.catalog.resources.some((r) => r.uri === uriTemplate))
    );
  }

  /**
   * An exposed `<server>__<name>` -> the upstream (started first when it is idle, waited for
   * while it starts) and the name it knows. Rejects with the upstream's own "unavailable" error
   * when it is not up, with -32602 when nothing has the name.
   */
  route(exposed: string, what: 'tool'): Promise<Routed<Tool>>;
  route(exposed: string, what: 'prompt'): Promise<Routed<Prompt>>;
  async route(exposed: string, what: 'tool' | 'prompt'): Promise<Routed<Tool> | Routed<Prompt>> {
    const lookup = (): Routed<Tool> | Routed<Prompt> | undefined => (what === 'tool' ? this.tool(exposed) : this.prompt(exposed));
    let routed = lookup();
    const owner = routed?.upstream ?? this.upstreamNamed(exposed);
    if (owner && wakes(owner)) {
      await owner.ensureUp();
      // The live catalog may differ from the cached one it was listed from.
      routed = lookup();
    }
    if (routed && routed.upstream.state === 'up') return routed;
    if (owner && owner.state !== 'up') throw owner.unavailable();
    throw new WireRequestError(
      INVALID_PARAMS,
      `unknown ${what} ${JSON.stringify(exposed.slice(0, 100))}; call ${what === 'tool' ? 'tools/list' : 'prompts/list'} for the available ones`,
    );
  }

  /**
   * The upstream serving a resource URI (see byUri), up (started when idle), or the error that
   * says why there is none. Idle upstreams whose catalog was never seen are started to learn
   * whether they serve it.
   */
  async routeUri(uri: string): Promise<Upstream> {
    await this.firstStart();
    let owner = this.byUri(uri);
    if (!owner && [...this.upstreams()].some((u) => !u.catalogKnown)) {
      await this.learnCatalogs();
      owner = this.byUri(uri);
    }
    if (owner) return up(owner);
    const down = [...this.upstreams()].find((u) => u.state !== 'up' && u.state !== 'idle');
    if (down) throw down.unavailable();
    throw new WireRequestError(INVALID_PARAMS, `no upstream server lists the resource ${JSON.stringify(uri)}; call resources/list for the available ones`);
  }

  async routeTemplate(uriTemplate: string): Promise<Upstream> {
    await this.firstStart();
    let owner = this.byTemplate(uriTemplate);
    if (!owner && [...this.upstreams()].some((u) => !u.catalogKnown)) {
      await this.learnCatalogs();
      owner = this.byTemplate(uriTemplate);
    }
    if (owner) return up(owner);
    throw new WireRequestError(INVALID_PARAMS, `no upstream server lists the resource template ${JSON.stringify(uriTemplate)}`);
  }

  private build<T extends { name: string }>(items: (u: Upstream) => T[]): Map<string, Routed<T>> {
    const map = new Map<string, Routed<T>>();
    for (const upstream of this.upstreams()) {
      for (const item of items(upstream)) map.set(exposedName(upstream.name, item.name), { upstream, name: item.name, item });
    }
    return map;
  }
}

const soleWith = (list: Upstream[]) => (list.length === 1 ? list[0] : undefined);

/** Not running but startable by a request: idle, or on its way up. */
const wakes = (u: Upstream) => u.state === 'idle' || u.state === 'starting';

async function up(upstream: Upstream): Promise<Upstream> {
  if (wakes(upstream)) await upstream.ensureUp();
  return upstream;
}

function templateMatches(template: string, uri: string): boolean {
  try {
    return new UriTemplate(template).match(uri) !== null;
  } catch {
    return false;
  }
}

export type Capability = 'sampling' | 'elicitation' | 'roots';

/** What a session must support to answer an upstream's request; undefined: exai does not relay it. */
export function capabilityFor(method: string): Capability | undefined {
  if (method === 'sampling/createMessage') return 'sampling';
  if (method === 'elicitation/create') return 'elicitation';
  if (method === 'roots/list') return 'roots';
  return undefined;
}

/** Whether a client with `caps` can answer `request` (elicitation: in the mode it asks for). */
export function supports(caps: ClientCapabilities | undefined, capability: Capability, request: WireRequest): boolean {
  if (!caps) return false;
  if (capability === 'sampling') return caps.sampling !== undefined;
  if (capability === 'roots') return caps.roots !== undefined;
  const elicitation = caps.elicitation;
  if (!elicitation) return false;
  const mode = request.params?.mode === 'url' ? 'url' : 'form';
  // A client that names neither mode supports form (the spec's backwards compatibility).
  if (mode === 'url') return elicitation.url !== undefined;
  return elicitation.form !== undefined || elicitation.url === undefined;
}

/** Whether a client declared task-augmented handling of this request (capabilities.tasks.requests). */
export function supportsTask(caps: ClientCapabilities | undefined, method: string): boolean {
  const requests = caps?.tasks?.requests;
  if (method === 'sampling/createMessage') return requests?.sampling?.createMessage !== undefined;
  if (method === 'elicitation/create') return requests?.elicitation?.create !== undefined;
  return false;
}
