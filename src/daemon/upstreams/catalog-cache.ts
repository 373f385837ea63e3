/**
 * The last catalog of each upstream server, kept in EXAI_HOME (`catalogs/<workspace id>.json`,
 * mode 0600) so that a lazy or idle upstream's tools, prompts and resources are listed without
 * starting it, also by a daemon that has never run it (DESIGN.md "Upstreams"). One small file
 * per workspace, written only by that workspace's daemon, atomically; an entry is filed under
 * its server's spec key (a hash of command, args, env and cwd), so an edited entry is not
 * served the old process's catalog.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { ServerCapabilities } from '@modelcontextprotocol/client';
import { writeFileAtomic } from '../../common/atomic-write.js';
import { errnoCode, errorMessage } from '../../common/errors.js';
import type { Logger } from '../log.js';
import type { Catalog } from './catalog.js';
import type { PriorDiscovery } from './era.js';

/** What is known of a server without running it: what it offered the last time it ran. */
export interface KnownCatalog {
  readonly catalog: Catalog;
  readonly capabilities: ServerCapabilities;
  readonly instructions: string | undefined;
  /**
   * The era it answered in (a 2026-07-28 server's `server/discover` result, or legacy), so a
   * later start connects without probing again; undefined in caches written before eras.
   */
  readonly era?: PriorDiscovery | undefined;
}

interface CacheEntry {
  key: string;
  savedAt: string;
  catalog: Catalog;
  capabilities: ServerCapabilities;
  instructions?: string;
  era?: PriorDiscovery;
}

interface CacheFile {
  version: 1;
  servers: Record<string, CacheEntry>;
}

/** Writes are coalesced: a burst of list_changed re-reads costs one write. */
const WRITE_DELAY_MS = 100;

export class CatalogCache {
  private servers: Record<string, CacheEntry>;
  private timer: NodeJS.Timeout | undefined;
  private warned = false;

  /** `file` is `homeLayout(home).catalogFile(id)`; an unreadable or corrupt file is an empty cache. */
  constructor(
    private readonly file: string,
    private readonly log: Logger,
  ) {
    this.servers = this.load();
  }

  /** The cached catalog of `name`, if one was filed under this spec key. */
  get(name: string, key: string): KnownCatalog | undefined {
    const entry = Object.hasOwn(this.servers, name) ? this.servers[name] : undefined;
    if (!entry || entry.key !== key) return undefined;
    return { catalog: entry.catalog, capabilities: entry.capabilities, instructions: entry.instructions, era: entry.era };
  }

  /** Files what `name` offers now (written shortly after, or on flush). */
  put(name: string, key: string, known: KnownCatalog): void {
    this.servers[name] = {
      key,
      savedAt: new Date().toISOString(),
      catalog: known.catalog,
      capabilities: known.capabilities,
      ...(known.instructions === undefined ? {} : { instructions: known.instructions }),
      ...(known.era === undefined ? {} : { era: known.era }),
    };
    this.schedule();
  }

  /** Forgets servers no longer configured (servers.json is the only list of them). */
  retain(names: ReadonlySet<string>): void {
    const before = Object.keys(this.servers).length;
    this.servers = Object.fromEntries(Object.entries(this.servers).filter(([name]) => names.has(name)));
    if (Object.keys(this.servers).length !== before) this.schedule();
  }

  /** Writes a pending change now (daemon shutdown). */
  flush(): void {
    if (!this.timer) return;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.write();
  }

  private schedule(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.write();
    }, WRITE_DELAY_MS);
    this.timer.unref();
  }

  private write(): void {
    try {
      mkdirSync(dirname(this.file), { recursive: true, mode: 0o700 });
      const data: CacheFile = { version: 1, servers: this.servers };
      writeFileAtomic(this.file, `${JSON.stringify(data)}\n`, { mode: 0o600 });
    } catch (err) {
      // A cache that cannot be written only costs a start later; say so once, keep serving.
      if (!this.warned) this.log.warn(`could not write the upstream catalog cache ${this.file}: ${errorMessage(err)}`);
      this.warned = true;
    }
  }

  private load(): Record<string, CacheEntry> {
    let text: string;
    try {
      text = readFileSync(this.file, 'utf8');
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') this.log.warn(`could not read the upstream catalog cache ${this.file}: ${errorMessage(err)}; starting without it`);
      return {};
    }
    try {
      const data = JSON.parse(text) as Partial<CacheFile> | null;
      if (data?.version !== 1 || typeof data.servers !== 'object' || data.servers === null) throw new Error('not a version 1 cache');
      const servers: Record<string, CacheEntry> = {};
      for (const [name, entry] of Object.entries(data.servers)) if (validEntry(entry)) servers[name] = entry;
      return servers;
    } catch (err) {
      this.log.warn(`ignoring the upstream catalog cache ${this.file} (${errorMessage(err)}); it is rewritten when the servers run`);
      return {};
    }
  }
}

/** Enough shape checking that a hand-edited or truncated entry cannot break a listing. */
function validEntry(entry: unknown): entry is CacheEntry {
  if (typeof entry !== 'object' || entry === null) return false;
  const e = entry as Partial<CacheEntry>;
  const c = e.catalog as Partial<Catalog> | undefined;
  return (
    typeof e.key === 'string' &&
    typeof e.capabilities === 'object' &&
    e.capabilities !== null &&
    (e.instructions === undefined || typeof e.instructions === 'string') &&
    (e.era === undefined || validEra(e.era)) &&
    c !== undefined &&
    listOf(c.tools, 'name') &&
    listOf(c.prompts, 'name') &&
    listOf(c.resources, 'uri') &&
    listOf(c.resourceTemplates, 'uriTemplate')
  );
}

/** A verdict the SDK can reuse: legacy, or modern with a discover result naming its versions. */
function validEra(era: unknown): boolean {
  if (typeof era !== 'object' || era === null) return false;
  const e = era as { kind?: unknown; discover?: { supportedVersions?: unknown; capabilities?: unknown } };
  if (e.kind === 'legacy') return true;
  return e.kind === 'modern' && Array.isArray(e.discover?.supportedVersions) && typeof e.discover.capabilities === 'object' && e.discover.capabilities !== null;
}

function listOf(list: unknown, key: string): boolean {
  return Array.isArray(list) && list.every((item) => typeof item === 'object' && item !== null && typeof (item as Record<string, unknown>)[key] === 'string');
}
