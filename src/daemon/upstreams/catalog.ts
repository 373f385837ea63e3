import type { Client } from '@modelcontextprotocol/client';
import type { Prompt, Resource, ResourceTemplateType as ResourceTemplate, ServerCapabilities, Tool } from '@modelcontextprotocol/client';

/** What one upstream offers, as its list requests returned it. */
export interface Catalog {
  tools: Tool[];
  prompts: Prompt[];
  resources: Resource[];
  resourceTemplates: ResourceTemplate[];
}
export type CatalogKind = 'tools' | 'prompts' | 'resources';

export const emptyCatalog = (): Catalog => ({ tools: [], prompts: [], resources: [], resourceTemplates: [] });

/**
 * How a catalog read went, per list method: `problem` is null when every page was read, else
 * one line naming the cursor where exai stopped following a server whose cursors never end.
 */
export type PagingReport = (method: string, problem: string | null) => void;

/** The lists of one server whose last read stopped at a looping cursor, by method. */
export class PagingProblems {
  private readonly problems = new Map<string, string>();

  /** `warn` hears each new problem once. */
  constructor(private readonly warn: (problem: string) => void) {}

  readonly report: PagingReport = (method, problem) => {
    if (problem === null) {
      this.problems.delete(method);
      return;
    }
    if (this.problems.get(method) !== problem) this.warn(problem);
    this.problems.set(method, problem);
  };

  /** One line for exai_status; null when every list was read to its end. */
  summary(): string | null {
    return this.problems.size ? [...this.problems.values()].join('; ') : null;
  }
}

/**
 * A page count no real catalog reaches (a million items at 100 a page): past it, a server's
 * cursors are taken for a loop it does not repeat exactly.
 */
export const MAX_UPSTREAM_PAGES = 10_000;

/**
 * Follows every page of a list. Stops, and says so through `report`, only when the server's
 * cursors loop: a cursor it already gave, or more than MAX_UPSTREAM_PAGES pages.
 */
async function paged<T>(
  method: string,
  report: PagingReport | undefined,
  fetch: (cursor: string | undefined) => Promise<{ items: T[]; nextCursor?: string | undefined }>,
): Promise<T[]> {
  const all: T[] = [];
  const seen = new Set<string>();
  let cursor: string | undefined;
  for (let page = 1; ; page++) {
    const { items, nextCursor } = await fetch(cursor);
    all.push(...items);
    if (!nextCursor) break;
    const shown = JSON.stringify(nextCursor.length > 100 ? `${nextCursor.slice(0, 100)}…` : nextCursor);
    if (seen.has(nextCursor) || page >= MAX_UPSTREAM_PAGES) {
      const why = seen.has(nextCursor) ? `it gave the cursor ${shown} again` : `it still gave a cursor (${shown}) after ${page} pages`;
      report?.(method, `${method}: stopped after ${page} pages (${all.length} items) because ${why}; the rest of the list is missing`);
      return all;
    }
    seen.add(nextCursor);
    cursor = nextCursor;
  }
  report?.(method, null);
  return all;
}

const params = (cursor: string | undefined) => (cursor === undefined ? {} : { params: { cursor } });

export async function listTools(client: Client, caps: ServerCapabilities, report?: PagingReport): Promise<Tool[]> {
  if (!caps.tools) return [];
  return paged('tools/list', report, async (cursor) => {
    const r = await client.request({ method: 'tools/list', ...params(cursor) });
    return { items: r.tools, nextCursor: r.nextCursor };
  });
}

export async function listPrompts(client: Client, caps: ServerCapabilities, report?: PagingReport): Promise<Prompt[]> {
  if (!caps.prompts) return [];
  return paged('prompts/list', report, async (cursor) => {
    const r = await client.request({ method: 'prompts/list', ...params(cursor) });
    return { items: r.prompts, nextCursor: r.nextCursor };
  });
}

export async function listResources(client: Client, caps: ServerCapabilities, report?: PagingReport): Promise<Resource[]> {
  if (!caps.resources) return [];
  return paged('resources/list', report, async (cursor) => {
    const r = await client.request({ method: 'resources/list', ...params(cursor) });
    return { items: r.resources, nextCursor: r.nextCursor };
  });
}

export async function listTemplates(client: Client, caps: ServerCapabilities, report?: PagingReport): Promise<ResourceTemplate[]> {
  if (!caps.resources) return [];
  return paged('resources/templates/list', report, async (cursor) => {
    const r = await client.request({ method: 'resources/templates/list', ...params(cursor) });
    return { items: r.resourceTemplates, nextCursor: r.nextCursor };
  });
}

export async function readCatalog(client: Client, caps: ServerCapabilities, report?: PagingReport): Promise<Catalog> {
  const [tools, prompts, resources, resourceTemplates] = await Promise.all([
    listTools(client, caps, report),
    listPrompts(client, caps, report),
    listResources(client, caps, report),
    listTemplates(client, caps, report),
  ]);
  return { tools, prompts, resources, resourceTemplates };
}

/** Re-reads the part of the catalog one list_changed notification names. */
export async function rereadKind(client: Client, caps: ServerCapabilities, kind: CatalogKind, catalog: Catalog, report?: PagingReport): Promise<void> {
  if (kind === 'tools') catalog.tools = await listTools(client, caps, report);
  if (kind === 'prompts') catalog.prompts = await listPrompts(client, caps, report);
  if (kind === 'resources') {
    catalog.resources = await listResources(client, caps, report);
    catalog.resourceTemplates = await listTemplates(client, caps, report);
  }
}

/**
 * What sessions were last shown of each upstream's catalog (per kind, as JSON), so they hear
 * `list_changed` only for a list that really changed.
 */
export class ShownCatalogs<K extends object> {
  private readonly shown = new WeakMap<K, Record<CatalogKind, string>>();

  /** Records `catalog` as shown for `key`; returns the kinds that differ from what was shown before. */
  update(key: K, catalog: Catalog): CatalogKind[] {
    const now = signature(catalog);
    const before = this.shown.get(key) ?? signature(emptyCatalog());
    this.shown.set(key, now);
    return (['tools', 'prompts', 'resources'] as const).filter((kind) => now[kind] !== before[kind]);
  }
}

function signature(catalog: Catalog): Record<CatalogKind, string> {
  return {
    tools: JSON.stringify(catalog.tools),
    prompts: JSON.stringify(catalog.prompts),
    resources: JSON.stringify([catalog.resources, catalog.resourceTemplates]),
  };
}
