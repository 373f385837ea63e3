import type { Client } from '@modelcontextprotocol/client';
import {
  ListPromptsResultSchema,
  ListResourceTemplatesResultSchema,
  ListResourcesResultSchema,
  ListToolsResultSchema,
  type Prompt,
  type Resource,
  type ResourceTemplate,
  type ServerCapabilities,
  type Tool,
} from '@modelcontextprotocol/sdk/types.js';

/** What one upstream offers, as its list requests returned it. */
export interface Catalog {
  tools: Tool[];
  prompts: Prompt[];
  resources: Resource[];
  resourceTemplates: ResourceTemplate[];
}
export type CatalogKind = 'tools' | 'prompts' | 'resources';

export const emptyCatalog = (): Catalog => ({ tools: [], prompts: [], resources: [], resourceTemplates: [] });

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

export async function listTools(client: Client, caps: ServerCapabilities): Promise<Tool[]> {
  if (!caps.tools) return [];
  return paged(async (cursor) => {
    const r = await client.request({ method: 'tools/list', ...params(cursor) }, ListToolsResultSchema);
    return { items: r.tools, nextCursor: r.nextCursor };
  });
}

export async function listPrompts(client: Client, caps: ServerCapabilities): Promise<Prompt[]> {
  if (!caps.prompts) return [];
  return paged(async (cursor) => {
    const r = await client.request({ method: 'prompts/list', ...params(cursor) }, ListPromptsResultSchema);
    return { items: r.prompts, nextCursor: r.nextCursor };
  });
}

export async function listResources(client: Client, caps: ServerCapabilities): Promise<Resource[]> {
  if (!caps.resources) return [];
  return paged(async (cursor) => {
    const r = await client.request({ method: 'resources/list', ...params(cursor) }, ListResourcesResultSchema);
    return { items: r.resources, nextCursor: r.nextCursor };
  });
}

export async function listTemplates(client: Client, caps: ServerCapabilities): Promise<ResourceTemplate[]> {
  if (!caps.resources) return [];
  return paged(async (cursor) => {
    const r = await client.request({ method: 'resources/templates/list', ...params(cursor) }, ListResourceTemplatesResultSchema);
    return { items: r.resourceTemplates, nextCursor: r.nextCursor };
  });
}

export async function readCatalog(client: Client, caps: ServerCapabilities): Promise<Catalog> {
  const [tools, prompts, resources, resourceTemplates] = await Promise.all([
    listTools(client, caps),
    listPrompts(client, caps),
    listResources(client, caps),
    listTemplates(client, caps),
  ]);
  return { tools, prompts, resources, resourceTemplates };
}

/** Re-reads the part of the catalog one list_changed notification names. */
export async function rereadKind(client: Client, caps: ServerCapabilities, kind: CatalogKind, catalog: Catalog): Promise<void> {
  if (kind === 'tools') catalog.tools = await listTools(client, caps);
  if (kind === 'prompts') catalog.prompts = await listPrompts(client, caps);
  if (kind === 'resources') {
    catalog.resources = await listResources(client, caps);
    catalog.resourceTemplates = await listTemplates(client, caps);
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
