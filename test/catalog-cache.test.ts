/** The upstream catalog cache file: what a daemon reads back, and what it refuses to trust. */
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CatalogCache, type KnownCatalog } from '../src/daemon/upstreams/catalog-cache.js';
import { parseServersConfig, specKey } from '../src/daemon/upstreams/config.js';
import type { Logger } from '../src/daemon/log.js';
import { makeTestEnv, waitFor, type TestEnv } from './helpers/env.js';

let t: TestEnv;
beforeAll(() => {
  t = makeTestEnv();
});
afterAll(async () => {
  await t?.cleanup();
});

function recordingLog(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const add = (m: string) => void lines.push(m);
  return { lines, info: add, warn: add, error: add } as Logger & { lines: string[] };
}

const known: KnownCatalog = {
  catalog: { tools: [{ name: 'echo', inputSchema: { type: 'object' } }], prompts: [], resources: [{ uri: 'x://1', name: 'one' }], resourceTemplates: [] },
  capabilities: { tools: {}, resources: { subscribe: true } },
  instructions: 'hello',
};

const specs = (text: string) => {
  const config = parseServersConfig(text, '/ws');
  if (!config.ok) throw new Error(config.error);
  return config.specs;
};

describe('the catalog cache', () => {
  it('keys entries by command, args, env and cwd, not by lifecycle or idleTimeout', () => {
    const [a, lazy, otherEnv, otherArgs, otherCwd] = specs(`{ "servers": {
      "a": { "command": "srv", "args": ["1"], "env": { "K": "v" } },
      "b": { "command": "srv", "args": ["1"], "env": { "K": "v" }, "lifecycle": "lazy", "idleTimeout": "5m" },
      "c": { "command": "srv", "args": ["1"], "env": { "K": "w" } },
      "d": { "command": "srv", "args": ["2"], "env": { "K": "v" } },
      "e": { "command": "srv", "args": ["1"], "env": { "K": "v" }, "cwd": "/elsewhere" } } }`);
    expect(specKey(lazy!)).toBe(specKey(a!));
    for (const other of [otherEnv, otherArgs, otherCwd]) expect(specKey(other!)).not.toBe(specKey(a!));
    expect(specKey(a!)).not.toContain('v'); // a hash, no env value in clear
  });

  it('writes one 0600 file per workspace and reads it back in a new instance; another key gets nothing', async () => {
    const file = join(t.dir, 'catalogs', 'ws1.json');
    const cache = new CatalogCache(file, recordingLog());
    cache.put('ev', 'key-1', known);
    cache.flush();
    if (process.platform !== 'win32') expect(statSync(file).mode & 0o777).toBe(0o600);
    const again = new CatalogCache(file, recordingLog());
    expect(again.get('ev', 'key-1')).toEqual(known);
    expect(again.get('ev', 'key-2')).toBeUndefined();
    expect(again.get('other', 'key-1')).toBeUndefined();
    // Servers gone from servers.json are forgotten (written after a short delay).
    again.retain(new Set(['nothing']));
    await waitFor(() => (JSON.parse(readFileSync(file, 'utf8')).servers.ev === undefined ? true : undefined), { what: 'the pruned file' });
  });

  it('ignores a corrupt file or malformed entries with one warning, and serves nothing from them', () => {
    mkdirSync(join(t.dir, 'bad'), { recursive: true });
    const corrupt = join(t.dir, 'bad', 'corrupt.json');
    writeFileSync(corrupt, '{"version": 1, "servers": {');
    const log = recordingLog();
    expect(new CatalogCache(corrupt, log).get('ev', 'k')).toBeUndefined();
    expect(log.lines).toHaveLength(1);
    expect(log.lines[0]).toMatch(/ignoring the upstream catalog cache .*corrupt\.json/);

    const partial = join(t.dir, 'bad', 'partial.json');
    writeFileSync(partial, JSON.stringify({ version: 1, servers: {
      good: { key: 'k', savedAt: '', catalog: known.catalog, capabilities: {} },
      noName: { key: 'k', savedAt: '', catalog: { ...known.catalog, tools: [{ title: 'x' }] }, capabilities: {} },
      noList: { key: 'k', savedAt: '', catalog: { tools: [] }, capabilities: {} },
    } }));
    const cache = new CatalogCache(partial, recordingLog());
    expect(cache.get('good', 'k')?.catalog.tools[0]?.name).toBe('echo');
    expect(cache.get('noName', 'k')).toBeUndefined();
    expect(cache.get('noList', 'k')).toBeUndefined();
  });

  it('keeps the era a server answered in with its catalog, and drops an era entry it cannot reuse', () => {
    const file = join(t.dir, 'catalogs', 'eras.json');
    const discover = { supportedVersions: ['2026-07-28'], capabilities: { tools: { listChanged: true } }, instructions: 'hi' };
    const cache = new CatalogCache(file, recordingLog());
    cache.put('modern', 'k', { ...known, era: { kind: 'modern', discover } });
    cache.put('old', 'k', { ...known, era: { kind: 'legacy' } });
    cache.flush();
    const again = new CatalogCache(file, recordingLog());
    expect(again.get('modern', 'k')?.era).toEqual({ kind: 'modern', discover });
    expect(again.get('old', 'k')?.era).toEqual({ kind: 'legacy' });

    const broken = join(t.dir, 'bad', 'era.json');
    mkdirSync(join(t.dir, 'bad'), { recursive: true });
    writeFileSync(broken, JSON.stringify({ version: 1, servers: { x: { key: 'k', savedAt: '', catalog: known.catalog, capabilities: {}, era: { kind: 'modern' } } } }));
    expect(new CatalogCache(broken, recordingLog()).get('x', 'k')).toBeUndefined();
  });
});
